// The connection watchdog: how long the widget has waited for the kernel, and
// what that means ("ok", "waiting" after WAITING_MS, "disconnected" after
// DISCONNECTED_MS).  Anything from the kernel proves it is alive.

export type Connection = "ok" | "waiting" | "disconnected";

const WAITING_MS = 1500;
const DISCONNECTED_MS = 15000;
/** How often the watchdog looks. */
export const CHECK_MS = 500;

export class ConnectionWatch {
  state: Connection = "ok";
  /** Whether a kernel has answered this widget yet: a saved notebook opened
   * without running it has only its snapshot, and no kernel will answer. */
  kernelReplied = false;
  private waitingSince: number | null = null;

  /** Something was asked of the kernel: start the clock, unless it already runs. */
  expect(): void {
    this.waitingSince ??= Date.now();
  }

  /** The kernel spoke.  Returns true if the state was not "ok" before. */
  heard(): boolean {
    this.kernelReplied = true;
    this.waitingSince = null;
    if (this.state === "ok") return false;
    this.state = "ok";
    return true;
  }

  /** Look at the clock; `answered` says the position's step has arrived.
   * Returns the new state if it changed, else null. */
  check(answered: boolean): Connection | null {
    if (answered && this.waitingSince !== null && this.state === "ok") this.waitingSince = null;
    if (this.waitingSince === null) return null;
    const waited = Date.now() - this.waitingSince;
    const next: Connection = waited > DISCONNECTED_MS ? "disconnected" : waited > WAITING_MS ? "waiting" : this.state;
    if (next === this.state) return null;
    this.state = next;
    return next;
  }
}
