// A vector as a strip of coloured cells on a symmetric diverging scale.

import { divergingRGB, formatFloat32 } from "./format";

export interface StripOptions {
  /** symmetric scale: colours saturate at ±scale */
  scale: number;
  /** name of the vector, for the tooltip of each cell: name[i] = value */
  name: string;
  /** colours for a dark background */
  dark?: boolean;
}

// What each strip shows, for the tooltip written when the pointer is over it,
// and to skip a draw that would change nothing.
const shown = new WeakMap<HTMLElement, StripOptions & { values: ArrayLike<number> | null }>();

function showValue(event: MouseEvent): void {
  const strip = event.currentTarget as HTMLElement;
  const data = shown.get(strip);
  if (!data || !data.values || data.values.length === 0) {
    strip.removeAttribute("title");
    return;
  }
  const box = strip.getBoundingClientRect();
  const n = data.values.length;
  const i = box.width > 0 ? Math.min(n - 1, Math.max(0, Math.floor(((event.clientX - box.left) / box.width) * n))) : 0;
  strip.title = `${data.name}[${i}] = ${formatFloat32(data.values[i])}`;
}

function canvasOf(el: HTMLElement): HTMLCanvasElement {
  let canvas = el.firstElementChild as HTMLCanvasElement | null;
  if (!canvas || canvas.tagName !== "CANVAS") {
    canvas = document.createElement("canvas");
    canvas.className = "aw-strip-canvas";
    canvas.height = 1;
    el.replaceChildren(canvas);
    el.addEventListener("mousemove", showValue);
  }
  return canvas;
}

/**
 * Draw `values` as one row of cells across the strip's width, one canvas
 * pixel a value, stretched (a strip never wraps, and a new step restyles no
 * element: the browser repaints one canvas).  null draws an empty strip,
 * hatched so that it cannot be read as zeros.  Drawing the same array at the
 * same scale again writes nothing.  `data-cells` holds the number of values.
 */
export function renderStrip(el: HTMLElement, values: ArrayLike<number> | null, options: StripOptions): void {
  const { scale, name, dark = false } = options;
  const canvas = canvasOf(el);
  const before = shown.get(el);
  if (before && before.values === values && before.scale === scale && before.dark === dark) {
    before.name = name;
    return;
  }
  shown.set(el, { values, scale, name, dark });
  const n = values ? values.length : 0;
  el.classList.toggle("is-empty", n === 0);
  el.dataset.cells = String(n);
  canvas.style.visibility = n === 0 ? "hidden" : "";
  if (n === 0) return;
  if (canvas.width !== n) canvas.width = n;
  const ctx = context(canvas);
  if (!ctx) return;
  const image = ctx.createImageData(n, 1);
  for (let i = 0; i < n; i++) {
    const [r, g, b] = divergingRGB(values![i], scale, dark);
    image.data.set([r, g, b, 255], 4 * i);
  }
  ctx.putImageData(image, 0, 0);
}

function context(canvas: HTMLCanvasElement): CanvasRenderingContext2D | null {
  // jsdom (unit tests) has no canvas and logs an error on every call
  if (typeof navigator !== "undefined" && /jsdom/i.test(navigator.userAgent)) return null;
  try {
    return canvas.getContext("2d");
  } catch {
    return null;
  }
}

/** A labelled strip: <div class="aw-vector"><span label/><div strip/></div>. */
export function makeVectorRow(label: string, hint: string): { row: HTMLElement; strip: HTMLElement; value: HTMLElement } {
  const row = document.createElement("div");
  row.className = "aw-vector";
  const lab = document.createElement("span");
  lab.className = "aw-vector-label";
  lab.textContent = label;
  lab.title = hint;
  const strip = document.createElement("div");
  strip.className = "aw-strip";
  const value = document.createElement("span");
  value.className = "aw-vector-note";
  row.append(lab, strip, value);
  return { row, strip, value };
}
