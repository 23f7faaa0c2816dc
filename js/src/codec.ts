// Typed arrays from the kernel's binary payloads.
//
// The kernel describes each array as {buffer, dtype, shape, offset}: which
// buffer of the message, its element type, its shape and its byte offset in
// that buffer.  Buffers arrive as DataViews whose byteOffset need not be a
// multiple of 4, so a misaligned view is read element by element.

export interface ArrayDesc {
  buffer: number;
  dtype: string;
  shape: number[];
  offset?: number;
}

/** One step s: it consumed x_{s+1} and produced h_{s+1} (docs/design.md §1). */
export interface StepData {
  t: number;
  scores: Float32Array | null;
  alpha: Float32Array | null;
  c: Float32Array | null;
  z: Float32Array;
  pre: Float32Array;
  h: Float32Array;
}

export const STEP_FIELDS = ["scores", "alpha", "c", "z", "pre", "h"] as const;

export type BufferLike = DataView | ArrayBuffer | ArrayBufferView;

export function asDataView(b: BufferLike): DataView {
  if (b instanceof DataView) return b;
  if (b instanceof ArrayBuffer) return new DataView(b);
  if (ArrayBuffer.isView(b)) return new DataView(b.buffer, b.byteOffset, b.byteLength);
  throw new TypeError(`expected a binary buffer, got ${Object.prototype.toString.call(b)}`);
}

export function decodeArray(desc: ArrayDesc, buffers: BufferLike[]): Float32Array {
  if (!desc || typeof desc !== "object") throw new TypeError("array descriptor must be an object");
  if (desc.dtype !== "float32") throw new TypeError(`unsupported dtype ${String(desc.dtype)}`);
  const buf = buffers[desc.buffer];
  if (buf === undefined) throw new RangeError(`no buffer ${desc.buffer}`);
  const view = asDataView(buf);
  const n = desc.shape.reduce((a, b) => a * b, 1);
  const offset = desc.offset ?? 0;
  if (offset < 0 || offset + 4 * n > view.byteLength) {
    throw new RangeError(`array of ${n} float32 at byte ${offset} overruns a ${view.byteLength}-byte buffer`);
  }
  const start = view.byteOffset + offset;
  if (start % 4 === 0) return new Float32Array(view.buffer, start, n).slice();
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(offset + 4 * i, true);
  return out;
}

/** What a step of this widget can be: t in 0 … T-1, and h, pre and c of size H. */
export interface StepLimits {
  T: number;
  H: number;
}

/**
 * Decode step descriptors.  With `limits`, a step that cannot belong to this
 * widget (t out of range, α not of length t+1, a state not of size H) is
 * refused, so a forged message can neither grow the store nor slow each draw.
 */
export function decodeSteps(descs: unknown, buffers: BufferLike[], limits?: StepLimits): StepData[] {
  if (!Array.isArray(descs)) throw new TypeError("steps must be an array");
  return descs.map((d: any) => {
    if (!d || !Number.isInteger(d.t) || d.t < 0) throw new TypeError("each step needs an integer t ≥ 0");
    if (limits && d.t >= limits.T) throw new RangeError(`step ${d.t} is past the last step T-1 = ${limits.T - 1}`);
    const step: any = { t: d.t };
    for (const name of STEP_FIELDS) step[name] = d[name] ? decodeArray(d[name], buffers) : null;
    if (!step.h || !step.z || !step.pre) throw new TypeError(`step ${d.t} lacks h, z or pre`);
    for (const name of ["scores", "alpha"] as const) {
      if (step[name] && step[name].length !== d.t + 1) {
        throw new RangeError(`step ${d.t}: ${name} has ${step[name].length} entries, not t+1 = ${d.t + 1}`);
      }
    }
    if (limits && limits.H > 0) {
      for (const name of ["h", "pre", "c"] as const) {
        if (step[name] && step[name].length !== limits.H) {
          throw new RangeError(`step ${d.t}: ${name} has ${step[name].length} entries, not H = ${limits.H}`);
        }
      }
    }
    return step as StepData;
  });
}

const MAGIC = "ATW1";

/** The `_snapshot` trait: "ATW1", uint32 header length, JSON header, pad to 4, float32 data. */
export function unpackSnapshot(
  blob: BufferLike | null | undefined,
  limits?: StepLimits,
): { version: number; steps: StepData[]; computed: number } | null {
  if (!blob) return null;
  const view = asDataView(blob);
  if (view.byteLength < 8) return null;
  const magic = String.fromCharCode(...[0, 1, 2, 3].map((i) => view.getUint8(i)));
  if (magic !== MAGIC) throw new TypeError(`not an attn_widget snapshot (starts with ${JSON.stringify(magic)})`);
  const n = view.getUint32(4, true);
  const headerBytes = new Uint8Array(view.buffer, view.byteOffset + 8, n);
  const header = JSON.parse(new TextDecoder().decode(headerBytes));
  let start = 8 + n;
  start += (4 - (start % 4)) % 4;
  const data = new DataView(view.buffer, view.byteOffset + start, view.byteLength - start);
  const steps = decodeSteps(header.steps, [data], limits);
  const computed = Number.isInteger(header.computed) ? header.computed : steps.length;
  return { version: header.version, steps, computed };
}
