// Build kernel-shaped payloads in the tests, the way widget.py packs them.
import type { ArrayDesc } from "../src/protocol";

export interface RawStep {
  t: number;
  scores: number[] | null;
  alpha: number[] | null;
  c: number[] | null;
  z: number[] | null;
  pre: number[] | null;
  h: number[];
  h_tilde?: number[] | null;
  m_tilde?: number[] | null;
  i?: number[] | null;
  f?: number[] | null;
  o?: number[] | null;
  c_hat?: number[] | null;
  m?: number[] | null;
  pred_p?: number[] | null;
  pred_i?: number[] | null;
}

const FIELDS = ["scores", "alpha", "c", "z", "pre", "h", "h_tilde", "m_tilde", "i", "f", "o", "c_hat", "m", "pred_p", "pred_i"] as const;

/** Descriptors and one little-endian float32 buffer, like encode_steps. */
export function encode(steps: RawStep[], lead = 0): { descs: any[]; buffer: DataView } {
  const floats: number[] = [];
  const descs = steps.map((s) => {
    const d: Record<string, ArrayDesc | null | number> = { t: s.t };
    for (const name of FIELDS) {
      const v = s[name] ?? null;
      if (v === null) {
        d[name] = null;
        continue;
      }
      d[name] = { buffer: 0, dtype: "float32", shape: [v.length], offset: lead + 4 * floats.length };
      floats.push(...v);
    }
    return d;
  });
  const bytes = new ArrayBuffer(lead + 4 * floats.length);
  const view = new DataView(bytes);
  floats.forEach((f, i) => view.setFloat32(lead + 4 * i, f, true));
  return { descs, buffer: view };
}

export function rawStep(t: number, H = 3): RawStep {
  const alpha = Array.from({ length: t + 1 }, (_, i) => (i + 1) / (((t + 1) * (t + 2)) / 2));
  return {
    t,
    scores: alpha.map((a) => Math.log(a)),
    alpha,
    c: Array.from({ length: H }, (_, i) => 0.1 * (i + t)),
    z: Array.from({ length: 2 * H + 2 }, (_, i) => i - H),
    pre: Array.from({ length: H }, (_, i) => -0.5 + i),
    h: Array.from({ length: H }, (_, i) => Math.tanh(-0.5 + i + t)),
  };
}

/** An LSTMN step: scores, α, h̃, m̃, the gates, ĉ, m and h; no c, z or pre. */
export function rawLstmnStep(t: number, H = 3): RawStep {
  const base = rawStep(t, H);
  const vec = (f: (i: number) => number) => Array.from({ length: H }, (_, i) => f(i));
  return {
    ...base,
    c: null,
    z: null,
    pre: null,
    h_tilde: vec((i) => 0.2 * i - 0.1 * t),
    m_tilde: vec((i) => 0.5 * i + t),
    i: vec((i) => 0.1 + 0.2 * i),
    f: vec((i) => 0.9 - 0.2 * i),
    o: vec(() => 0.5),
    c_hat: vec((i) => Math.tanh(i - 1)),
    m: vec((i) => 1.5 * i - t),
  };
}

/** The snapshot trait: ATW1, uint32 header length, JSON header, pad to 4, data. */
export function snapshot(version: number, steps: RawStep[], computed?: number): DataView {
  const { descs, buffer } = encode(steps);
  const header = new TextEncoder().encode(JSON.stringify({ version, steps: descs, computed }));
  let start = 8 + header.length;
  start += (4 - (start % 4)) % 4;
  const out = new Uint8Array(start + buffer.byteLength);
  out.set([65, 84, 87, 49]);
  new DataView(out.buffer).setUint32(4, header.length, true);
  out.set(header, 8);
  out.fill(32, 8 + header.length, start);
  out.set(new Uint8Array(buffer.buffer), start);
  return new DataView(out.buffer);
}

/** A stand-in for anywidget's model: traits, events, and a log of what was sent. */
export class FakeModel {
  state: Record<string, any>;
  sent: any[] = [];
  saves = 0;
  failSend = false;
  private handlers = new Map<string, Set<(...a: any[]) => void>>();

  constructor(state: Record<string, any>) {
    this.state = { ...state };
  }
  get(name: string) {
    return this.state[name];
  }
  set(name: string, value: any) {
    const old = this.state[name];
    this.state[name] = value;
    if (old !== value) this.fire(`change:${name}`);
  }
  /** t at each save_changes: what the kernel heard of the position. */
  savedT: number[] = [];
  save_changes() {
    this.saves++;
    this.savedT.push(this.state.t);
  }
  on(event: string, fn: (...a: any[]) => void) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event)!.add(fn);
  }
  off(event?: string | null, fn?: ((...a: any[]) => void) | null) {
    if (event && fn) this.handlers.get(event)?.delete(fn);
  }
  send(content: any) {
    if (this.failSend) throw new Error("Comm is closed");
    this.sent.push(content);
  }
  fire(event: string, ...args: any[]) {
    for (const fn of this.handlers.get(event) ?? []) fn(...args);
  }
  /** Deliver a custom message from the "kernel". */
  receive(content: any, buffers: DataView[] = []) {
    this.fire("msg:custom", content, buffers);
  }
}
