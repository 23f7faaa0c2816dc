// The controller: one per widget model, however many views show it
// (index.ts keeps them).  It holds the step store, talks to the kernel and runs
// the play timer; the views only draw what it holds.  JS never recomputes the
// model: a position whose step is missing asks the kernel (by writing t) and is
// drawn when the step arrives.

import {
  decodeArray,
  decodeSteps,
  MAX_SPEED,
  MIN_SPEED,
  STEP_DATA_LIMIT,
  unpackSnapshot,
  type BufferLike,
  type FrontEndMessage,
  type KernelMessage,
  type Model,
  type Shading,
  type StepData,
  type StepLimits,
} from "./protocol";
import { StepStore } from "./store";

export type Connection = "ok" | "waiting" | "disconnected";

const WAITING_MS = 1500;
/** How often a Play beat that waits for its step looks again. */
const PLAY_POLL_MS = 5;
const DISCONNECTED_MS = 15000;
const SAVED_ONLY = "this step is not in the saved notebook: run its cells to compute more";

/** What a reader without a kernel is told when the position is past the saved steps. */
export function savedOnlyMessage(saved: number, computed: number): string {
  if (computed <= saved) return SAVED_ONLY;
  return (
    `the saved notebook holds positions 0 … ${saved} of the ${computed} steps computed ` +
    `(a saved widget keeps at most ${STEP_DATA_LIMIT / 1e6} MB of steps): run its cells to see more`
  );
}

/** What an exported page says when it holds fewer than T steps ("" when it holds all). */
export function exportedMessage(saved: number, computed: number, T: number): string {
  if (saved >= T) return "";
  const held = `this page holds positions 0 … ${saved} of ${T}`;
  if (computed > saved) return `${held}: an export keeps at most ${STEP_DATA_LIMIT / 1e6} MB of steps`;
  if (saved === 0) return `${held}: no step was computed when it was exported`;
  return `${held}: only ${saved} steps were computed when it was exported`;
}

export interface ControllerOptions {
  /** An exported page (standalone.ts): no kernel will ever answer, so nothing is
   * sent, no wait is reported, and the position stays within the saved steps. */
  standalone?: boolean;
}

/** One per model: the store, the conversation with the kernel and the play timer. */
export class Controller {
  readonly store = new StepStore();
  /** How many steps the saved state holds, of how many the kernel had computed. */
  private saved = { steps: 0, computed: 0 };
  connection: Connection = "ok";
  message = "";
  messageIsError = false;
  private waitingSince: number | null = null;
  /** Whether a kernel has answered this widget yet: a saved notebook opened
   * without running it has only its snapshot, and no kernel will answer. */
  kernelReplied = false;
  /** ‖∂h_k/∂x_i‖ (i = 1 … k) by position k, for data version sensitivityVersion. */
  private sensitivities = new Map<number, Float32Array>();
  private sensitivityAsked = new Set<number>();
  private sensitivityVersion = -1;
  private timer: ReturnType<typeof setInterval> | null = null;
  private playTimer: ReturnType<typeof setTimeout> | null = null;
  private listeners = new Set<() => void>();
  private cleanups: (() => void)[] = [];

  /** Whether this controller draws an exported page, with no kernel behind it. */
  readonly standalone: boolean;

  constructor(readonly model: Model, options: ControllerOptions = {}) {
    this.standalone = options.standalone === true;
    const on = (event: string, fn: (...args: any[]) => void) => {
      model.on(event, fn);
      this.cleanups.push(() => model.off(event, fn));
    };
    on("msg:custom", (msg: unknown, buffers: BufferLike[]) => this.onMessage(msg, buffers ?? []));
    on("change:version", () => {
      const v = model.get("version");
      if (v > this.store.version) this.store.reset(v);
      this.heard();
    });
    on("change:_snapshot", () => this.hydrate());
    on("change:frontier", () => this.heard());
    on("change:t", () => this.watchT());
    on("change:playing", () => this.syncPlay());
    on("change:speed", () => this.retime());
    on("change:shading", () => this.emit());
    this.store.reset(model.get("version") ?? 0);
    this.hydrate();
    this.store.onChange(() => this.emit());
    if (this.standalone) {
      // the page says for good where its steps end: nothing will bring more
      if (!this.messageIsError) this.setMessage(exportedMessage(this.saved.steps, this.saved.computed, this.T), false);
    } else {
      this.requestSync();
      this.timer = setInterval(() => this.checkConnection(), 500);
    }
    this.syncPlay();
  }

  dispose(): void {
    this.cleanups.forEach((f) => f());
    if (this.timer) clearInterval(this.timer);
    if (this.playTimer) clearTimeout(this.playTimer);
  }

  get T(): number {
    return this.model.get("T") ?? 0;
  }

  get k(): number {
    return this.model.get("t") ?? 0;
  }

