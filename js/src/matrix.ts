// The lower-triangular α matrix on a canvas, filled row by row as steps
// arrive.  Row t holds α_{t,0 … t}.  For long sequences several rows and
// columns share a pixel (the pixel keeps the largest weight), so memory and
// drawing stay bounded by MAX_PIXELS² whatever T is.

import { weightRGB } from "./format";
import type { StepData } from "./protocol";

export const MAX_PIXELS = 768;

export class AlphaMatrix {
  readonly canvas: HTMLCanvasElement;
  private ctx: CanvasRenderingContext2D | null;
  private image: ImageData | null = null;
  private levels = new Float32Array(0);
  private n = 0; // pixels per side
  private T = 0;
  private rows = new Set<number>();
  private dirty = true;
  current = -1;
  /** An element laid over the canvas that outlines the current row, so its shading stays visible. */
  readonly marker: HTMLElement | null;

  constructor(canvas: HTMLCanvasElement, marker: HTMLElement | null = null) {
    this.canvas = canvas;
    this.marker = marker;
    this.ctx = safeContext(canvas);
  }

  /** The step t and slot i under a point of the displayed canvas (fractions 0 … 1 of its size). */
  cellAt(fx: number, fy: number): { t: number; i: number } | null {
    const t = Math.floor(fy * (this.T + 1)) - 1; // row t sits level with h_{t+1}
    const i = Math.floor(fx * (this.T + 1));
    return t >= 0 && t < this.T && i >= 0 && i <= t ? { t, i } : null;
  }

  /** Start over for a sequence of T steps (T rows, T+1 columns). */
  reset(T: number): void {
    this.T = T;
    this.n = Math.max(1, Math.min(T + 1, MAX_PIXELS));
    this.canvas.width = this.n;
    this.canvas.height = this.n;
    this.rows.clear();
    this.levels = new Float32Array(this.n * this.n).fill(-1);
    this.image = this.ctx ? this.ctx.createImageData(this.n, this.n) : null;
    this.dirty = true;
  }

  pixel(i: number): number {
    return Math.min(this.n - 1, Math.floor((i * this.n) / (this.T + 1)));
  }

  hasRow(t: number): boolean {
    return this.rows.has(t);
  }

  get isDirty(): boolean {
    return this.dirty;
  }

  addStep(step: StepData): void {
    if (!step.alpha || this.rows.has(step.t) || step.t >= this.T) return;
    this.rows.add(step.t);
    const y = this.pixel(step.t + 1); // row t sits level with h_{t+1}, so the diagonal is h_t
    const a = step.alpha;
    const d = this.image ? this.image.data : null;
    for (let i = 0; i < a.length; i++) {
      const p = y * this.n + this.pixel(i);
      const u = a[i]; // absolute, as on the tokens: a spread-out row stays pale
      if (u <= this.levels[p]) continue; // a shared pixel keeps the strongest weight
      this.levels[p] = u;
      if (!d) continue;
      const [r, g, b] = weightRGB(u);
      d[4 * p] = r;
      d[4 * p + 1] = g;
      d[4 * p + 2] = b;
      d[4 * p + 3] = 255;
    }
    this.dirty = true;
  }

  draw(): void {
    if (this.dirty && this.ctx && this.image) this.ctx.putImageData(this.image, 0, 0);
    this.dirty = false;
    if (!this.marker) return;
    const on = this.current >= 0 && this.current < this.T;
    this.marker.style.display = on ? "" : "none";
    if (!on) return;
    const pct = (pixels: number) => `${(100 * pixels) / this.n}%`;
    this.marker.style.top = pct(this.pixel(this.current + 1));
    this.marker.style.height = pct(1);
    this.marker.style.width = pct(this.pixel(this.current) + 1);
  }
}

function safeContext(canvas: HTMLCanvasElement): CanvasRenderingContext2D | null {
  // jsdom (unit tests) has no canvas and logs an error on every call
  if (typeof navigator !== "undefined" && /jsdom/i.test(navigator.userAgent)) return null;
  try {
    return canvas.getContext("2d");
  } catch {
    return null; // jsdom without the canvas package
  }
}

/** Bars of the current α row, one per slot 0 … t. */
export function drawBars(canvas: HTMLCanvasElement, alpha: Float32Array | null, width: number, height: number): void {
  const ctx = safeContext(canvas);
  if (canvas.width !== width) canvas.width = width; // resizing reallocates the canvas
  if (canvas.height !== height) canvas.height = height;
  if (!ctx) return;
  ctx.clearRect(0, 0, width, height);
  if (!alpha || alpha.length === 0) return;
  const w = width / alpha.length;
  for (let i = 0; i < alpha.length; i++) {
    const h = alpha[i] * (height - 2); // the full height is α = 1
    const [r, g, b] = weightRGB(alpha[i]);
    ctx.fillStyle = `rgb(${Math.min(r, 200)}, ${Math.min(g, 190)}, ${b})`;
    ctx.fillRect(i * w, height - h, Math.max(1, w - (w > 3 ? 1 : 0)), h);
  }
}
