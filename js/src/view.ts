// A view: the controls, tokens, state strips, attention and equation of one
// displayed output, drawn from its controller's store at position
// k = model.get("t").  A view holds no state of the widget's own: every view of
// one widget shows the same position.

import type { Shading, StepData } from "./protocol";
import type { Controller } from "./controller";
import { buildTokens, START_LABEL, updateTokens } from "./tokens";
import { makeVectorRow, renderStrip } from "./heatmap";
import { AlphaMatrix, layAxisLabels } from "./matrix";
import { icon, type IconName } from "./icons";
import {
  affineMath, alignMath, LSTMN_DEPARTURES, lstmnAttendMath, lstmnCellMath, lstmnPieceMath, nextHiddenMath, splitZ,
  typeset, updateMath, zBlockMath,
} from "./equation";
import { Chooser, textForm } from "./whatif";
import { divergingColor, formatFloat32, formatShort, GRAD_DECADES, maxAbs, onDarkBackground } from "./format";

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** What names the page's theme: JupyterLab's data attributes, VS Code's body classes. */
function themeOf(body: HTMLElement): string {
  const vscode = Array.from(body.classList).filter((c) => c.startsWith("vscode-")).join(" ");
  return `${body.dataset.jpThemeName ?? ""}|${body.dataset.jpThemeLight ?? ""}|${vscode}`;
}

// Writes that only happen when the value changes: writing the same text
// again still replaces the text node, and the browser lays the widget out anew.
function setText(e: HTMLElement, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}

function setClass(e: HTMLElement, cls: string): void {
  if (e.className !== cls) e.className = cls;
}

function setDisplay(e: HTMLElement, shown: boolean): void {
  const display = shown ? "" : "none";
  if (e.style.display !== display) e.style.display = display;
}

function button(label: string, glyph: IconName, onClick: () => void): HTMLButtonElement {
  const b = el("button", "aw-button");
  b.append(icon(glyph));
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
/** The widest a strip's cell gets, in CSS pixels: small states do not stretch across the page. */
const STRIP_CELL_PX = 14;

/** The matrix's side in CSS pixels: room for a label per slot on short sequences, bounded. */
export function matrixSide(T: number): number {
  return Math.min(360, Math.max(200, 16 * (T + 1)));
}

const splits = new WeakMap<StepData, { name: string; values: Float32Array }[]>();
/** z split into its blocks by z_layout, once per step. */
function blocksOf(step: StepData, layout: [string, number][]): { name: string; values: Float32Array | null }[] {
  if (!step.z) return layout.map(([name]) => ({ name, values: null }));
  let blocks = splits.get(step);
  if (!blocks || blocks.length !== layout.length) splits.set(step, (blocks = splitZ(step.z, layout)));
  return blocks;
}

/** The LSTMN's per-step pieces, in the order its cell computes them. */
const LSTMN_PIECES = ["i", "f", "o", "c_hat", "m", "h"] as const;

const zeroStates = new Map<number, Float32Array>();
/** h_0 = 0, one array per size, so drawing it twice is recognised as the same. */
function zerosOf(H: number): Float32Array {
  let z = zeroStates.get(H);
  if (!z) zeroStates.set(H, (z = new Float32Array(H)));
  return z;
}

const differences = new WeakMap<Float32Array, WeakMap<Float32Array, Float32Array>>();
/** a − b, computed once per pair of arrays (display arithmetic, not the model). */
function difference(a: Float32Array, b: Float32Array): Float32Array {
  let byB = differences.get(a);
  if (!byB) differences.set(a, (byB = new WeakMap()));
  let d = byB.get(b);
  if (!d) {
    d = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) d[i] = a[i] - b[i];
    byB.set(b, d);
  }
  return d;
}

