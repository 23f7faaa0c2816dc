// ‖∂h_k/∂x_i‖ (i = 1 … k) by position k, as the kernel sent it for one data
// version.  Every number comes from the kernel: the browser computes none.
// Position k's values are k floats, so keeping every position of a long Play
// in gradient shading would grow as T²: at most SENSITIVITY_LIMIT bytes are
// kept, the positions farthest from the newest dropped first (and asked for
// again if shown again).

/** The most bytes of sensitivities one widget keeps. */
export const SENSITIVITY_LIMIT = 1_000_000;

export class Sensitivities {
  private values = new Map<number, Float32Array>();
  private asked = new Set<number>();
  private version = -1;
  private bytes = 0;

  /** The values at position k for data `version` if they are here; otherwise
   * `ask(k)` is called (once per position and version) and null returned. */
  at(version: number, k: number, ask: (k: number) => void): Float32Array | null {
    if (this.version !== version) {
      this.values.clear();
      this.asked.clear();
      this.bytes = 0;
      this.version = version;
    }
    const have = this.values.get(k);
    if (have) return have;
    if (!this.asked.has(k)) {
      this.asked.add(k);
      ask(k);
    }
    return null;
  }

  /** The kernel's answer for position k of data `version`; false if stale (dropped). */
  receive(version: number, k: number, values: () => Float32Array): boolean {
    if (version !== this.version) return false;
    const v = values();
    this.bytes += v.byteLength - (this.values.get(k)?.byteLength ?? 0);
    this.values.set(k, v);
    while (this.bytes > SENSITIVITY_LIMIT && this.values.size > 1) {
      let far = k;
      for (const j of this.values.keys()) if (Math.abs(j - k) > Math.abs(far - k)) far = j;
      this.bytes -= this.values.get(far)!.byteLength;
      this.values.delete(far);
      this.asked.delete(far);
    }
    return true;
  }

  /** How many bytes are kept. */
  get size(): number {
    return this.bytes;
  }
}