  /** The furthest position that can be shown: T, or on an exported page the end of
   * its saved steps (a kernel computes what is missing; a page has only what it holds). */
  get last(): number {
    return this.standalone ? Math.min(this.T, this.store.contiguous()) : this.T;
  }

  /** What to say where the saved state ends and no kernel answers. */
  get savedOnly(): string {
    return savedOnlyMessage(this.saved.steps, this.saved.computed);
  }

  /** What a step of this widget can be; anything else from the wire is refused. */
  private get limits(): StepLimits {
    return { T: this.T, H: this.model.get("hidden_size") ?? 0 };
  }

  /** The step shown at position k (step k-1), if it is here. */
  current(k = this.k): StepData | undefined {
    return k > 0 ? this.store.get(k - 1) : undefined;
  }

  /** Load the steps stored in the saved widget state (a reader without a kernel sees them). */
  hydrate(): void {
    try {
      const snap = unpackSnapshot(this.model.get("_snapshot"), this.limits);
      if (snap && snap.version >= this.store.version) {
        this.store.accept(snap.version, snap.steps);
        this.saved = { steps: snap.steps.length, computed: snap.computed };
      }
    } catch (error) {
      this.setMessage(`could not read the saved state: ${(error as Error).message}`, true);
    }
  }

  /** Move to position k (clamped to 0 … last).  The kernel computes what is missing. */
  goto(k: number): void {
    const target = Math.max(0, Math.min(this.last, Math.round(k)));
    if (target === this.k) return;
    this.model.set("t", target);
    this.save();
    this.emit();
  }

  step(): void {
    this.goto(this.k + 1);
  }

  back(): void {
    this.goto(this.k - 1);
  }

  reset(): void {
    this.model.set("playing", false);
    this.goto(0);
    this.save();
  }

  togglePlay(): void {
    const playing = !this.model.get("playing");
    if (playing && this.k >= this.last) this.model.set("t", 0);
    this.model.set("playing", playing);
    this.save();
    this.emit();
  }

  setShading(mode: Shading): void {
    this.model.set("shading", mode);
    this.save();
    this.emit();
  }

  /** ‖∂h_k/∂x_i‖ for i = 1 … k if it is here; otherwise asks the kernel (once) and
   * returns null.  Every number comes from the kernel: the browser computes none. */
  sensitivityAt(k: number): Float32Array | null {
    if (this.sensitivityVersion !== this.store.version) {
      this.sensitivities.clear();
      this.sensitivityAsked.clear();
      this.sensitivityVersion = this.store.version;
    }
    const have = this.sensitivities.get(k);
    if (have) return have;
    if (!this.sensitivityAsked.has(k)) {
      this.sensitivityAsked.add(k);
      this.send({ type: "sensitivity", version: this.store.version, k });
    }
    return null;
  }

  setSpeed(speed: number): void {
    this.model.set("speed", speed);
    this.save();
  }

  /** A what-if: x_i becomes `token`'s embedding (a word of `vocabulary`), or
   * zero with `token` null.  The kernel recomputes from step i-1 and sends a
   * new data version; nothing changes here until it does. */
  edit(i: number, token: string | null, version = this.store.version): void {
    this.send({ type: "edit", version, i, token });
  }

  /** Take back the last edit (the kernel keeps the history). */
  undo(): void {
    this.send({ type: "undo", version: this.store.version });
  }

  /** Read a new sentence with the model's own tokenizer (a text model's widget). */
  readText(text: string): void {
    this.send({ type: "text", text });
  }

  requestSync(): void {
    if (this.standalone) return;
    this.send({ type: "sync", version: this.store.version, have: this.store.contiguous() });
    this.waitingSince ??= Date.now();
  }

  /** The last position a view drew; Play moves on only from a drawn one. */
  private drawnK = -1;