/** One view of the widget inside `root`. */
export class View {
  readonly root: HTMLElement;
  private tokenEls: HTMLElement[] = [];
  private tokensShown: { tokens: string[]; version: number; unknown: [number, string][] } | null = null;
  private pieceStrips: { z: HTMLElement[]; pre: HTMLElement | null; h: HTMLElement; note: HTMLElement; lstmn: HTMLElement[] } | null = null;
  private kindShown = "";
  private matrix: AlphaMatrix;
  private matrixKey = "";
  private matrixDrawn = 0; // how many of the store's arrivals the matrix holds
  private labelsFor: HTMLElement[] | null = null;
  private currentRowLabel: Element | null = null;
  private stripsKey = "";
  private dark = false;
  private themeChecked = false;
  private frame: number | null = null;
  private cleanups: (() => void)[] = [];
  private equationKey = "";
  private chooser: Chooser;
  readonly parts: Record<string, HTMLElement> = {};

  /** Whether this view offers what-if edits and the text box: a widget whose
   * kernel has answered (not an export, nor a saved notebook opened without
   * running it), that allows edits and shows its controls. */
  get canEdit(): boolean {
    const { ctl } = this;
    const model = ctl.model;
    return (
      !ctl.standalone &&
      ctl.kernelReplied &&
      model.get("editable") !== false &&
      model.get("show_controls") !== false
    );
  }

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
    const reset = button("Reset", "reset", now(() => ctl.reset()));
    const back = button("Step back", "back", now(() => ctl.back()));
    const play = button("Play", "play", now(() => ctl.togglePlay()));
    const fwd = button("Step forward", "forward", now(() => ctl.step()));
    const scrub = el("input", "aw-scrubber");
    scrub.type = "range";
    scrub.min = "0";
    scrub.step = "1";
    scrub.setAttribute("aria-label", "Position");
    // drawn at once: a drag past an export's last saved step snaps back to it
    scrub.addEventListener("input", now(() => ctl.goto(Number(scrub.value))));
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
    shading.addEventListener("change", now(() => ctl.setShading(shading.value as Shading)));
    // What-if: replace the red token (or any, by double-click) and undo.
    const chooser = new Chooser(ctl, () => this.root.focus());
    const edit = button("Replace a token", "edit", () => {
      chooser.open(Math.max(1, ctl.k));
    });
    edit.title = "replace x_k, the red token, by another word (or double-click any token; key E)";
    const undo = button("Undo edit", "undo", () => ctl.undo());
    controls.append(reset, back, play, fwd, scrub, readout, speed, shading, edit, undo);
    const read = textForm(ctl);

