// Steps the kernel sent, by step index, for one data version.  Position k
// shows step k-1.  Adding a step twice is harmless; data of an older version
// is dropped, and a newer version replaces everything.
//
// A draw must cost what changed, not what is held: the counts are kept as
// steps arrive, and `arrived` lists the steps in order of arrival, so a view
// that has drawn the first n of them adds only the rest.

import type { StepData } from "./protocol";

export class StepStore {
  version = -1;
  private steps: (StepData | undefined)[] = [];
  private held = 0;
  private prefix = 0; // steps 0 … prefix-1 are all here
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
      if (!this.steps[s.t]) {
        added++;
        this.arrived.push(s.t);
      }
      this.steps[s.t] = s;
    }
    this.held += added;
    while (this.steps[this.prefix]) this.prefix++;
    this.emit();
    return added;
  }

  has(s: number): boolean {
    return s >= 0 && this.steps[s] !== undefined;
  }

  get(s: number): StepData | undefined {
    return s >= 0 ? this.steps[s] : undefined;
  }

  /** n such that steps 0 … n-1 are all here. */
  contiguous(): number {
    return this.prefix;
  }

  /** How many steps are held. */
  get size(): number {
    return this.held;
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private clear(): void {
    this.steps = [];
    this.held = 0;
    this.prefix = 0;
    this.arrived.length = 0;
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }
}
