// The contract with the kernel, mirroring attn_widget/protocol.py name for
// name: the shared constants, the messages each side sends, the synced traits,
// the binary step codec and the snapshot format.  tests/test_protocol.py checks
// that every constant here has the value Python gives it.
//
// The kernel describes each array as {buffer, dtype, shape, offset}: which
// buffer of the message, its element type, its shape and its byte offset in
// that buffer.  Buffers arrive as DataViews whose byteOffset need not be a
// multiple of 4, so a misaligned view is read element by element.

import type { AnyModel } from "@anywidget/types";

// -- shared constants (values checked against protocol.py) --------------------

/** Message types the kernel sends, and those it answers. */
export const KERNEL_MESSAGES = ["steps", "sensitivity", "error", "pong"] as const;
export const FRONT_END_MESSAGES = ["sync", "sensitivity", "ping", "edit", "undo", "text", "knockout"] as const;
/** Why a "steps" message was sent. */
export const STEP_REASONS = ["step", "sync", "ahead", "reset", "trace"] as const;
/** The per-step arrays, in wire order: a SelfAttentionRNN step has scores, α, c, z,
 * pre and h; an LSTMN step scores, α, h̃, m̃, i, f, o, ĉ, m and h; the rest are null. */
export const STEP_FIELDS = ["scores", "alpha", "c", "z", "pre", "h", "h_tilde", "m_tilde", "i", "f", "o", "c_hat", "m", "pred_p", "pred_i"] as const;
/** With an output head, each step carries the head's top-k prediction from its h:
 * pred_p (probabilities, largest first) and pred_i (class indices); k at most this. */
export const MAX_TOP_K = 20;
/** The traits the front end may write; every other synced trait is the kernel's. */
export const FRONT_END_TRAITS = ["t", "speed", "playing", "shading"] as const;
/** Play speed bounds, in steps per second. */
export const MIN_SPEED = 0.25;
export const MAX_SPEED = 60;
/** What the tokens can be shaded by: the weights α, or ‖∂h_k/∂x_i‖. */
export const SHADINGS = ["alpha", "gradient"] as const;
/** The token shown for an input a what-if set to the zero vector. */
export const ZERO_INPUT = "⟨0⟩";
/** The longest sentence the text box sends, in characters. */
export const MAX_TEXT_CHARS = 2000;
/** Bytes that open a snapshot (the `_snapshot` trait). */
export const SNAPSHOT_MAGIC = "ATW1";
/** The one bound on step data, in bytes: the snapshot holds the steps from 0 on that fit. */
export const STEP_DATA_LIMIT = 4000000;

export type Shading = (typeof SHADINGS)[number];
export type StepReason = (typeof STEP_REASONS)[number];

// -- the synced traits ------------------------------------------------------------

/** The widget's synced traits (AttentionWidget in widget.py); `t` is the position k. */
export interface Traits {
  t: number;
  T: number;
  tokens: string[];
  update_rule: string;
  align_name: string;
  z_layout: [string, number][];
  hidden_size: number;
  input_size: number;
  frontier: number;
  version: number;
  playing: boolean;
  speed: number;
  shading: Shading;
  status: string;
  _snapshot: DataView | ArrayBuffer | null;
  _widget_id: string;
  prediction_labels: string[];
  title: string;
  show_controls: boolean;
  /** What a what-if may put in place of a token (a text model's vocabulary). */
  vocabulary: string[];
  /** Whether the view may edit inputs (false for a comparison's panels and an export). */
  editable: boolean;
  /** Whether the view offers a text box (a text model's widget). */
  accepts_text: boolean;
  /** The inputs read as <unk>: [i, the word typed]. */
  unknown: [number, string][];
  /** The edits that undo takes back, oldest first: [i, old token, new token]. */
  edits: [number, string, string][];
  /** The slots hidden from attention (0 … T; slot i is h_i), sorted: the steps were computed without them. */
  knockout: number[];
  /** Whether the view may offer to hide slots (a model that attends and takes a mask; a kernel). */
  can_knockout: boolean;
  /** Whether attention may read slot 0 (h_0 = 0): false only for an LSTMN(zero_slot=False), the paper's cell. */
  zero_slot: boolean;
}

/** The widget model as anywidget hands it over. */
export type Model = AnyModel<Traits>;

// -- messages ------------------------------------------------------------------

