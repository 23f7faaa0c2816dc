// The view: controls, tokens, vectors, attention and the equation, all drawn
// from the step store at position k = model.get("t").  JS never recomputes
// the model; a position whose step is missing asks the kernel (by writing t)
// and is drawn when the step arrives.

import {
  decodeArray,
  decodeSteps,
  unpackSnapshot,
  type BufferLike,
  type StepData,
  type StepLimits,
} from "./codec";
import { StepStore } from "./store";
import { buildTokens, updateTokens } from "./tokens";
import { makeVectorRow, renderStrip } from "./heatmap";
import { AlphaMatrix, drawBars } from "./matrix";
import { affineMath, alignMath, nextHiddenMath, splitZ, typeset, updateMath, zBlockMath } from "./equation";
import { divergingColor, formatFloat32, formatShort, GRAD_DECADES, maxAbs } from "./format";

/** The part of anywidget's model interface this widget uses. */
export interface Model {
  get(name: string): any;
  set(name: string, value: any): void;
  save_changes(): void;
  on(event: string, fn: (...args: any[]) => void): void;
  off(event?: string | null, fn?: ((...args: any[]) => void) | null): void;
  send(content: any, callbacks?: any, buffers?: any[]): void;
}

export type Connection = "ok" | "waiting" | "disconnected";

const WAITING_MS = 1500;
const DISCONNECTED_MS = 15000;
const SAVED_ONLY = "this step is not in the saved notebook: run its cells to compute more";