    const title = el("div", "aw-title");
    const status = el("div", "aw-status");
    status.setAttribute("role", "status");
    const tokens = el("div", "aw-tokens");
    tokens.addEventListener("dblclick", (event) => {
      const target = (event.target as HTMLElement).closest?.(".aw-token") as HTMLElement | null;
      const i = Number(target?.dataset.index ?? 0);
      if (i >= 1 && this.canEdit) chooser.open(i);
    });
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
      // the LSTMN's memory: what this step read of the memory tape, and its new slot
      mTilde: makeVectorRow("m̃_k-1", "the memory this step read: Σ α m_i"),
      m: makeVectorRow("m_k", "the memory tape's new slot, f ⊙ m̃ + i ⊙ ĉ"),
    };
    for (const r of Object.values(rows)) vectors.append(r.row);
    const legend = el("div", "aw-legend");
    const bar = el("div", "aw-legend-bar");
    const legendText = el("span", undefined, "−1 … 0 … +1 (Δh: ±2); hover a cell for its value");
    legend.append(bar, legendText);
    vectors.append(legend);

    // attention: bars of α_{k-1,·} over the matrix's columns, the rows so far,
    // and the tokens on both axes (row j read x_j; column i is slot i)
    const attention = el("div", "aw-panel aw-attention");
    attention.append(el("div", "aw-panel-title", "attention α: this step (bars, full height = 1) and the steps so far"));
    const grid = el("div", "aw-attention-grid");
    const bars = el("canvas", "aw-bars");
    bars.setAttribute("aria-label", "attention weights of the current step, one bar per slot");
    const matrixCanvas = el("canvas", "aw-matrix");
    matrixCanvas.setAttribute("aria-label", "attention matrix: row j holds the weights used to read x_j");
    const matrixBox = el("div", "aw-matrix-box");
    const rowMarker = el("div", "aw-matrix-row");
    matrixBox.append(matrixCanvas, rowMarker);
    const rowLabels = el("div", "aw-axis aw-rows");
    const colLabels = el("div", "aw-axis aw-cols");
    grid.append(el("div"), bars, rowLabels, matrixBox, el("div"), colLabels);
    attention.append(grid);
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
    const departures = el("div", "aw-departures");
    equation.append(alignEq, updateEq, departures, pieces);

    // what the output head predicts from h_k: top-k labels with bars
    const prediction = el("div", "aw-panel aw-prediction");
    const predictionTitle = el("div", "aw-panel-title", "prediction");
    const predictionRows = el("div", "aw-prediction-rows");
    prediction.append(predictionTitle, predictionRows);

    const panels = el("div", "aw-panels");
    panels.append(vectors, prediction, attention);
    // What the shading is, in words: the weights come from h_{k-1}, before x_k is read.
    const caption = el("div", "aw-caption");
    root.append(title, controls, read.form, status, tokens, chooser.el, caption, panels, equation);
    host.appendChild(root);

    // Keys, while focus is in this view.  Jupyter's shortcuts listen on the
    // document: JupyterLab in the bubble phase, Notebook 7 in the capture
    // phase, where they would take ← and → before the widget sees them.  A
    // capture listener on the window runs before either.  It takes only the
    // keys it acts on (and, inside the scrubber or a menu, only stops Jupyter
    // from taking them, so they keep their own meaning); keys with Ctrl, Alt
    // or Meta go on to Jupyter (save, run the cell).
    const keys: Record<string, () => void> = {
      ArrowRight: () => ctl.step(),
      ArrowLeft: () => ctl.back(),
      " ": () => ctl.togglePlay(),
      Home: () => ctl.reset(),
      End: () => ctl.goto(ctl.T),
      e: () => {
        if (this.canEdit) chooser.open(Math.max(1, ctl.k));
      },
    };
    const onKey = (event: KeyboardEvent) => {
      if (!(event.target instanceof Node) || !root.contains(event.target)) return;
      if (event.ctrlKey || event.altKey || event.metaKey) return;
      const t = event.target;
      if (chooser.isOpen && chooser.el.contains(t)) {
        // The chooser's own keys (its listeners would not hear them: this
        // listener stops them on the window, before they reach the target).
        event.stopPropagation();
        chooser.onKey(event);
        return;
      }
      if (t instanceof HTMLInputElement && (t.type === "text" || t.type === "search")) {
        event.stopPropagation(); // typing is the text box's, never a Jupyter shortcut
        return;
      }
      if (event.key === "Escape" && chooser.isOpen) {
        event.stopPropagation();
        chooser.close();
        return;
      }
      if (t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLButtonElement) {
        // A control keeps its own keys (a button presses on Space, the scrubber
        // moves on the arrows, a menu opens): Jupyter only is kept from them.
        if (event.key in keys || event.key === "Enter") event.stopPropagation();
        return;
      }
      const act = keys[event.key];
      if (!act) return;
      event.preventDefault();
      event.stopPropagation();
      now(act)();
    };
    window.addEventListener("keydown", onKey, true);
    this.cleanups.push(() => window.removeEventListener("keydown", onKey, true));

    Object.assign(this.parts, { reset, back, play, fwd, scrub, readout, speed, shading, status, tokens, caption, bars, alignEq, updateEq, pieces });
    Object.assign(this.parts, { h: rows.h.strip, hPrev: rows.hPrev.strip, dh: rows.dh.strip, c: rows.c.strip });
    Object.assign(this.parts, { prediction, predictionTitle, predictionRows, title, controls });
    Object.assign(this.parts, { edit, undo, read: read.form });
    this.chooser = chooser;
    Object.assign(this.parts, { mTilde: rows.mTilde.strip, m: rows.m.strip, mTildeRow: rows.mTilde.row, mRow: rows.m.row });
    Object.assign(this.parts, { hNote: rows.h.value, cRow: rows.c.row, vectors, attention, grid, rowLabels, colLabels, legendBar: bar, departures });

    this.cleanups.push(ctl.onChange(() => this.schedule()));
    const model = ctl.model;
    const onModel = () => this.schedule();
    for (const name of ["tokens", "T", "update_rule", "align_name", "z_layout", "status", "frontier", "prediction_labels", "title", "show_controls", "editable", "accepts_text", "unknown", "edits", "vocabulary"]) {
      model.on(`change:${name}`, onModel);
      this.cleanups.push(() => model.off(`change:${name}`, onModel));
    }
    // A theme switch (JupyterLab sets data-jp-theme-* on body, VS Code a body
    // class) recolours the view.  Body attributes change for other reasons too
    // (the kernel's status, the cursor), so only a change of theme counts.
    if (typeof MutationObserver === "function" && document.body) {
      let theme = themeOf(document.body);
      const observer = new MutationObserver(() => {
        const now = themeOf(document.body);
        if (now === theme) return;
        theme = now;
        this.themeChecked = false;
        this.schedule();
      });
      observer.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name", "class"] });
      this.cleanups.push(() => observer.disconnect());
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

  /** Draw the current position from the store, writing only what changed:
   * the tokens whose state moved, the strips of this step, and the matrix rows
   * that arrived since the last draw. */
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
    const lstmn = model.get("update_rule") === "lstmn";
    if (!this.themeChecked && this.root.isConnected) {
      this.themeChecked = true;
      this.dark = onDarkBackground(this.root);
      this.root.classList.toggle("is-dark", this.dark);
      parts.legendBar.style.background = `linear-gradient(to right, ${[-1, -0.5, 0, 0.5, 1].map((v) => divergingColor(v, 1, this.dark)).join(", ")})`;
      this.matrix.setDark(this.dark);
    }
    const dark = this.dark;

    // title and controls (a comparison's other panels show no controls of their own)
    const title = String(model.get("title") ?? "");
    setText(parts.title, title);
    setDisplay(parts.title, title !== "");
    setDisplay(parts.controls, model.get("show_controls") !== false);
    (parts.back as HTMLButtonElement).disabled = k <= 0;
    (parts.reset as HTMLButtonElement).disabled = k <= 0 && !playing;
    (parts.fwd as HTMLButtonElement).disabled = k >= ctl.last; // T, or an export's last saved step
    const play = parts.play as HTMLButtonElement;
    const playLabel = playing ? "Pause" : "Play";
    if (play.getAttribute("aria-label") !== playLabel) {
      play.setAttribute("aria-label", playLabel);
      play.title = playLabel;
      play.replaceChildren(icon(playing ? "pause" : "play"));
    }
    const scrub = parts.scrub as HTMLInputElement;
    if (scrub.max !== String(T)) scrub.max = String(T);
    if (scrub.value !== String(k)) scrub.value = String(k);
    setText(parts.readout, `read ${k} of ${T}`); // a position; the step shown is named “step k-1”
    const speed = parts.speed as HTMLSelectElement;
    const sp = Number(model.get("speed"));
    if (!SPEEDS.includes(sp) && !Array.from(speed.options).some((o) => Number(o.value) === sp)) {
      const o = el("option", undefined, `${sp}/s`);
      o.value = String(sp);
      speed.appendChild(o);
    }
    if (speed.value !== String(sp)) speed.value = String(sp);
    // what-if and the text box; the gradient shading needs a kernel
    const canEdit = this.canEdit;
    const edits: unknown[] = model.get("edits") ?? [];
    setDisplay(parts.edit, canEdit);
    (parts.edit as HTMLButtonElement).disabled = T === 0;
    setDisplay(parts.undo, canEdit && edits.length > 0);
    setDisplay(parts.read, canEdit && model.get("accepts_text") === true);
    setDisplay(parts.shading, !this.ctl.standalone);
    // the inputs changed under an open chooser (an edit, a new sentence): it is stale
    if (this.chooser.isOpen && (!canEdit || this.chooser.version !== ctl.store.version)) this.chooser.close();

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
    setText(parts.status, text);
    setClass(parts.status, `aw-status ${cls}`.trim());
    if (this.root.dataset.connection !== ctl.connection) this.root.dataset.connection = ctl.connection;

    // tokens
    const tokens: string[] = model.get("tokens") ?? [];
    // The model hands back the same array until the tokens change: no need to compare T strings.
    const unknown: [number, string][] = model.get("unknown") ?? [];
    const shown = this.tokensShown;
    if (!shown || shown.tokens !== tokens || shown.version !== store.version || shown.unknown !== unknown) {
      this.tokensShown = { tokens, version: store.version, unknown };
      this.tokenEls = buildTokens(parts.tokens, tokens, unknown);
    }
    const reachable = Math.max(store.contiguous(), model.get("frontier") ?? 0);
    const mode = model.get("shading") === "gradient" ? "gradient" : "alpha";
    if ((parts.shading as HTMLSelectElement).value !== mode) (parts.shading as HTMLSelectElement).value = mode;
    const grad = mode === "gradient" && k > 0 ? ctl.sensitivityAt(k) : null;
    updateTokens(this.tokenEls, { k, alpha: step?.alpha ?? null, reachable, mode, grad, dark });
    setText(
      parts.caption,
      mode === "gradient"
        ? gradientCaption(k, grad !== null, ctl.kernelReplied)
        : shadingCaption(k, tokens, model.get("update_rule") === "eq1"),
    );
    if (this.root.dataset.t !== String(k)) this.root.dataset.t = String(k);
    ctl.drew(k);

    // vectors: each strip shares its row's width, up to STRIP_CELL_PX a cell
    const skey = `${H}`;
    if (skey !== this.stripsKey) {
      this.stripsKey = skey;
      for (const name of ["h", "hPrev", "dh", "c", "mTilde", "m"]) parts[name].style.maxWidth = `${H * STRIP_CELL_PX}px`;
      parts.vectors.style.maxWidth = `calc(14em + ${H * STRIP_CELL_PX + 20}px)`; // the notes stay by their strips
    }
    const hk = k === 0 ? zerosOf(H) : step?.h ?? null;
    const hPrev = k <= 1 ? (k === 1 ? zerosOf(H) : null) : prev?.h ?? null;
    renderStrip(parts.h, hk, { scale: 1, name: `h_${k}`, dark });
    renderStrip(parts.hPrev, hPrev, { scale: 1, name: `h_${k - 1}`, dark });
    const dh = hk && hPrev ? difference(hk, hPrev) : null;
    renderStrip(parts.dh, dh, { scale: 2, name: "Δh", dark });
    if (this.kindShown !== (lstmn ? "lstmn" : "rnn")) {
      this.kindShown = lstmn ? "lstmn" : "rnn";
      const label = parts.cRow.firstElementChild as HTMLElement;
      label.textContent = lstmn ? "h̃_k-1" : "c_k-1";
      label.title = lstmn ? "the hidden summary this step read: Σ α h_i" : "the context this step read: Σ α h_i";
      this.root.setAttribute("aria-label", lstmn ? "LSTMN stepper" : "Self-attention RNN stepper");
      this.root.dataset.model = this.kindShown;
    }
    const context = lstmn ? step?.h_tilde ?? null : attends ? step?.c ?? null : null;
    renderStrip(parts.c, context, { scale: 1, name: lstmn ? `h̃_${k - 1}` : `c_${k - 1}`, dark });
    setDisplay(parts.cRow, attends);
    setDisplay(parts.mTildeRow, lstmn);
    setDisplay(parts.mRow, lstmn);
    // m is not squashed (|m| can pass 1): its strips share the scale of this m, like A·z + b
    const mScale = lstmn && step?.m ? maxAbs(step.m) || 1 : 1;
    renderStrip(parts.mTilde, lstmn ? step?.m_tilde ?? null : null, { scale: mScale, name: `m̃_${k - 1}`, dark });
    renderStrip(parts.m, !lstmn ? null : k === 0 ? zerosOf(H) : step?.m ?? null, { scale: mScale, name: `m_${k}`, dark });
    setText(parts.hNote, dh ? `|Δh|max ${formatShort(maxAbs(dh))}` : "");

    this.renderPrediction(step, k);

    // attention
    setDisplay(parts.attention, attends);
    if (attends) this.renderAttention(step, k, T, tokens);

    this.renderEquation(step, k);
  }

  /** The head's top-k at position k, from h_k: one row per class, a bar as long as its
   * probability; `data-label` and `data-p` name each row (text only, never markup). */
  private renderPrediction(step: StepData | undefined, k: number): void {
    const { parts } = this;
    const labels: string[] = this.ctl.model.get("prediction_labels") ?? [];
    setDisplay(parts.prediction, labels.length > 0);
    if (labels.length === 0) return;
    setText(parts.predictionTitle, k > 0 ? `prediction from h_${k}` : "prediction: nothing read yet");
    const p = k > 0 ? step?.pred_p ?? null : null;
    const ids = k > 0 ? step?.pred_i ?? null : null;
    const n = p && ids ? p.length : 0;
    const rows = parts.predictionRows;
    while (rows.children.length < n) {
      const row = el("div", "aw-prediction-row");
      const bar = el("span", "aw-prediction-bar");
      row.append(el("span", "aw-prediction-label"), el("span", "aw-prediction-track"), el("span", "aw-prediction-value"));
      row.children[1].appendChild(bar);
      rows.appendChild(row);
    }
    for (let r = 0; r < rows.children.length; r++) {
      const row = rows.children[r] as HTMLElement;
      setDisplay(row, r < n);
      if (r >= n) continue;
      const label = labels[ids![r]] ?? `class ${ids![r]}`;
      const prob = p![r];
      const [name, track, value] = Array.from(row.children) as HTMLElement[];
      setText(name, label);
      setText(value, prob.toFixed(3));
      (track.firstElementChild as HTMLElement).style.width = `${(100 * Math.max(0, Math.min(1, prob))).toFixed(1)}%`;
      if (row.dataset.label !== label) row.dataset.label = label;
      const exact = formatFloat32(prob);
      if (row.dataset.p !== exact) row.dataset.p = exact;
    }
  }

  private renderAttention(step: StepData | undefined, k: number, T: number, tokens: string[]): void {
    const { parts, matrix, ctl } = this;
    const store = ctl.store;
    const side = matrixSide(T);
    const mkey = `${store.version}|${T}`;
    if (mkey !== this.matrixKey) {
      this.matrixKey = mkey;
      matrix.reset(T);
      this.matrixDrawn = 0;
      parts.grid.style.setProperty("--aw-side", `${side}px`);
    }
    const arrived = store.arrived;
    for (; this.matrixDrawn < arrived.length; this.matrixDrawn++) {
      const s = store.get(arrived[this.matrixDrawn]);
      if (s) matrix.addStep(s);
    }
    matrix.current = k - 1;
    matrix.draw();
    matrix.drawBars(parts.bars as HTMLCanvasElement, step?.alpha ?? null);
    if (this.labelsFor !== this.tokenEls) {
      this.labelsFor = this.tokenEls; // the labels follow the token strip, rebuilt with it
      this.currentRowLabel = null;
      layAxisLabels(parts.colLabels, [START_LABEL, ...tokens], T + 1, side, T);
      layAxisLabels(parts.rowLabels, [START_LABEL, ...tokens], T + 1, side, T, 1);
    }
    const label = k > 0 ? parts.rowLabels.querySelector(`[data-slot="${k}"]`) : null;
    if (label !== this.currentRowLabel) {
      this.currentRowLabel?.classList.remove("is-current");
      label?.classList.add("is-current");
      this.currentRowLabel = label;
    }
  }

  private renderEquation(step: StepData | undefined, k: number): void {
    const { parts, ctl } = this;
    const model = ctl.model;
    const update = model.get("update_rule") ?? "eq4";
    const align = model.get("align_name") ?? "";
    const layout: [string, number][] = model.get("z_layout") ?? [];
    const lstmn = update === "lstmn";
    const ekey = `${update}|${align}|${JSON.stringify(layout)}`;
    if (ekey !== this.equationKey) {
      this.equationKey = ekey;
      if (lstmn) {
        typeset(parts.alignEq, lstmnAttendMath());
        typeset(parts.updateEq, lstmnCellMath());
      } else {
        if (update === "eq1") parts.alignEq.textContent = "";
        else typeset(parts.alignEq, alignMath(align));
        typeset(parts.updateEq, updateMath(update, layout));
      }
      setText(parts.departures, lstmn ? LSTMN_DEPARTURES : "");
      setDisplay(parts.departures, lstmn);
      this.buildPieces(lstmn ? [] : layout, lstmn);
    }
    const strips = this.pieceStrips!;
    setText(strips.note, k > 0 ? `step ${k - 1}` : "nothing read yet: h_0 = 0");
    const dark = this.dark;
    if (lstmn) {
      LSTMN_PIECES.forEach((name, i) => {
        const values = step ? step[name] : null;
        const scale = name === "m" && values ? maxAbs(values) || 1 : 1;
        renderStrip(strips.lstmn[i], values, { scale, name: name === "c_hat" ? "ĉ" : name, dark });
      });
      return;
    }
    const blocks = step ? blocksOf(step, layout) : layout.map(([name]) => ({ name, values: null as Float32Array | null }));
    const zScale = step?.z ? maxAbs(step.z) || 1 : 1;
    blocks.forEach((b, i) => {
      const strip = strips.z[i];
      if (strip) renderStrip(strip, b.values, { scale: b.name === "x" ? zScale : 1, name: b.name, dark });
    });
    if (strips.pre) renderStrip(strips.pre, step?.pre ?? null, { scale: step?.pre ? maxAbs(step.pre) || 1 : 1, name: "A·z+b", dark });
    renderStrip(strips.h, step?.h ?? null, { scale: 1, name: "h", dark });
  }

  private buildPieces(layout: [string, number][], lstmn: boolean): void {
    const pieces = this.parts.pieces;
    pieces.replaceChildren();
    const H = this.ctl.model.get("hidden_size") ?? 0;
    // Each piece's strip takes a share of the row in proportion to its size, so
    // the row never wraps; a cell is at most STRIP_CELL_PX wide.
    const piece = (formula: Element, id: string, size: number) => {
      const p = el("div", "aw-piece");
      p.style.flex = `${Math.max(1, size)} 1 0px`;
      p.style.maxWidth = `${Math.max(1, size) * STRIP_CELL_PX}px`;
      const label = el("div", "aw-piece-label");
      typeset(label, formula);
      const strip = el("div", "aw-strip");
      strip.dataset.piece = id;
      p.append(label, strip);
      return p;
    };
    const stripOf = (p: HTMLElement) => p.lastElementChild as HTMLElement;
    const row = el("div", "aw-pieces-row");
    const note = el("div", "aw-pieces-note");
    pieces.append(note, row);
    if (lstmn) {
      // the gates and the candidate, then the new memory and state: i f o ĉ → m → h
      const lstmnPieces = LSTMN_PIECES.map((name) => piece(lstmnPieceMath(name), name, H));
      row.append(...lstmnPieces.slice(0, 4), el("span", "aw-arrow", "→"), lstmnPieces[4], el("span", "aw-arrow", "→"), lstmnPieces[5]);
      this.pieceStrips = { z: [], pre: null, h: stripOf(lstmnPieces[5]), note, lstmn: lstmnPieces.map(stripOf) };
      return;
    }
    const zPieces = layout.map(([name, size], i) => piece(zBlockMath(name), `z${i}`, size));
    const pre = piece(affineMath(), "pre", H);
    const h = piece(nextHiddenMath(), "h", H);
    row.append(...zPieces, el("span", "aw-arrow", "→"), pre, el("span", "aw-arrow", "→ tanh →"), h);
    this.pieceStrips = { z: zPieces.map(stripOf), pre: stripOf(pre), h: stripOf(h), note, lstmn: [] };
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
