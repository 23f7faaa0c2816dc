// The lower-triangular α matrix on a canvas, filled row by row as steps
// arrive, with the bars of the current row on the same columns and token
// labels on both axes.  Row t holds α_{t,0 … t} and sits level with h_{t+1};
// column i is slot i (⟨start⟩ = h_0, then x_i).  Only the rows up to the
// current step are shown: steps computed ahead stay hidden until reached.
// For long sequences several rows and columns share a pixel (the pixel keeps
// the largest weight), so memory and drawing stay bounded by MAX_PIXELS²
// whatever T is.
//
// The weights at pixel resolution (MatrixLevels) are one per widget, kept by
// its controller: a row is added once, when its step arrives, and stays after
// the store drops the step (store.ts, trim), so every view, even one opened
// later, shows every row that ever arrived.  Each view's AlphaMatrix paints
// its own canvas from them.

import { canvasContext } from "./dom";
import { cssRgb, weightKey } from "./format";
import type { StepData } from "./protocol";

export const MAX_PIXELS = 768;
/** Bars' height in canvas pixels: the full height is α = 1. */
export const BAR_PIXELS = 48;
/** The least room an axis label needs along its axis, in CSS pixels. */
export const LABEL_PX = 13;

/** The α matrix of one widget at pixel resolution: -1 where no weight is yet. */
export class MatrixLevels {
  /** Pixels per side. */
  n = 1;
  T = 0;
  levels = new Float32Array(1).fill(-1);
  /** Bumped by each reset: a view that painted another epoch paints everything again. */
  epoch = 0;
  /** Pixel rows in the order their weights changed, this epoch. */
  readonly changed: number[] = [];
  private rows = new Set<number>();

  /** Start over for a sequence of T steps (T rows, T+1 columns). */
  reset(T: number): void {
    this.T = T;
    this.n = Math.max(1, Math.min(T + 1, MAX_PIXELS));
    this.levels = new Float32Array(this.n * this.n).fill(-1);
    this.rows.clear();
    this.changed.length = 0;
    this.epoch++;
  }

  /** The pixel column (or row) of slot i. */
  pixel(i: number): number {
    return Math.min(this.n - 1, Math.floor((i * this.n) / (this.T + 1)));
  }

  addStep(step: StepData): void {
    if (!step.alpha || this.rows.has(step.t) || step.t >= this.T) return;
    this.rows.add(step.t);
    const y = this.pixel(step.t + 1); // row t sits level with h_{t+1}, so the diagonal is h_t
    const a = step.alpha;
    const { levels, n } = this;
    let changed = false;
    for (let i = 0; i < a.length; i++) {
      const p = y * n + this.pixel(i);
      const u = a[i]; // absolute, as on the tokens: a spread-out row stays pale
      if (u <= levels[p]) continue; // a shared pixel keeps the strongest weight
      levels[p] = u;
      changed = true;
    }
    if (changed) this.changed.push(y);
  }
}

export class AlphaMatrix {
  readonly canvas: HTMLCanvasElement;
  private ctx: CanvasRenderingContext2D | null;
  private image: ImageData | null = null;
  private source = new MatrixLevels();
  private epoch = -1; // the source's epoch the image holds
  private seen = 0; // how many of the source's changed rows the image holds
  private dirty = true; // everything must be drawn again
  private dirtyFrom = Infinity; // pixel rows dirtyFrom … dirtyTo-1 have new weights
  private dirtyTo = 0;
  private shownRows = -1; // pixel rows shown at the last draw
  private dark = false;
  private barsDrawn: { alpha: Float32Array | null; n: number; dark: boolean } | null = null;
  /** drawBars' per-column heights, kept between draws (no garbage a step). */
  private tall = new Float32Array(0);
  /** The step whose row is outlined and below which nothing is shown (-1: none). */
  current = -1;
  /** An element laid over the canvas that outlines the current row, so its shading stays visible. */
  readonly marker: HTMLElement | null;

  constructor(canvas: HTMLCanvasElement, marker: HTMLElement | null = null) {
    this.canvas = canvas;
    this.marker = marker;
    this.ctx = canvasContext(canvas);
  }

  private get n(): number {
    return this.source.n;
  }

  private get T(): number {
    return this.source.T;
  }

