// The controller: one per widget model, however many views show it
// (index.ts keeps them).  It holds the step store, talks to the kernel, and
// owns the play timer (play.ts), the connection watchdog (connection.ts) and
// the sensitivities asked for (sensitivity.ts); the views only draw what it
// holds.  JS never recomputes the model: a position whose step is missing asks
// the kernel (by writing t) and is drawn when the step arrives.

import { BEHIND_BYTES, Refill, STORE_LIMIT, STORE_TRIM_TO } from "./budget";
import { CHECK_MS, ConnectionWatch, SILENT_MS, type Connection } from "./connection";
import { MatrixLevels } from "./matrix";
import { exportedMessage, savedOnlyMessage } from "./notices";
import { Player } from "./play";
import {
  decodeArray,
  decodeSteps,
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
import { Sensitivities } from "./sensitivity";
import { StepStore } from "./store";

export type { Connection } from "./connection";

/** While playing, the kernel hears the position when one of the next PLAY_LEAD
 * steps is missing (it computes AHEAD_STEPS = 8 past what it hears), and at
 * least every PLAY_SAVE_MS, so Python's `t` follows Play. */
const PLAY_LEAD = 4;
const PLAY_SAVE_MS = 500;
/** How long after steps arrive the store is trimmed to its budget. */
const SETTLE_MS = 100;
/** How many "steps" messages of a version the `version` trait has not reached
 * are held (see Controller.onSteps); past this, the furthest ahead is dropped. */
const MAX_HELD = 4;
/** The kernel statuses that say this widget's kernel is gone (JupyterLab's names). */
const GONE_STATUSES = new Set(["dead", "restarting", "autorestarting"]);

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
  message = "";
  messageIsError = false;
  private readonly watch = new ConnectionWatch();
  private readonly sensitivities = new Sensitivities();
  private readonly player: Player;
  private readonly refill = new Refill();
  private budgetTimer: ReturnType<typeof setTimeout> | null = null;
  /** The α matrix at pixel resolution, every row that arrived (the views paint from it). */
  private readonly rows = new MatrixLevels();
  private rowsFed = 0; // how many of the store's arrivals `rows` holds
  private rowsKey = "";
  private timer: ReturnType<typeof setInterval> | null = null;
  private savedAt = -Infinity; // when the front end's traits last went to the kernel (Date.now() ms)
  private savedT = -1; // the position the kernel last heard from this front end
  private unsavedT: number | null = null; // where Play moved that the kernel has not heard yet
  private writing = false; // t is being written by this controller (not heard from the kernel)
  private listeners = new Set<() => void>();
  private cleanups: (() => void)[] = [];
  /** The knockout asked of the kernel and not yet heard back (null: none), and
   * the data version it was asked for. */
  private pendingKnockout: { slots: number[]; version: number } | null = null;
  /** A knockout asked for while another was on its way: sent once that one is heard. */
  private queuedKnockout: number[] | null = null;
  private hiddenOf: { from: number[] | undefined; set: ReadonlySet<number> } = { from: undefined, set: new Set() };
  /** "steps" messages of a version the synced `version` trait has not reached yet. */
  private held: { version: number; msg: KernelMessage & { type: "steps" }; buffers: BufferLike[] }[] = [];

  /** Whether this controller draws an exported page, with no kernel behind it. */
  readonly standalone: boolean;

  constructor(readonly model: Model, options: ControllerOptions = {}) {
    this.standalone = options.standalone === true;
    this.player = new Player({
      model,
      position: () => this.k,
      last: () => this.last,
      ready: (k) => k === 0 || this.store.has(k - 1),
      watched: () => this.listeners.size > 0,
      advance: (k) => this.advance(k),
      stop: () => {
        model.set("playing", false);
        this.save();
        this.emit();
      },
      emit: () => this.emit(),
    });
    const on = (event: string, fn: (...args: any[]) => void) => {
      model.on(event, fn);
      this.cleanups.push(() => model.off(event, fn));
    };
    on("msg:custom", (msg: unknown, buffers: BufferLike[]) => this.onMessage(msg, buffers ?? []));
    on("change:version", () => {
      const v = this.syncedVersion;
      if (v > this.store.version) this.store.reset(v);
      else if (v < this.store.version) {
        // The kernel's versions only grow: a higher one held here was written in
        // this page (page code's model.set), and the kernel has just put its own
        // back.  Its steps were dropped for a version the kernel never had: ask again.
        this.store.reset(v);
        this.requestSync(0);
      }
      this.releaseHeld();
      this.settleKnockout();
      this.heard();
    });
    // ipywidgets marks a model's comm dead (comm_live = false, this event) when
    // its manager hears that the kernel restarts; nothing else fires it after
    // the model is made.  anywidget's model passes any event name on.
    on("comm_live_update", () => this.markGone("restarted"));
    on("change:_snapshot", () => this.hydrate());
    on("change:knockout", () => this.settleKnockout());
    on("change:frontier", () => this.heard());
    on("change:T", () => this.feedRows());
    on("change:t", () => {
      const t = this.k;
      if (!this.writing && this.unsavedT !== null && t === this.savedT && t !== this.unsavedT && model.get("playing")) {
        // The echo of our own last save: ipywidgets sends each write back once
        // the kernel has it, and applies it unless a newer write is on its way.
        // Play has moved on since without saving, so the echo is a step back
        // in time: Play's position stands.
        model.set("t", this.unsavedT);
        return;
      }
      this.watchT();
    });
    on("change:playing", () => {
      if (!model.get("playing") && this.unsavedT !== null) this.save(); // stopped from Python: it hears where Play got to
      this.player.sync();
    });
    on("change:speed", () => this.player.retime());
    on("change:shading", () => this.emit());
    this.store.reset(model.get("version") ?? 0);
    this.hydrate();
    this.store.onChange(() => {
      this.feedRows(); // before any trim drops what arrived
      this.emit();
    });
    if (this.standalone) {
      // the page says for good where its steps end: nothing will bring more
      if (!this.messageIsError) this.setMessage(exportedMessage(this.saved.steps, this.saved.computed, this.T), false);
    } else {
      this.requestSync();
      this.timer = setInterval(() => this.checkConnection(), CHECK_MS);
      this.watchKernelStatus();
    }
    this.player.sync();
  }

  dispose(): void {
    this.cleanups.forEach((f) => f());
    if (this.timer) clearInterval(this.timer);
    if (this.budgetTimer) clearTimeout(this.budgetTimer);
    this.player.dispose();
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
    return this.standalone || this.kernelGone ? Math.min(this.T, this.store.contiguous()) : this.T;
  }

  /** "ok", "waiting", "silent" (busy, or gone) or "gone" (known gone): see connection.ts. */
  get connection(): Connection {
    return this.watch.state;
  }

  /** Whether this widget's kernel is known to be gone (restarted, shut down, or its comm closed). */
  get kernelGone(): boolean {
    return this.watch.state === "gone";
  }

  /** What the status line says once the kernel is gone: what still works, and what waits. */
  get goneNotice(): string {
    const because = this.watch.goneBecause ? ` (${this.watch.goneBecause})` : "";
    const held = Math.min(this.T, this.store.contiguous());
    return (
      `the kernel is gone${because}: positions 0 … ${held} still step and play from the steps here; ` +
      `edits, knockout, new text and new steps need a kernel: run the cell again`
    );
  }

  /** What the status line says when the kernel has not answered for SILENT_MS. */
  get silentNotice(): string {
    return (
      `no reply from the kernel for ${SILENT_MS / 1000} s: a running cell keeps it busy, or it is gone ` +
      `(restarted or shut down); the steps here still step`
    );
  }

  /** The data version the kernel's synced trait says: the only version the store accepts. */
  private get syncedVersion(): number {
    const v = Number(this.model.get("version") ?? 0);
    return Number.isInteger(v) ? v : 0;
  }

  /** Whether a kernel has answered this widget yet: a saved notebook opened
   * without running it has only its snapshot, and no kernel will answer. */
  get kernelReplied(): boolean {
    return this.watch.kernelReplied;
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
      // a snapshot of a version the `version` trait has not reached is not the kernel's
      if (snap && snap.version >= this.store.version && snap.version <= this.syncedVersion) {
        this.store.accept(snap.version, snap.steps);
        this.saved = { steps: snap.steps.length, computed: snap.computed };
      }
    } catch (error) {
      this.setMessage(`could not read the saved state: ${(error as Error).message}`, true);
    }
  }

  // -- moving ------------------------------------------------------------------

  /** Move to position k (clamped to 0 … last).  The kernel computes what is missing. */
  goto(k: number): void {
    const target = Math.max(0, Math.min(this.last, Math.round(k)));
    if (target === this.k) return;
    this.setT(target);
    this.save();
    this.emit();
  }

  private setT(t: number): void {
    this.writing = true;
    try {
      this.model.set("t", t);
    } finally {
      this.writing = false;
    }
  }

  /**
   * Play's move to position k.  Every view (and a comparison's linked panel)
   * follows t at once, but the kernel hears it only when it has steps to
   * compute (one of the next PLAY_LEAD steps is missing here) or PLAY_SAVE_MS
   * after it last heard t, and when Play stops.  Each message to the kernel
   * costs the page more than the step's own draw: JupyterLab shows the kernel
   * busy, then idle, and its toolbar measures its items for each status (a
   * forced layout of the whole page).  At 30 steps/s that was a message per beat.
   */
  private advance(k: number): void {
    const target = Math.max(0, Math.min(this.last, Math.round(k)));
    if (target === this.k) return;
    this.setT(target);
    if (Date.now() - this.savedAt >= PLAY_SAVE_MS || !this.holds(target - 1, PLAY_LEAD)) this.save();
    else this.unsavedT = target;
    this.emit();
  }

  /** Whether steps s … s+n-1 (those below T) are all here. */
  private holds(s: number, n: number): boolean {
    for (let i = Math.max(0, s); i < Math.min(this.T, s + n); i++) if (!this.store.has(i)) return false;
    return true;
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
    if (playing && this.k >= this.last) this.setT(0);
    this.model.set("playing", playing);
    this.save();
    this.emit();
  }

  setSpeed(speed: number): void {
    this.model.set("speed", speed);
    this.save();
  }

  setShading(mode: Shading): void {
    this.model.set("shading", mode);
    this.save();
    this.emit();
  }

  /** A view drew position k (View.render); Play moves on only from a drawn one. */
  drew(k: number): void {
    this.player.drew(k);
  }

  // -- asking the kernel ---------------------------------------------------------

  /** ‖∂h_k/∂x_i‖ for i = 1 … k if it is here; otherwise asks the kernel (once) and
   * returns null.  Every number comes from the kernel: the browser computes none. */
  sensitivityAt(k: number): Float32Array | null {
    const version = this.store.version;
    return this.sensitivities.at(version, k, () => this.send({ type: "sensitivity", version, k }));
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

  // -- knockout --------------------------------------------------------------------

  /** The slots shown as hidden from attention: the kernel's `knockout`, or the one
   * asked of it and not yet heard back, so a click shows at once.  The steps drawn
   * are always the kernel's: until its new version arrives they are the old ones. */
  get knockout(): ReadonlySet<number> {
    const from = this.queuedKnockout ?? this.pendingKnockout?.slots ?? this.model.get("knockout");
    if (from !== this.hiddenOf.from) this.hiddenOf = { from, set: new Set(Array.isArray(from) ? from : []) };
    return this.hiddenOf.set;
  }

  /** Whether slots can be hidden from this view: the kernel says so (a model that
   * attends and takes a mask); never on an exported page. */
  get canKnockout(): boolean {
    return !this.standalone && !this.kernelGone && this.model.get("can_knockout") === true;
  }

  /** Hide slot i (0 … T) from attention, or show it again if it is hidden.  The
   * kernel recomputes the steps from the slot on and sends a new data version. */
  toggleKnockout(i: number): void {
    if (!this.canKnockout || !Number.isInteger(i) || i < 0 || i > this.T) return;
    const slots = new Set(this.knockout);
    if (slots.has(i)) slots.delete(i);
    else slots.add(i);
    this.setKnockout([...slots]);
  }

  /** Ask the kernel to hide exactly `slots` (the whole new knockout).  The kernel
   * refuses a request made for a version it has moved past, so while one request
   * is on its way the next waits for its answer and goes with the new version. */
  setKnockout(slots: number[]): void {
    if (!this.canKnockout) return;
    const sorted = [...new Set(slots)].sort((a, b) => a - b);
    if (this.pendingKnockout) {
      this.queuedKnockout = sorted;
    } else {
      const now: number[] = this.model.get("knockout") ?? [];
      if (sameSlots(now, sorted)) return void this.emit();
      // the kernel's version: the traits of a new one arrive together, before its steps
      const version = Math.max(this.store.version, Number(this.model.get("version") ?? 0));
      this.pendingKnockout = { slots: sorted, version };
      this.send({ type: "knockout", version, slots: sorted });
      this.watch.expect();
    }
    this.emit();
  }

  /** Whether the kernel answered the knockout on its way: a new version, or the
   * knockout asked for (`refused`: an error reply).  Then a queued one goes. */
  private settleKnockout(refused = false): void {
    const pending = this.pendingKnockout;
    const answered =
      pending !== null &&
      (refused || Number(this.model.get("version") ?? 0) !== pending.version || sameSlots(this.model.get("knockout") ?? [], pending.slots));
    if (answered) {
      this.pendingKnockout = null;
      const queued = this.queuedKnockout;
      this.queuedKnockout = null;
      if (queued && !refused) return this.setKnockout(queued);
    }
    this.emit();
  }

  /** Ask the kernel for what the position needs that is not here: the steps
   * from `have` on (by default from the first missing one, so that the α
   * matrix gets every row once; the store keeps what fits its budget). */
  requestSync(have = this.store.contiguous(), k?: number): void {
    if (this.standalone) return;
    // The kernel takes `have` as "steps 0 … have-1 are here" and will not send
    // them by itself: those missing are asked for again when needed, as dropped ones are.
    this.store.forgo(0, have);
    this.send(k === undefined ? { type: "sync", version: this.store.version, have } : { type: "sync", version: this.store.version, have, k });
    this.watch.expect();
  }

  /** The α matrix of this widget at pixel resolution, up to date with the store. */
  matrixRows(): MatrixLevels {
    this.feedRows();
    return this.rows;
  }

  private feedRows(): void {
    const key = `${this.store.version}|${this.T}`;
    if (key !== this.rowsKey) {
      this.rowsKey = key;
      this.rows.reset(this.T);
      this.rowsFed = 0;
    }
    const arrived = this.store.arrived;
    for (; this.rowsFed < arrived.length; this.rowsFed++) {
      const s = this.store.get(arrived[this.rowsFed]);
      if (s) this.rows.addStep(s);
    }
  }

  /** Keep the store within STORE_LIMIT, and ask again for dropped steps the
   * position needs or will need stepping back (budget.ts).  Only with a kernel
   * that answers: an exported page or a saved notebook keeps what it has. */
  private keepInBudget(): void {
    if (this.standalone || !this.kernelReplied) return;
    // the window behind is twice the push ahead (budget.ts): steps ahead go first, at half the distance
    this.store.trim(this.k - 1, STORE_LIMIT, STORE_TRIM_TO, BEHIND_BYTES / STEP_DATA_LIMIT);
    const ask = this.refill.need(this.store, this.k, this.T);
    if (ask !== null) this.requestSync(ask.have, ask.k);
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  private save(): void {
    this.savedAt = Date.now();
    this.savedT = this.k;
    this.unsavedT = null;
    if (this.kernelGone) return; // nothing would hear it
    try {
      this.model.save_changes();
    } catch (error) {
      this.disconnected(error);
    }
  }

  /** Send to the kernel; false if it cannot go (an export, a kernel known gone, a closed comm). */
  private send(content: FrontEndMessage): boolean {
    if (this.standalone) return false;
    if (this.kernelGone) return void this.emit(), false; // the status line says what waits
    try {
      this.model.send(content);
      return true;
    } catch (error) {
      this.disconnected(error);
      return false;
    }
  }

  // -- the connection -------------------------------------------------------------

  /** A send threw: JupyterLab disposes a kernel's comms when it restarts or shuts
   * down, and then every send on them throws. */
  private disconnected(error: unknown): void {
    this.markGone(`its comm is closed: ${(error as Error)?.message ?? error}`);
  }

  /** The kernel is gone: Play keeps to the steps here, and the status line says so. */
  private markGone(because: string): void {
    // a saved notebook's widget no kernel ever answered has no kernel to lose
    if (this.standalone || !this.kernelReplied || !this.watch.gone(because)) return;
    this.pendingKnockout = this.queuedKnockout = null;
    if (this.messageIsError) this.setMessage("", false); // the notice says it all
    this.emit();
  }

  /** Hear the kernel's status, where the widget manager has a kernel (JupyterLab's and
   * Notebook 7's managers do: a kernel connection with a statusChanged signal). */
  private watchKernelStatus(): void {
    try {
      const kernel = (this.model as { widget_manager?: { kernel?: unknown } }).widget_manager?.kernel as
        | { status?: unknown; statusChanged?: { connect: Function; disconnect: Function } }
        | null
        | undefined;
      const signal = kernel?.statusChanged;
      if (!signal || typeof signal.connect !== "function" || typeof signal.disconnect !== "function") return;
      const onStatus = (_sender: unknown, status: unknown) => {
        if (GONE_STATUSES.has(String(status))) this.markGone(String(status));
      };
      signal.connect(onStatus);
      this.cleanups.push(() => signal.disconnect(onStatus));
    } catch {
      // a manager without a kernel to watch: the heartbeat still tells
    }
  }

  private setMessage(text: string, isError: boolean): void {
    this.message = text;
    this.messageIsError = isError;
    this.emit();
  }

  /** Anything from the kernel proves it is alive. */
  private heard(): void {
    if (this.watch.heard() && !this.messageIsError) {
      this.setMessage("", false);
    }
    this.emit();
  }

  private watchT(): void {
    const k = this.k;
    if (k > 0 && !this.store.has(k - 1)) this.watch.expect();
    this.keepInBudget();
    this.emit();
  }

  private checkConnection(): void {
    if (this.watch.pingDue() && !this.model.get("playing") && this.listeners.size > 0 && pageVisible()) {
      this.watch.pinged();
      this.send({ type: "ping" });
    }
    const k = this.k;
    const next = this.watch.check(k > 0 && this.store.has(k - 1));
    // (a saved notebook never run: the status line says where its steps end, not that a kernel is silent)
    if (next !== null) this.emit();
  }

  // -- what the kernel sends ----------------------------------------------------------

  private onMessage(raw: unknown, buffers: BufferLike[]): void {
    this.heard();
    try {
      if (!raw || typeof raw !== "object") throw new TypeError("message is not an object");
      const msg = raw as KernelMessage; // each branch checks what it reads
      if (msg.type === "steps") {
        if (!Number.isInteger(msg.version) || msg.version < 0) {
          throw new TypeError(`a steps message needs an integer version ≥ 0, got ${JSON.stringify(msg.version)}`);
        }
        if (msg.version > this.syncedVersion) return this.hold(msg, buffers);
        const steps = decodeSteps(msg.steps, buffers, this.limits);
        this.store.accept(msg.version, steps);
        // Not at once: the kernel sends a move's steps before the new t, and the
        // trim keeps the steps near the position.
        this.budgetTimer ??= setTimeout(() => {
          this.budgetTimer = null;
          this.keepInBudget();
        }, SETTLE_MS);
        if (this.messageIsError && msg.reason !== "step") this.setMessage("", false);
      } else if (msg.type === "sensitivity") {
        const values = () => (msg.values ? decodeArray(msg.values, buffers) : new Float32Array(0));
        if (msg.version === this.store.version && this.sensitivities.receive(msg.version, Number(msg.k), values)) this.emit();
      } else if (msg.type === "error") {
        this.setMessage(`kernel: ${String(msg.message)}`, true);
        if (msg.request === "knockout") this.settleKnockout(true); // a queued one was asked on top of it: dropped too
      } else if (msg.type !== "pong") {
        throw new TypeError(`unknown message type ${JSON.stringify((raw as { type?: unknown }).type)}`);
      }
    } catch (error) {
      this.setMessage(`bad message from the kernel: ${(error as Error).message}`, true);
    }
  }

  /**
   * A "steps" message of a version the synced `version` trait has not reached.
   * The kernel sets a new version's traits before it sends the version's steps,
   * and JupyterLab applies a trait update before it hands on the next message
   * (its kernel connection awaits each comm message's handler, and ipywidgets'
   * handler of an update resolves once the state is set), so such a message is
   * either early (a manager that does not keep that order) or not from the
   * kernel's sequence at all: Python code's own `w.send`.  Either way it must
   * not replace the steps here: it waits until the trait reaches its version,
   * and is dropped once the trait passes it.  At most MAX_HELD wait.
   */
  private hold(msg: KernelMessage & { type: "steps" }, buffers: BufferLike[]): void {
    this.held.push({ version: msg.version, msg, buffers });
    this.held.sort((a, b) => a.version - b.version);
    if (this.held.length > MAX_HELD) this.held.length = MAX_HELD; // the furthest ahead go
  }

  private releaseHeld(): void {
    const v = this.syncedVersion;
    const ready = this.held.filter((h) => h.version === v);
    this.held = this.held.filter((h) => h.version > v);
    for (const h of ready) this.onMessage(h.msg, h.buffers);
  }
}

function pageVisible(): boolean {
  return typeof document === "undefined" || document.visibilityState !== "hidden";
}

function sameSlots(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
