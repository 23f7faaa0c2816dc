// A vector as a strip of coloured cells on a symmetric diverging scale.

import { canvasContext } from "./dom";
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

/** What a strip shows now: its name and its values (null while it has none),
 * as its tooltip gives them cell by cell; the values table (panels/values.ts)
 * lists them, so that a keyboard reaches every value a pointer does. */
export function stripValues(strip: HTMLElement): { name: string; values: ArrayLike<number> } | null {
  const data = shown.get(strip);
  return data && data.values && data.values.length > 0 ? { name: data.name, values: data.values } : null;
}

const watched = new WeakSet<HTMLElement>();

function watch(el: HTMLElement): void {
  if (watched.has(el)) return;
  watched.add(el);
  el.addEventListener("mousemove", showValue);
}

/**
 * Draw `values` as one row of cells across the strip's width: a canvas of n × 1
 * pixels inside the strip, stretched to its width with no smoothing, one pixel
 * a value.  A new step writes n pixels with one putImageData, and the browser
 * paints the strip as one image: a CSS gradient of n hard stops (what this
 * drew before) was parsed, resolved and painted again for every strip at every
 * step, a third of a Play frame's paint with two views of H = 256.  null draws
 * an empty strip, hatched so that it cannot be read as zeros.  Drawing the same
 * array at the same scale again writes nothing.  `data-cells` holds the number
 * of values.
 */
export function renderStrip(el: HTMLElement, values: ArrayLike<number> | null, options: StripOptions): void {
  const { scale, name, dark = false } = options;
  watch(el);
  const before = shown.get(el);
  if (before && before.values === values && before.scale === scale && before.dark === dark) {
    before.name = name;
    return;
  }
  shown.set(el, { values, scale, name, dark });
  const n = values ? values.length : 0;
  el.classList.toggle("is-empty", n === 0);
  if (el.getAttribute("data-cells") !== String(n)) el.setAttribute("data-cells", String(n));
  let canvas = el.firstElementChild as HTMLCanvasElement | null;
  if (n === 0) {
    canvas?.remove();
    return;
  }
  if (!canvas) {
    canvas = document.createElement("canvas");
    canvas.setAttribute("aria-hidden", "true");
    canvas.height = 1;
    el.appendChild(canvas);
  }
  if (canvas.width !== n) canvas.width = n;
  const ctx = canvasContext(canvas);
  if (!ctx) return; // no 2D canvas (a test's DOM): the strip keeps its values for tooltips and tables
  let image = images.get(canvas);
  if (!image || image.width !== n) images.set(canvas, (image = ctx.createImageData(n, 1)));
  stripPixels(values!, scale, dark, image.data);
  ctx.putImageData(image, 0, 0);
}

/** Each strip's image, written again at every step (no garbage a step). */
const images = new WeakMap<HTMLCanvasElement, ImageData>();

/** The strip's pixels: value i's colour at pixel i, as r, g, b, 255 (an n × 1 RGBA
 * image), written into `into` (4n bytes) or a new array. */
export function stripPixels(values: ArrayLike<number>, scale: number, dark = false, into?: Uint8ClampedArray): Uint8ClampedArray {
  const n = values.length;
  const bytes = into ?? new Uint8ClampedArray(4 * n);
  const rgba = new Uint32Array(bytes.buffer, bytes.byteOffset, n);
  const colours = palette(dark);
  // In one loop, not through a function a pixel: a pixel's four bytes as one
  // uint32 exceed a small integer, and every call returning one made a heap number.
  const scaled = scale > 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const u = scaled ? Math.max(-1, Math.min(1, v / scale)) : 0;
    rgba[i] = Number.isFinite(v) ? colours[Math.round(u * LEVELS) + LEVELS] : GREY;
  }
  return bytes;
}

// A strip is redrawn at every step, so its colours come from a table: the
// scale's 2·LEVELS+1 colours (the channels are whole numbers, so finer steps
// would not change a pixel), each as the four bytes r, g, b, 255 of one pixel.
const LEVELS = 256;
const palettes = new Map<boolean, Uint32Array>();
const GREY = new Uint32Array(new Uint8ClampedArray([128, 128, 128, 255]).buffer)[0];

/** The scale's colours, colour j (−LEVELS … LEVELS, i.e. v/scale = j/LEVELS) at j + LEVELS. */
function palette(dark: boolean): Uint32Array {
  let table = palettes.get(dark);
  if (!table) {
    const bytes = new Uint8ClampedArray(4 * (2 * LEVELS + 1));
    for (let j = -LEVELS; j <= LEVELS; j++) bytes.set([...divergingRGB(j / LEVELS, 1, dark), 255], 4 * (j + LEVELS));
    table = new Uint32Array(bytes.buffer);
    palettes.set(dark, table);
  }
  return table;
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
