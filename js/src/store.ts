// Steps the kernel sent, by step index, for one data version.  Position k
// shows step k-1.  Adding a step twice is harmless; data of an older version
// is dropped, and a newer version replaces everything.

import type { StepData } from "./protocol";

export class StepStore {
  version = -1;
  T = 0;
  private steps: (StepData | undefined)[] = [];
  private listeners = new Set<() => void>();

  /** Forget everything and expect data of `version`. */
  reset(version: number): void {
    this.version = version;
    this.steps = [];
    this.emit();
  }

  /** Add steps of `version`; returns how many were new (0 for stale data). */
  accept(version: number, steps: StepData[]): number {
    if (version < this.version) return 0;
    if (version > this.version) {
      this.version = version;
      this.steps = [];
    }
    let added = 0;
    for (const s of steps) {
      if (!this.steps[s.t]) added++;
      this.steps[s.t] = s;
    }
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
    let n = 0;
    while (this.steps[n]) n++;
    return n;
  }

  /** Every step held, in order of t. */
  all(): StepData[] {
    return this.steps.filter((s): s is StepData => s !== undefined);
  }

  get size(): number {
    return this.all().length;
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }
}
