// Steps the kernel sent, by step index, for one data version.  Position k
// shows step k-1.  Adding a step twice is harmless; data of an older version
// is dropped, and a newer version replaces everything.
//
// A draw must cost what changed, not what is held: the counts are kept as
// steps arrive, and `arrived` lists the steps in order of arrival, so a view
// that has drawn the first n of them adds only the rest.
//
// Memory is bounded: the store keeps only what a view can show (a step's
// scores are never drawn, so they are not kept), counts the bytes it holds,
// and `trim` drops the steps farthest from the position once they pass a
// budget.  A dropped step is remembered as such, so the controller can ask the
// kernel for it again (budget.ts); a step that never came is not "dropped".

import type { StepData } from "./protocol";

/** The bytes of a step's arrays. */
export function bytesOf(step: StepData): number {
  let n = 0;
  for (const value of Object.values(step)) if (value instanceof Float32Array) n += value.byteLength;
  return n;
}

export class StepStore {
  version = -1;
  private steps: (StepData | undefined)[] = [];
  private held = 0;
  private heldBytes = 0;
  private prefix = 0; // steps 0 … prefix-1 are all here
  private droppedSteps = new Set<number>();
  private vectorBytes = 0; // a step's bytes besides its α row, as last seen
  /** Step indices in the order they arrived, for this version. */
  readonly arrived: number[] = [];
  private listeners = new Set<() => void>();

  /** Forget everything and expect data of `version`. */
  reset(version: number): void {
    this.version = version;
    this.clear();
    this.emit();
  }

  /** Add steps of `version`; returns how many were new (0 for stale data). */
  accept(version: number, steps: StepData[]): number {
    if (version < this.version) return 0;
    if (version > this.version) {
      this.version = version;
      this.clear();
    }
    let added = 0;
    for (const s of steps) {
      s.scores = null; // the scores before the softmax: no view draws them
      const before = this.steps[s.t];
      if (before) this.heldBytes -= bytesOf(before);
      else {
        added++;
        this.arrived.push(s.t);
        this.droppedSteps.delete(s.t);
      }
      this.steps[s.t] = s;
      const bytes = bytesOf(s);
      this.heldBytes += bytes;
      this.vectorBytes = bytes - (s.alpha?.byteLength ?? 0);
    }
    this.held += added;
    while (this.steps[this.prefix]) this.prefix++;
    this.emit();
    return added;
  }

  /**
   * Drop the steps farthest from step `focus` until at most `to` bytes are
   * held, if more than `limit` are (`to` below `limit`, so a trim frees room
   * for several messages, not one).  A step after the focus counts `ahead`
   * times its distance: with 2, twice as many steps are kept behind the
   * position as ahead of it.  Returns how many steps were dropped.
   */
  trim(focus: number, limit: number, to = limit, ahead = 1): number {
    if (this.heldBytes <= limit) return 0;
    const order: number[] = [];
    for (let s = 0; s < this.steps.length; s++) if (this.steps[s]) order.push(s);
    const far = (s: number) => (s > focus ? ahead * (s - focus) : focus - s);
    order.sort((a, b) => far(b) - far(a));
    let dropped = 0;
    for (const s of order) {
      if (this.heldBytes <= to) break;
      this.heldBytes -= bytesOf(this.steps[s]!);
      this.steps[s] = undefined;
      this.droppedSteps.add(s);
      this.held--;
      dropped++;
      if (s < this.prefix) this.prefix = s;
    }
    if (dropped > 0) this.emit();
    return dropped;
  }

  /** Mark the steps in [from, to) that are not here as dropped: the kernel was
   * told they are here, so it sends them only when asked again. */
  forgo(from: number, to: number): void {
    for (let s = Math.max(from, this.prefix); s < to; s++) if (!this.steps[s]) this.droppedSteps.add(s);
  }

  has(s: number): boolean {
    return s >= 0 && this.steps[s] !== undefined;
  }

  get(s: number): StepData | undefined {
    return s >= 0 ? this.steps[s] : undefined;
  }

  /** Whether step s was dropped by `trim`, or forgone (so it must be asked for again). */
  dropped(s: number): boolean {
    return this.droppedSteps.has(s);
  }

  /** Whether any step was dropped (and not received again). */
  get anyDropped(): boolean {
    return this.droppedSteps.size > 0;
  }

  /** What step t costs held, in bytes, by the steps seen so far: its α row and its vectors. */
  stepBytes(t: number): number {
    return 4 * (t + 1) + this.vectorBytes;
  }

  /** n such that steps 0 … n-1 are all here. */
  contiguous(): number {
    return this.prefix;
  }

  /** How many steps are held. */
  get size(): number {
    return this.held;
  }

  /** How many bytes the held steps' arrays take. */
  get bytes(): number {
    return this.heldBytes;
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private clear(): void {
    this.steps = [];
    this.held = 0;
    this.heldBytes = 0;
    this.prefix = 0;
    this.droppedSteps.clear();
    this.arrived.length = 0;
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }
}
