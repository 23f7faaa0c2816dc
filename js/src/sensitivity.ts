// ‖∂h_k/∂x_i‖ (i = 1 … k) by position k, as the kernel sent it for one data
// version.  Every number comes from the kernel: the browser computes none.

export class Sensitivities {
  private values = new Map<number, Float32Array>();
  private asked = new Set<number>();
  private version = -1;

  /** The values at position k for data `version` if they are here; otherwise
   * `ask(k)` is called (once per position and version) and null returned. */
  at(version: number, k: number, ask: (k: number) => void): Float32Array | null {
    if (this.version !== version) {
      this.values.clear();
      this.asked.clear();
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
    this.values.set(k, values());
    return true;
  }
}
