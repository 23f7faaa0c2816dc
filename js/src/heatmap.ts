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
 * Draw `values` as one row of cells across the strip's width: a single
 * element whose background is a gradient with a hard stop per value (a strip
 * never wraps, and a new step restyles one element, not one per value, and
 * adds no canvas for the compositor to place).  null draws an empty strip,
 * hatched so that it cannot be read as zeros.  Drawing the same array at the
 * same scale again writes nothing.  `data-cells` holds the number of values.
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
  el.style.backgroundImage = n === 0 ? "" : gradientOf(values!, scale, dark);
}

// The gradient of one array at one scale, built once however many strips draw
// it: every view of a widget draws the same step, and one step's h is drawn
// again as the next step's h_{k-1}.
const gradients = new WeakMap<object, { scale: number; dark: boolean; css: string }>();

function gradientOf(values: ArrayLike<number>, scale: number, dark: boolean): string {
  const hit = gradients.get(values);
  if (hit && hit.scale === scale && hit.dark === dark) return hit.css;
  const css = stripGradient(values, scale, dark);
  gradients.set(values, { scale, dark, css });
  return css;
}

/** `linear-gradient(to right, c0 0% w%, c1 w% 2w%, …)`: value i fills [i/n, (i+1)/n) of the width.
 * The browser parses the string for each strip at every step (with two views
 * of H = 256, a third of a Play frame's script), so it is short: neighbours of
 * one colour share a stop, colours are #rrggbb (half the parse of rgb(…)), and
 * edges carry no trailing zeros. */
export function stripGradient(values: ArrayLike<number>, scale: number, dark = false): string {
  const n = values.length;
  const at = edges(n);
  const colour = palette(dark);
  const stops: string[] = [];
  for (let i = 0; i < n; ) {
    const c = colour(values[i], scale);
    let j = i + 1;
    while (j < n && colour(values[j], scale) === c) j++;
    stops.push(`${c} ${at[i]} ${at[j]}`);
    i = j;
  }
  return `linear-gradient(to right, ${stops.length === 1 ? `${stops[0]}, ${stops[0]}` : stops.join(", ")})`;
}

// A strip is redrawn at every step, so its colours come from a table: the
// scale's 2·LEVELS+1 colours (the channels are whole numbers, so finer steps
// would not change a pixel), and the n+1 cell edges for each strip length.
const LEVELS = 256;
const palettes = new Map<boolean, string[]>();
const edgeLists = new Map<number, string[]>();

function palette(dark: boolean): (v: number, scale: number) => string {
  let table = palettes.get(dark);
  if (!table) {
    table = [];
    for (let j = -LEVELS; j <= LEVELS; j++) {
      const [r, g, b] = divergingRGB(j / LEVELS, 1, dark);
      table.push(`#${((1 << 24) | (r << 16) | (g << 8) | b).toString(16).slice(1)}`);
    }
    palettes.set(dark, table);
  }
  const colours = table;
  return (v, scale) => {
    if (!Number.isFinite(v)) return "#808080";
    const u = scale > 0 ? Math.max(-1, Math.min(1, v / scale)) : 0;
    return colours[Math.round(u * LEVELS) + LEVELS];
  };
}

function edges(n: number): string[] {
  let list = edgeLists.get(n);
  if (!list) {
    list = Array.from({ length: n + 1 }, (_, i) => `${Number(((100 * i) / n).toFixed(4))}%`);
    edgeLists.set(n, list);
  }
  return list;
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