  /** The step t and slot i under a point of the displayed canvas (fractions 0 … 1 of its size);
   * only shown rows count. */
  cellAt(fx: number, fy: number): { t: number; i: number } | null {
    const t = Math.floor(fy * (this.T + 1)) - 1; // row t sits level with h_{t+1}
    const i = Math.floor(fx * (this.T + 1));
    return t >= 0 && t < this.T && t <= this.current && i >= 0 && i <= t ? { t, i } : null;
  }

  /** Take the weights from `source` (the widget's MatrixLevels): only the pixel
   * rows that changed since the last sync are painted into the image. */
  sync(source: MatrixLevels): void {
    if (source !== this.source || source.epoch !== this.epoch) {
      this.source = source;
      this.epoch = source.epoch;
      this.seen = 0;
      this.canvas.width = source.n;
      this.canvas.height = source.n;
      this.image = this.ctx ? this.ctx.createImageData(source.n, source.n) : null;
      this.dirty = true;
    }
    const { changed } = source;
    for (; this.seen < changed.length; this.seen++) {
      const y = changed[this.seen];
      this.paintRow(y);
      this.dirtyFrom = Math.min(this.dirtyFrom, y);
      this.dirtyTo = Math.max(this.dirtyTo, y + 1);
    }
  }

  /** The pixel column (or row) of slot i. */
  pixel(i: number): number {
    return this.source.pixel(i);
  }

  /** Colours for a dark background: empty and near-zero cells dark, strong weights light. */
  setDark(dark: boolean): void {
    if (dark === this.dark) return;
    this.dark = dark;
    if (!this.image) return;
    for (let y = 0; y < this.n; y++) this.paintRow(y);
    this.dirty = true;
  }

  private paintRow(y: number): void {
    if (!this.image) return;
    const { levels, n } = this.source;
    const d = this.image.data;
    for (let p = y * n; p < (y + 1) * n; p++) {
      const u = levels[p];
      if (u < 0) continue;
      const rgb = weightKey(u, this.dark); // packed: no array a pixel
      d[4 * p] = rgb >> 16;
      d[4 * p + 1] = (rgb >> 8) & 255;
      d[4 * p + 2] = rgb & 255;
      d[4 * p + 3] = 255;
    }
  }

  /** Show the rows of steps 0 … current and outline the current one.  Only
   * the pixel rows that changed are copied: a step forward adds one row, a
   * step back clears one, whatever the matrix's size. */
  draw(): void {
    const shown = this.current >= 0 ? Math.min(this.n, this.pixel(this.current + 1) + 1) : 0;
    const { ctx, image, n } = this;
    if (ctx && image) {
      const put = (from: number, to: number) => {
        if (to > from) ctx.putImageData(image, 0, 0, 0, from, n, to - from);
      };
      if (this.dirty || this.shownRows < 0) {
        ctx.clearRect(0, 0, n, n);
        put(0, shown);
      } else {
        if (shown < this.shownRows) ctx.clearRect(0, shown, n, this.shownRows - shown);
        put(this.shownRows, shown); // rows newly shown
        put(this.dirtyFrom, Math.min(this.dirtyTo, this.shownRows, shown)); // shown rows with new weights
      }
    }
    this.dirty = false;
    this.dirtyFrom = Infinity;
    this.dirtyTo = 0;
    this.shownRows = shown;
    if (!this.marker) return;
    const on = this.current >= 0 && this.current < this.T;
    this.marker.style.display = on ? "" : "none";
    if (!on) return;
    const pct = (pixels: number) => `${(100 * pixels) / this.n}%`;
    this.marker.style.top = pct(this.pixel(this.current + 1));
    this.marker.style.height = pct(1);
    this.marker.style.width = pct(this.pixel(this.current) + 1);
  }

  /** Where column i's shown cells lie, as percentages of the matrix's side: from
   * row i (the first step that could read slot i) down to the current row; null
   * where no shown row reads it.  A hidden slot's mark (a knockout) covers them. */
  columnBox(i: number): { left: number; width: number; top: number; height: number } | null {
    if (this.current < i || i < 0 || i > this.T) return null;
    const x = this.pixel(i);
    const end = i + 1 > this.T ? this.n : Math.max(x + 1, this.pixel(i + 1));
    const top = this.pixel(i + 1 > this.T ? this.T : i + 1);
    const bottom = this.pixel(Math.min(this.T, this.current + 1)) + 1;
    const pct = (pixels: number) => (100 * pixels) / this.n;
    return { left: pct(x), width: pct(end - x), top: pct(top), height: pct(Math.max(1, bottom - top)) };
  }