/** Kernel → front end. */
export type KernelMessage =
  | { type: "steps"; version: number; frontier: number; T: number; reason: StepReason; steps: unknown }
  | { type: "sensitivity"; version: number; k: number; values: ArrayDesc | null }
  | { type: "error"; message: string; request: string | null }
  | { type: "pong" };

/** Front end → kernel. */
export type FrontEndMessage =
  | { type: "sync"; version: number; have: number; k?: number }
  | { type: "sensitivity"; version: number; k: number }
  | { type: "ping" }
  | { type: "edit"; version: number; i: number; token: string | null }
  | { type: "undo"; version: number }
  | { type: "text"; text: string }
  | { type: "knockout"; version: number; slots: number[] };

// The message types above are the shared constants' values, no more and no
// fewer, and the traits the front end writes are traits: tsc fails otherwise.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const KERNEL_TYPES_MATCH: Same<KernelMessage["type"], (typeof KERNEL_MESSAGES)[number]> = true;
export const FRONT_END_TYPES_MATCH: Same<FrontEndMessage["type"], (typeof FRONT_END_MESSAGES)[number]> = true;
export const FRONT_END_TRAITS_EXIST: (typeof FRONT_END_TRAITS)[number] extends keyof Traits ? true : false = true;

// -- the binary step codec ----------------------------------------------------------

export interface ArrayDesc {
  buffer: number;
  dtype: string;
  shape: number[];
  offset?: number;
}

/** One step s: it consumed x_{s+1} and produced h_{s+1} (docs/design.md §1).
 * A SelfAttentionRNN step has z and pre (and c unless eq1); an LSTMN step has
 * h̃, m̃, the gates i, f, o, the candidate ĉ and the memory m. */
export interface StepData {
  t: number;
  scores: Float32Array | null;
  alpha: Float32Array | null;
  c: Float32Array | null;
  z: Float32Array | null;
  pre: Float32Array | null;
  h: Float32Array;
  h_tilde: Float32Array | null;
  m_tilde: Float32Array | null;
  i: Float32Array | null;
  f: Float32Array | null;
  o: Float32Array | null;
  c_hat: Float32Array | null;
  m: Float32Array | null;
  /** What the output head predicts from h: top-k probabilities, largest first, and their classes. */
  pred_p: Float32Array | null;
  pred_i: Float32Array | null;
}

/** The fields of a step that have one entry per hidden unit. */
const STATE_FIELDS = ["h", "pre", "c", "h_tilde", "m_tilde", "i", "f", "o", "c_hat", "m"] as const;

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

/** What a step of this widget can be: t in 0 … T-1, and each state-sized field of size H. */
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
    if (!step.h || !((step.z && step.pre) || step.m)) throw new TypeError(`step ${d.t} lacks h, or both z and pre (or m)`);
    for (const name of ["scores", "alpha"] as const) {
      if (step[name] && step[name].length !== d.t + 1) {
        throw new RangeError(`step ${d.t}: ${name} has ${step[name].length} entries, not t+1 = ${d.t + 1}`);
      }
    }
    if (!step.pred_p !== !step.pred_i || (step.pred_p && (step.pred_p.length !== step.pred_i.length || step.pred_p.length > MAX_TOP_K))) {
      throw new RangeError(`step ${d.t}: a prediction needs pred_p and pred_i of one length ≤ ${MAX_TOP_K}`);
    }
    if (limits && limits.H > 0) {
      for (const name of STATE_FIELDS) {
        if (step[name] && step[name].length !== limits.H) {
          throw new RangeError(`step ${d.t}: ${name} has ${step[name].length} entries, not H = ${limits.H}`);
        }
      }
    }
    return step as StepData;
  });
}

// -- the snapshot format ---------------------------------------------------------

/** The `_snapshot` trait: "ATW1", uint32 header length, JSON header, pad to 4, float32 data. */
export function unpackSnapshot(
  blob: BufferLike | null | undefined,
  limits?: StepLimits,
): { version: number; steps: StepData[]; computed: number } | null {
  if (!blob) return null;
  const view = asDataView(blob);
  if (view.byteLength < 8) return null;
  const magic = String.fromCharCode(...[0, 1, 2, 3].map((i) => view.getUint8(i)));
  if (magic !== SNAPSHOT_MAGIC) throw new TypeError(`not an attn_widget snapshot (starts with ${JSON.stringify(magic)})`);
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