  /** A view drew position k (View.render). */
  drew(k: number): void {
    this.drawnK = k;
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  private save(): void {
    try {
      this.model.save_changes();
    } catch (error) {
      this.disconnected(error);
    }
  }

  private send(content: FrontEndMessage): void {
    if (this.standalone) return;
    try {
      this.model.send(content);
    } catch (error) {
      this.disconnected(error);
    }
  }

  private disconnected(error: unknown): void {
    this.connection = "disconnected";
    this.setMessage(`disconnected from the kernel (${(error as Error)?.message ?? error})`, true);
  }

  private setMessage(text: string, isError: boolean): void {
    this.message = text;
    this.messageIsError = isError;
    this.emit();
  }

  /** Anything from the kernel proves it is alive. */
  private heard(): void {
    this.kernelReplied = true;
    this.waitingSince = null;
    if (this.connection !== "ok") {
      this.connection = "ok";
      if (!this.messageIsError || this.message.startsWith("disconnected")) this.setMessage("", false);
    }
    this.emit();
  }

  private watchT(): void {
    const k = this.k;
    if (k > 0 && !this.store.has(k - 1)) this.waitingSince ??= Date.now();
    this.emit();
  }

  private checkConnection(): void {
    const k = this.k;
    if (k > 0 && this.store.has(k - 1) && this.waitingSince !== null && this.connection === "ok") {
      this.waitingSince = null;
    }
    if (this.waitingSince === null) return;
    const waited = Date.now() - this.waitingSince;
    const next: Connection = waited > DISCONNECTED_MS ? "disconnected" : waited > WAITING_MS ? "waiting" : this.connection;
    if (next !== this.connection) {
      this.connection = next;
      if (next === "disconnected" && !this.kernelReplied) this.setMessage(this.savedOnly, false);
      else if (next === "disconnected") this.setMessage("disconnected: no reply from the kernel (restart it and re-run the cell)", true);
      else this.emit();
    }
  }

  private onMessage(raw: unknown, buffers: BufferLike[]): void {
    this.heard();
    try {
      if (!raw || typeof raw !== "object") throw new TypeError("message is not an object");
      const msg = raw as KernelMessage; // each branch checks what it reads
      if (msg.type === "steps") {
        const steps = decodeSteps(msg.steps, buffers, this.limits);
        this.store.accept(msg.version, steps);
        if (this.messageIsError && msg.reason !== "step") this.setMessage("", false);
      } else if (msg.type === "sensitivity") {
        if (msg.version === this.store.version && msg.version === this.sensitivityVersion) {
          const values = msg.values ? decodeArray(msg.values, buffers) : new Float32Array(0);
          this.sensitivities.set(Number(msg.k), values);
          this.emit();
        }
      } else if (msg.type === "error") {
        this.setMessage(`kernel: ${String(msg.message)}`, true);
      } else if (msg.type !== "pong") {
        throw new TypeError(`unknown message type ${JSON.stringify((raw as { type?: unknown }).type)}`);
      }
    } catch (error) {
      this.setMessage(`bad message from the kernel: ${(error as Error).message}`, true);
    }
  }

  // Playing advances one position per beat of 1000/speed ms, but only once
  // the step on screen has arrived, so the animation never runs ahead of the
  // kernel.  The beats keep time (they do not drift by the time each draw
  // takes); a beat that had to wait for a step restarts the count from then,
  // so Play never bursts to catch up.
  private playDue = 0; // when the next beat is due (Date.now() ms)
  private lastBeat = -Infinity; // when the last beat moved the position

  private syncPlay(): void {
    if (this.playTimer) clearTimeout(this.playTimer);
    this.playTimer = null;
    if (!this.model.get("playing")) {
      this.emit();
      return;
    }
    this.playDue = Date.now();
    this.lastBeat = -Infinity;
    this.playTimer = setTimeout(this.beat, 0);
    this.emit();
  }

  private readonly beat = (): void => {
    this.playTimer = null;
    if (!this.model.get("playing")) return;
    const k = this.k;
    if (k >= this.last) {
      this.model.set("playing", false);
      this.save();
      this.emit();
      return;
    }
    if (k > 0 && !this.store.has(k - 1)) {
      this.playTimer = setTimeout(this.beat, PLAY_POLL_MS); // the step on screen is still coming
      return;
    }
    if (this.listeners.size > 0 && this.drawnK !== k) {
      // No view has drawn this position yet: at a speed near the frame rate two
      // beats could fall in one frame, and a position would never be seen.
      this.playTimer = setTimeout(this.beat, PLAY_POLL_MS);
      return;
    }
    const interval = 1000 / clampSpeed(this.model.get("speed"));
    const now = Date.now();
    this.lastBeat = now;
    // A beat up to one interval late (a busy frame) keeps the count, so the
    // rate holds; later than that (it waited for a step), a new count starts.
    if (now - this.playDue > interval) this.playDue = now;
    this.goto(k + 1);
    this.playDue += interval;
    // at least half a beat apart, so every position gets a frame of its own
    this.playTimer = setTimeout(this.beat, Math.max(interval / 2, this.playDue - Date.now()));
  };

  /** A new speed while playing: the next beat comes one new interval after
   * the last, never at once (a speed menu fires a change per arrow key). */
  private retime(): void {
    if (!this.model.get("playing") || !this.playTimer) {
      this.emit();
      return;
    }
    clearTimeout(this.playTimer);
    const interval = 1000 / clampSpeed(this.model.get("speed"));
    const now = Date.now();
    this.playDue = Math.max(now, this.lastBeat + interval);
    this.playTimer = setTimeout(this.beat, this.playDue - now);
    this.emit();
  }
}

/** Play's speed in steps per second, within the shared bounds (4 if unreadable). */
function clampSpeed(speed: unknown): number {
  return Math.max(MIN_SPEED, Math.min(MAX_SPEED, Number(speed) || 4));
}