  /** Bars of one α row on the matrix's columns: slot i over column i, full height = 1. */
  drawBars(canvas: HTMLCanvasElement, alpha: Float32Array | null): void {
    const n = this.n;
    const drawn = this.barsDrawn;
    if (drawn && drawn.alpha === alpha && drawn.n === n && drawn.dark === this.dark) return;
    if (drawn) {
      drawn.alpha = alpha;
      drawn.n = n;
      drawn.dark = this.dark;
    } else this.barsDrawn = { alpha, n, dark: this.dark };
    const ctx = canvasContext(canvas);
    if (canvas.width !== n) canvas.width = n; // resizing reallocates the canvas
    if (canvas.height !== BAR_PIXELS) canvas.height = BAR_PIXELS;
    if (!ctx) return;
    ctx.clearRect(0, 0, n, BAR_PIXELS);
    if (!alpha || alpha.length === 0) return;
    if (this.tall.length !== n) this.tall = new Float32Array(n);
    const tall = this.tall; // a shared column shows its largest weight
    tall.fill(0);
    for (let i = 0; i < alpha.length; i++) tall[this.pixel(i)] = Math.max(tall[this.pixel(i)], alpha[i]);
    const gap = n / (this.T + 1) >= 4 ? 1 : 0; // a gap between bars only where columns are wide
    for (let i = 0; i < alpha.length; i++) {
      const x = this.pixel(i);
      const end = i + 1 > this.T ? n : this.pixel(i + 1);
      const h = Math.round(tall[x] * (BAR_PIXELS - 1));
      if (h <= 0) continue;
      ctx.fillStyle = cssRgb(weightKey(Math.max(tall[x], 0.35), this.dark)); // light bars stay visible
      ctx.fillRect(x, BAR_PIXELS - h, Math.max(1, end - x - gap), h);
    }
  }
}

/** Characters that stand upright in a column of text: Chinese, Japanese and
 * Korean letters, their punctuation and full-width forms, and emoji (with
 * their modifiers, joiners and marks). */
const UPRIGHT =
  /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Bopomofo}\p{Extended_Pictographic}\p{Emoji_Modifier}\p{M}\u200d\u3000-\u303f\u30fb\u30fc\uff01-\uff60\uffe0-\uffe6\ufe10-\ufe19\ufe30-\ufe4f]+$/u;

/** The most characters an upright column label shows; a longer one fades out
 * after them (its title holds it whole). */
export const UPRIGHT_CHARS = 4;

/** The longest a label runs, in ems of its axis's font (CSS `.aw-axis-label`). */
export const LABEL_EM = 4.6;

let measurer: CanvasRenderingContext2D | null | undefined;
/** The font last set on the measurer (its getter gives the font back normalised). */
let measurerFont = "";

/**
 * Whether a text may run past LABEL_EM in `axis`'s font: measured on a canvas,
 * with a margin for the fonts a browser falls back to; true where nothing can
 * be measured (a test's DOM).  Clipping with an ellipsis (overflow: hidden) gives
 * a label a clip of its own, a paint chunk that the browser lays into layers at
 * every Play frame (60 labels a view: a sixth of a two-view frame in JupyterLab),
 * so only a label that may need it clips.  The axis's font is read once, when the
 * test is made: make one per axis per draw, not one per label.
 */
export function overflowTest(axis: HTMLElement): (text: string) => boolean {
  if (measurer === undefined) measurer = canvasContext(document.createElement("canvas"));
  const ctx = measurer;
  if (!ctx || !axis.isConnected) return () => true;
  const style = getComputedStyle(axis);
  const size = Number.parseFloat(style.fontSize);
  if (!(size > 0)) return () => true;
  const font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  // a bold current label is wider by a tenth or so: a fifth to spare
  const limit = 0.8 * LABEL_EM * size;
  return (text) => {
    if (measurerFont !== font) ctx.font = measurerFont = font; // another axis may have set its own
    return ctx.measureText(text).width > limit;
  };
}

/** Labels are measured in the fonts of the moment: when fonts finish loading (a
 * web font that arrives late) or the theme changes (`fontsChanged`), every axis
 * is measured again at its next draw. */
