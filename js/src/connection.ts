// The connection watchdog: how long the widget has waited for the kernel, and
// what that means.  Anything from the kernel proves it is alive.
//
// - "ok": nothing asked is overdue.
// - "waiting": something asked (a step, a ping) has had no answer for WAITING_MS.
// - "silent": no answer for SILENT_MS.  A kernel running a long cell answers
//   nothing until the cell ends (its comm messages wait), exactly as a kernel
//   that is gone does, so silence alone never says "gone": it says "busy, or gone".
// - "gone": positive evidence that this widget's kernel is gone: ipywidgets
//   marked the model's comm dead (its manager does so when the kernel
//   restarts), the kernel's status said dead or restarting, or a send threw
//   (JupyterLab disposes a kernel's comms when it restarts or shuts down).
//   Only a message from the kernel takes it back.
//
// The heartbeat: a widget whose kernel has answered before, shown on a visible
// page, idle (not playing, nothing asked) and quiet for PING_MS, pings the
// kernel; the pong (or silence) keeps the state honest when nothing else is asked.

export type Connection = "ok" | "waiting" | "silent" | "gone";

const WAITING_MS = 1500;
export const SILENT_MS = 15000;
/** How often the watchdog looks. */
export const CHECK_MS = 500;
/** How long an idle, visible widget stays quiet before it pings the kernel. */
export const PING_MS = 10000;

export class ConnectionWatch {
  state: Connection = "ok";
  /** Whether a kernel has answered this widget yet: a saved notebook opened
   * without running it has only its snapshot, and no kernel will answer. */
  kernelReplied = false;
  /** Why the kernel is known to be gone (when state is "gone"). */
  goneBecause = "";
  private waitingSince: number | null = null; // a step or a request
  private pingSince: number | null = null; // a ping not answered yet
  /** When the kernel last spoke, or a ping last went (Date.now() ms). */
  private lastContact = Date.now();

  /** Something was asked of the kernel: start the clock, unless it already runs. */
  expect(): void {
    if (this.state === "gone") return;
    this.waitingSince ??= Date.now();
  }

  /** Whether nothing asked is waiting for an answer. */
  get idle(): boolean {
    return this.waitingSince === null && this.pingSince === null;
  }

  /** The kernel spoke.  Returns true if the state was not "ok" before. */
  heard(): boolean {
    this.kernelReplied = true;
    this.waitingSince = this.pingSince = null;
    this.lastContact = Date.now();
    if (this.state === "ok") return false;
    this.state = "ok";
    this.goneBecause = "";
    return true;
  }

  /** The kernel is known to be gone.  Returns true if it was not known before. */
  gone(because: string): boolean {
    this.waitingSince = this.pingSince = null;
    if (this.state === "gone") return false;
    this.state = "gone";
    this.goneBecause = because;
    return true;
  }

  /** Whether a heartbeat is due: idle, quiet for PING_MS, and a kernel that answered before. */
  pingDue(): boolean {
    return this.kernelReplied && this.state !== "gone" && this.idle && Date.now() - this.lastContact >= PING_MS;
  }

  /** A ping went: the kernel should answer it. */
  pinged(): void {
    this.lastContact = Date.now();
    if (this.state !== "gone") this.pingSince ??= this.lastContact;
  }

  /** Look at the clock; `answered` says the position's step has arrived.
   * Returns the new state if it changed, else null. */
  check(answered: boolean): Connection | null {
    if (this.state === "gone") return null;
    if (answered && this.waitingSince !== null && this.state === "ok") this.waitingSince = null;
    const since = Math.min(this.waitingSince ?? Infinity, this.pingSince ?? Infinity);
    if (since === Infinity) return null;
    const waited = Date.now() - since;
    const next: Connection = waited > SILENT_MS ? "silent" : waited > WAITING_MS ? "waiting" : this.state;
    if (next === this.state) return null;
    this.state = next;
    return next;
  }
}