/** What a reader without a kernel is told when the position is past the saved steps. */
export function savedOnlyMessage(saved: number, computed: number): string {
  if (computed <= saved) return SAVED_ONLY;
  return (
    `the saved notebook holds positions 0 … ${saved} of the ${computed} steps computed ` +
    "(a saved widget keeps at most 4 MB of steps): run its cells to see more"
  );
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

  constructor(readonly model: Model) {
    const on = (event: string, fn: (...args: any[]) => void) => {
      model.on(event, fn);
      this.cleanups.push(() => model.off(event, fn));
    };
    on("msg:custom", (msg: any, buffers: BufferLike[]) => this.onMessage(msg, buffers ?? []));
    on("change:version", () => {
      const v = model.get("version");
      if (v > this.store.version) this.store.reset(v);
      this.heard();
    });
    on("change:_snapshot", () => this.hydrate());
    on("change:frontier", () => this.heard());
    on("change:t", () => this.watchT());
    on("change:playing", () => this.syncPlay());
    on("change:speed", () => this.syncPlay());
    on("change:shading", () => this.emit());
    this.store.reset(model.get("version") ?? 0);
    this.hydrate();
    this.store.onChange(() => this.emit());
    this.requestSync();
    this.timer = setInterval(() => this.checkConnection(), 500);
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

  /** Move to position k (clamped to 0 … T).  The kernel computes what is missing. */
  goto(k: number): void {
    const target = Math.max(0, Math.min(this.T, Math.round(k)));
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
    if (playing && this.k >= this.T) this.model.set("t", 0);
    this.model.set("playing", playing);
    this.save();
    this.emit();
  }

  setShading(mode: "alpha" | "gradient"): void {
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

  requestSync(): void {
    this.send({ type: "sync", version: this.store.version, have: this.store.contiguous() });
    this.waitingSince ??= Date.now();
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

  private send(content: any): void {
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

  private onMessage(msg: any, buffers: BufferLike[]): void {
    this.heard();
    try {
      if (!msg || typeof msg !== "object") throw new TypeError("message is not an object");
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
        throw new TypeError(`unknown message type ${JSON.stringify(msg.type)}`);
      }
    } catch (error) {
      this.setMessage(`bad message from the kernel: ${(error as Error).message}`, true);
    }
  }

  // Playing advances one position per tick, but only once the step on screen
  // has arrived, so the animation never runs ahead of the kernel.
  private syncPlay(): void {
    if (this.playTimer) clearTimeout(this.playTimer);
    this.playTimer = null;
    if (!this.model.get("playing")) {
      this.emit();
      return;
    }
    const tick = () => {
      if (!this.model.get("playing")) return;
      const k = this.k;
      if (k >= this.T) {
        this.model.set("playing", false);
        this.save();
        this.emit();
        return;
      }
      if (k === 0 || this.store.has(k - 1)) this.goto(k + 1);
      const speed = Math.max(0.25, Math.min(60, Number(this.model.get("speed")) || 4));
      this.playTimer = setTimeout(tick, 1000 / speed);
    };
    this.playTimer = setTimeout(tick, 0);
    this.emit();
  }
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(label: string, text: string, onClick: () => void): HTMLButtonElement {
  const b = el("button", "aw-button", text);
  b.type = "button";
  b.setAttribute("aria-label", label);
  b.title = label;
  b.addEventListener("click", onClick);
  return b;
}

/** The shading at position k, in words: α_{k-1,·} comes from h_{k-1}, before x_k is read. */
export function shadingCaption(k: number, tokens: string[], eq1: boolean): string {
  if (k === 0) return "nothing read yet: h_0 = 0";
  const word = `“${tokens[k - 1] ?? ""}”`;
  if (eq1) return `step ${k - 1} read ${word} (red) into h_${k}; eq1 has no attention, so nothing is shaded`;
  return `shading: the weights α_${k - 1},i that h_${k - 1} used to read ${word} (red), chosen before reading it`;
}

/** The gradient shading at position k, in words. */
export function gradientCaption(k: number, arrived: boolean, kernel: boolean): string {
  if (k === 0) return "nothing read yet: h_0 = 0";
  if (!arrived) return kernel ? "computing ‖∂h/∂x‖ in the kernel…" : "‖∂h/∂x‖ is not saved in the notebook: run its cells";
  return `shading: how much h_${k} depends on each earlier input, ‖∂h_${k}/∂x_i‖, on a log scale over ${GRAD_DECADES} decades (darkest = the largest)`;
}

const SPEEDS = [0.5, 1, 2, 4, 8, 16, 32];

/** One view of the widget inside `root`. */
export class View {
  readonly root: HTMLElement;
  private tokenEls: HTMLElement[] = [];
  private tokensKey = "";
  private matrix: AlphaMatrix;
  private matrixKey = "";
  private frame: number | null = null;
  private cleanups: (() => void)[] = [];
  private equationKey = "";
  readonly parts: Record<string, HTMLElement> = {};

  constructor(readonly ctl: Controller, host: HTMLElement) {
    const root = (this.root = el("div", "attn-widget"));
    root.tabIndex = 0;
    root.setAttribute("role", "group");
    root.setAttribute("aria-label", "Self-attention RNN stepper");

    // Draw at once after the user's own action, so the next click between
    // two animation frames meets up-to-date buttons.
    const now = (f: () => void) => () => {
      f();
      this.render();
    };
    const controls = el("div", "aw-controls");
    const reset = button("Reset", "|◀", now(() => ctl.reset()));
    const back = button("Step back", "◀", now(() => ctl.back()));
    const play = button("Play", "▶", now(() => ctl.togglePlay()));
    const fwd = button("Step forward", "▶|", now(() => ctl.step()));
    const scrub = el("input", "aw-scrubber");
    scrub.type = "range";
    scrub.min = "0";
    scrub.step = "1";
    scrub.setAttribute("aria-label", "Position");
    scrub.addEventListener("input", () => ctl.goto(Number(scrub.value)));
    const readout = el("span", "aw-readout");
    readout.setAttribute("aria-live", "polite");
    const speed = el("select", "aw-speed");
    speed.setAttribute("aria-label", "Speed (steps per second)");
    speed.title = "steps per second";
    for (const s of SPEEDS) {
      const o = el("option", undefined, `${s}/s`);
      o.value = String(s);
      speed.appendChild(o);
    }
    speed.addEventListener("change", () => ctl.setSpeed(Number(speed.value)));
    const shading = el("select", "aw-shading");
    shading.setAttribute("aria-label", "Shade tokens by");
    shading.title = "shade the tokens by the weights α, or by how much h_k depends on each input";
    for (const [value, label] of [["alpha", "shade: α"], ["gradient", "shade: ‖∂h/∂x‖"]]) {
      const o = el("option", undefined, label);
      o.value = value;
      shading.appendChild(o);
    }
    shading.addEventListener("change", now(() => ctl.setShading(shading.value as "alpha" | "gradient")));
    controls.append(reset, back, play, fwd, scrub, readout, speed, shading);

    const status = el("div", "aw-status");
    status.setAttribute("role", "status");
    const tokens = el("div", "aw-tokens");
    tokens.addEventListener("click", (event) => {
      const target = (event.target as HTMLElement).closest?.(".aw-token") as HTMLElement | null;
      if (!target || !target.classList.contains("is-reachable")) return;
      ctl.goto(Number(target.dataset.index));
    });

    // vectors: h_k, h_{k-1}, Δh, c_{k-1}
    const vectors = el("div", "aw-panel aw-vectors");
    vectors.append(el("div", "aw-panel-title", "states"));
    const rows = {
      h: makeVectorRow("h_k", "the state after reading x_k"),
      hPrev: makeVectorRow("h_k-1", "the state before"),
      dh: makeVectorRow("Δh", "h_k − h_k-1: what this step changed"),
      c: makeVectorRow("c_k-1", "the context this step read: Σ α h_i"),
    };
    for (const r of Object.values(rows)) vectors.append(r.row);
    const legend = el("div", "aw-legend");
    const bar = el("div", "aw-legend-bar");
    bar.style.background = `linear-gradient(to right, ${[-1, -0.5, 0, 0.5, 1].map((v) => divergingColor(v, 1)).join(", ")})`;
    const legendText = el("span", undefined, "−1 … 0 … +1 (Δh: ±2); hover a cell for its value");
    legend.append(bar, legendText);
    vectors.append(legend);

    // attention: bars of α_{k-1,·} and the whole matrix
    const attention = el("div", "aw-panel aw-attention");
    attention.append(el("div", "aw-panel-title", "attention α: this step (bars, full height = 1) and every step so far"));
    const bars = el("canvas", "aw-bars");
    bars.setAttribute("aria-label", "attention weights of the current step");
    const matrixCanvas = el("canvas", "aw-matrix");
    matrixCanvas.setAttribute("aria-label", "attention matrix, row t = step t");
    const matrixBox = el("div", "aw-matrix-box");
    const rowMarker = el("div", "aw-matrix-row");
    matrixBox.append(matrixCanvas, rowMarker);
    attention.append(bars, matrixBox);
    this.matrix = new AlphaMatrix(matrixCanvas, rowMarker);
    matrixCanvas.addEventListener("mousemove", (event) => {
      const box = matrixCanvas.getBoundingClientRect();
      const cell = this.matrix.cellAt(
        (event.clientX - box.left) / box.width,
        (event.clientY - box.top) / box.height,
      );
      const a = cell ? this.ctl.store.get(cell.t)?.alpha?.[cell.i] : undefined;
      matrixCanvas.title = cell && a !== undefined ? `α(${cell.t},${cell.i}) = ${formatFloat32(a)}` : "";
    });

    // equation and its pieces
    const equation = el("div", "aw-panel aw-equation-panel");
    equation.append(el("div", "aw-panel-title", "this step"));
    const alignEq = el("div", "aw-equation aw-align-eq");
    const updateEq = el("div", "aw-equation aw-update-eq");
    const pieces = el("div", "aw-pieces");
    equation.append(alignEq, updateEq, pieces);

    const panels = el("div", "aw-panels");
    panels.append(vectors, attention);
    // What the shading is, in words: the weights come from h_{k-1}, before x_k is read.
    const caption = el("div", "aw-caption");
    root.append(controls, status, tokens, caption, panels, equation);
    host.appendChild(root);

    root.addEventListener("keydown", (event) => {
      if (event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement) {
        if (event.key !== " " && event.key !== "Home" && event.key !== "End") return;
      }
      const actions: Record<string, () => void> = {
        ArrowRight: () => ctl.step(),
        ArrowLeft: () => ctl.back(),
        " ": () => ctl.togglePlay(),
        Home: () => ctl.reset(),
        End: () => ctl.goto(ctl.T),
      };
      const act = actions[event.key];
      if (!act) return;
      event.preventDefault();
      event.stopPropagation(); // keep JupyterLab's notebook shortcuts out of it
      now(act)();
    });

    Object.assign(this.parts, { reset, back, play, fwd, scrub, readout, speed, shading, status, tokens, caption, bars, alignEq, updateEq, pieces });
    Object.assign(this.parts, { h: rows.h.strip, hPrev: rows.hPrev.strip, dh: rows.dh.strip, c: rows.c.strip });
    Object.assign(this.parts, { hNote: rows.h.value, cRow: rows.c.row, attention });

    this.cleanups.push(ctl.onChange(() => this.schedule()));
    const model = ctl.model;
    const onModel = () => this.schedule();
    for (const name of ["tokens", "T", "update_rule", "align_name", "z_layout", "status", "frontier"]) {
      model.on(`change:${name}`, onModel);
      this.cleanups.push(() => model.off(`change:${name}`, onModel));
    }
    this.render();
  }

  dispose(): void {
    this.cleanups.forEach((f) => f());
    if (this.frame !== null) cancelFrame(this.frame);
    this.root.remove();
  }

  schedule(): void {
    if (this.frame !== null) return;
    this.frame = requestFrame(() => {
      this.frame = null;
      this.render();
    });
  }

  /** Draw everything for the current position from the store. */
  render(): void {
    if (this.frame !== null) {
      cancelFrame(this.frame); // drawn now: the queued frame would draw the same again
      this.frame = null;
    }
    const { ctl, parts } = this;
    const model = ctl.model;
    const store = ctl.store;
    const T = ctl.T;
    const k = Math.min(ctl.k, T);
    const step = ctl.current(k);
    const prev = k > 1 ? store.get(k - 2) : undefined;
    const H = model.get("hidden_size") ?? 0;
    const playing = !!model.get("playing");
    const attends = model.get("update_rule") !== "eq1";

    // controls
    (parts.back as HTMLButtonElement).disabled = k <= 0;
    (parts.reset as HTMLButtonElement).disabled = k <= 0 && !playing;
    (parts.fwd as HTMLButtonElement).disabled = k >= T;
    const play = parts.play as HTMLButtonElement;
    play.setAttribute("aria-label", playing ? "Pause" : "Play");
    play.title = playing ? "Pause" : "Play";
    play.textContent = playing ? "❚❚" : "▶"; // not ⏸ (U+23F8): common fonts such as DejaVu lack it
    const scrub = parts.scrub as HTMLInputElement;
    scrub.max = String(T);
    scrub.value = String(k);
    parts.readout.textContent = `read ${k} of ${T}`; // a position; the step shown is named “step k-1”
    const speed = parts.speed as HTMLSelectElement;
    const sp = Number(model.get("speed"));
    if (!SPEEDS.includes(sp) && !Array.from(speed.options).some((o) => Number(o.value) === sp)) {
      const o = el("option", undefined, `${sp}/s`);
      o.value = String(sp);
      speed.appendChild(o);
    }
    speed.value = String(sp);

    // status line: kernel errors, connection, waiting for a step
    let text = ctl.message || (model.get("status") ?? "");
    let cls = ctl.messageIsError || String(model.get("status") ?? "").startsWith("error") ? "is-error" : "";
    if (k > 0 && !step && !ctl.kernelReplied && ctl.connection !== "ok") {
      text = ctl.savedOnly; // a saved notebook, opened but not run: nothing will answer
      cls = "is-waiting";
    } else if (ctl.connection === "disconnected") {
      cls = "is-disconnected";
      if (!text.startsWith("disconnected")) text = "disconnected: no reply from the kernel";
    } else if (k > 0 && !step) {
      text = ctl.connection === "waiting" ? "waiting for the kernel… (a running cell delays it)" : "computing…";
      cls = "is-waiting";
    }
    parts.status.textContent = text;
    parts.status.className = `aw-status ${cls}`.trim();
    this.root.dataset.connection = ctl.connection;

    // tokens
    const tokens: string[] = model.get("tokens") ?? [];
    const key = `${store.version}|${tokens.length}|${tokens.join("\u0000")}`;
    if (key !== this.tokensKey) {
      this.tokensKey = key;
      this.tokenEls = buildTokens(parts.tokens, tokens);
    }
    const reachable = Math.max(store.contiguous(), model.get("frontier") ?? 0);
    const mode = model.get("shading") === "gradient" ? "gradient" : "alpha";
    (parts.shading as HTMLSelectElement).value = mode;
    const grad = mode === "gradient" && k > 0 ? ctl.sensitivityAt(k) : null;
    updateTokens(this.tokenEls, { k, alpha: step?.alpha ?? null, reachable, mode, grad });
    parts.caption.textContent =
      mode === "gradient"
        ? gradientCaption(k, grad !== null, ctl.kernelReplied)
        : shadingCaption(k, tokens, model.get("update_rule") === "eq1");
    this.root.dataset.t = String(k);

    // vectors
    const zeros = new Float32Array(H);
    const hk = k === 0 ? zeros : step?.h ?? null;
    const hPrev = k <= 1 ? (k === 1 ? zeros : null) : prev?.h ?? null;
    renderStrip(parts.h, hk, { scale: 1, name: `h_${k}` });
    renderStrip(parts.hPrev, hPrev, { scale: 1, name: `h_${k - 1}` });
    let dh: Float32Array | null = null;
    if (hk && hPrev) {
      dh = new Float32Array(hk.length);
      for (let i = 0; i < hk.length; i++) dh[i] = hk[i] - hPrev[i];
    }
    renderStrip(parts.dh, dh, { scale: 2, name: "Δh" });
    renderStrip(parts.c, attends ? step?.c ?? null : null, { scale: 1, name: `c_${k - 1}` });
    parts.cRow.style.display = attends ? "" : "none";
    parts.hNote.textContent = dh ? `|Δh|max ${formatShort(maxAbs(dh))}` : "";

    // attention
    parts.attention.style.display = attends ? "" : "none";
    if (attends) {
      drawBars(parts.bars as HTMLCanvasElement, step?.alpha ?? null, 320, 60);
      const mkey = `${store.version}|${T}`;
      if (mkey !== this.matrixKey) {
        this.matrixKey = mkey;
        this.matrix.reset(T);
      }
      for (const s of store.all()) this.matrix.addStep(s);
      this.matrix.current = k - 1;
      this.matrix.draw();
    }

    this.renderEquation(step, k);
  }

  private renderEquation(step: StepData | undefined, k: number): void {
    const { parts, ctl } = this;
    const model = ctl.model;
    const update = model.get("update_rule") ?? "eq4";
    const align = model.get("align_name") ?? "";
    const layout: [string, number][] = model.get("z_layout") ?? [];
    const ekey = `${update}|${align}|${JSON.stringify(layout)}`;
    if (ekey !== this.equationKey) {
      this.equationKey = ekey;
      if (update === "eq1") parts.alignEq.textContent = "";
      else typeset(parts.alignEq, alignMath(align));
      typeset(parts.updateEq, updateMath(update, layout));
      this.buildPieces(layout);
    }
    const pieces = parts.pieces;
    const note = pieces.querySelector(".aw-pieces-note");
    if (note) note.textContent = k > 0 ? `step ${k - 1}` : "nothing read yet: h_0 = 0";
    const blocks = step ? splitZ(step.z, layout) : layout.map(([name]) => ({ name, values: null as Float32Array | null }));
    const zScale = step ? maxAbs(step.z) || 1 : 1;
    blocks.forEach((b, i) => {
      const strip = pieces.querySelector(`[data-piece="z${i}"]`) as HTMLElement | null;
      if (strip) renderStrip(strip, b.values, { scale: b.name === "x" ? zScale : 1, name: b.name });
    });
    const preStrip = pieces.querySelector('[data-piece="pre"]') as HTMLElement | null;
    if (preStrip) renderStrip(preStrip, step?.pre ?? null, { scale: step ? maxAbs(step.pre) || 1 : 1, name: "A·z+b" });
    const hStrip = pieces.querySelector('[data-piece="h"]') as HTMLElement | null;
    if (hStrip) renderStrip(hStrip, step?.h ?? null, { scale: 1, name: "h" });
  }

  private buildPieces(layout: [string, number][]): void {
    const pieces = this.parts.pieces;
    pieces.replaceChildren();
    const piece = (formula: Element, id: string) => {
      const p = el("div", "aw-piece");
      const label = el("div", "aw-piece-label");
      typeset(label, formula);
      const strip = el("div", "aw-strip");
      strip.dataset.piece = id;
      p.append(label, strip);
      return p;
    };
    const z = el("div", "aw-piece");
    z.append(...layout.map(([name], i) => piece(zBlockMath(name), `z${i}`)));
    z.style.flexDirection = "row";
    z.style.gap = "6px";
    pieces.append(
      el("span", "aw-pieces-note"),
      z,
      el("span", "aw-arrow", "→"),
      piece(affineMath(), "pre"),
      el("span", "aw-arrow", "→ tanh →"),
      piece(nextHiddenMath(), "h"),
    );
  }
}

function requestFrame(fn: () => void): number {
  if (typeof requestAnimationFrame === "function") return requestAnimationFrame(fn);
  return setTimeout(fn, 16) as unknown as number;
}

function cancelFrame(id: number): void {
  if (typeof cancelAnimationFrame === "function") cancelAnimationFrame(id);
  else clearTimeout(id);
}