let fontGeneration = 0;
let fontsWatched = false;

/** The page's fonts may have changed: measure every axis's labels again. */
export function fontsChanged(): void {
  fontGeneration++;
}

/** Labels laid while their axis was off the page (a view is built before it is
 * shown), where no font can be read, all clip: once the axis is on the page,
 * measure them; and again after `fontsChanged`.  Cheap to call at every draw:
 * a lookup, until there is work. */
export function measureLabels(container: HTMLElement): void {
  if (!fontsWatched && typeof document !== "undefined") {
    fontsWatched = true;
    document.fonts?.addEventListener?.("loadingdone", fontsChanged);
  }
  if (!container.isConnected || (!unmeasured.has(container) && measuredAt.get(container) === fontGeneration)) return;
  unmeasured.delete(container);
  measuredAt.set(container, fontGeneration);
  const mayOverflow = overflowTest(container);
  for (const span of container.children) {
    if (!span.classList.contains("is-upright")) span.classList.toggle("is-long", mayOverflow(span.textContent ?? ""));
  }
}

/**
 * Whether a column label is set upright, one character under the next (a
 * token written wholly in CJK characters or emoji), rather than on its side.
 * Upright labels are laid out as horizontal lines one character wide, not in
 * vertical writing: a CJK font without vertical metrics (WenQuanYi Micro Hei)
 * draws upright vertical text half a character below its box, where it is cut off.
 */
export function isUpright(label: string): boolean {
  return UPRIGHT.test(label) && !/^\p{M}+$/u.test(label);
}

/**
 * Token labels along one axis of the matrix: `labels[i]` at slot i for
 * i = first … last, spread over `slots` slots, at most one label per LABEL_PX
 * of `lengthPx`, always including the last.  Text only (textContent), never markup.
 * A label in CJK characters or emoji is marked `is-upright` (see isUpright), and
 * one longer than UPRIGHT_CHARS also `is-cut`; the column axis's CSS sets them.
 * A label that may be longer than LABEL_EM is marked `is-long`, and only such a
 * label clips its text with an ellipsis (see overflowTest).
 */
const axisWords = new WeakMap<HTMLElement, string[]>();
/** Axes laid while off the page: every label on its side clips until they are measured. */
const unmeasured = new WeakSet<HTMLElement>();
/** The font generation each axis's labels were measured in. */
const measuredAt = new WeakMap<HTMLElement, number>();

export function layAxisLabels(
  container: HTMLElement,
  labels: string[],
  slots: number,
  lengthPx: number,
  last: number,
  first = 0,
): void {
  const every = Math.max(1, Math.ceil((LABEL_PX * slots) / Math.max(1, lengthPx)));
  const want: number[] = [];
  for (let i = first; i <= last && i < labels.length; i += every) want.push(i);
  const end = Math.min(last, labels.length - 1);
  if (end >= first && want[want.length - 1] !== end) {
    if (want.length > 1 && end - want[want.length - 1] < every) want.pop();
    want.push(end);
  }
  const key = `${slots}|${lengthPx}|${want.join(",")}`;
  // The same places with the same words (an edit keeps T but changes a word).
  const words = want.map((i) => labels[i]);
  const drawn = axisWords.get(container);
  if (container.dataset.key === key && drawn && drawn.every((w, n) => w === words[n])) return;
  if (container.isConnected) {
    unmeasured.delete(container);
    measuredAt.set(container, fontGeneration);
  } else unmeasured.add(container);
  container.dataset.key = key;
  axisWords.set(container, words);
  const mayOverflow = overflowTest(container);
  container.replaceChildren(
    ...want.map((i) => {
      const span = document.createElement("span");
      span.className = "aw-axis-label";
      if (isUpright(labels[i])) {
        span.classList.add("is-upright");
        if ([...labels[i]].length > UPRIGHT_CHARS) span.classList.add("is-cut");
      }
      else if (mayOverflow(labels[i])) span.classList.add("is-long");
      span.dir = "auto"; // Arabic and Hebrew labels run in their own direction
      span.dataset.slot = String(i);
      span.textContent = labels[i];
      span.title = labels[i];
      span.style.setProperty("--at", `${((i + 0.5) * 100) / slots}%`);
      return span;
    }),
  );
}

