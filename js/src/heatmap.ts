// A vector as a strip of coloured cells on a symmetric diverging scale.

import { divergingColor, formatFloat32 } from "./format";

export interface StripOptions {
  /** symmetric scale: colours saturate at ±scale */
  scale: number;
  /** name of the vector, for the tooltip of each cell: name[i] = value */
  name: string;
  /** colours for a dark background */
  dark?: boolean;
}

// What each strip shows, for the tooltip written when a cell is hovered
// (writing ~H titles per strip on every render would cost more than the colours),
// and to skip a draw that would change nothing.
const shown = new WeakMap<HTMLElement, StripOptions & { values: ArrayLike<number> | null }>();

function showValue(event: Event): void {
  const strip = event.currentTarget as HTMLElement;
  const cell = event.target as HTMLElement;
  const data = shown.get(strip);
  if (!data || !data.values || cell.parentElement !== strip) return;
  const i = Array.prototype.indexOf.call(strip.children, cell);
  if (i < data.values.length) cell.title = `${data.name}[${i}] = ${formatFloat32(data.values[i])}`;
}

/**
 * Draw `values` as one row of cells that share the strip's width (a strip
 * never wraps).  null draws an empty strip, hatched so that it cannot be read
 * as zeros.  Drawing the same array at the same scale again writes nothing.
 */
export function renderStrip(el: HTMLElement, values: ArrayLike<number> | null, options: StripOptions): void {
  const { scale, name, dark = false } = options;
  if (!el.dataset.hover) {
    el.dataset.hover = "value";
    el.addEventListener("mouseover", showValue);
  }
  const before = shown.get(el);
  if (before && before.values === values && before.scale === scale && before.dark === dark) {
    before.name = name;
    return;
  }
  shown.set(el, { values, scale, name, dark });
  const n = values ? values.length : 0;
  while (el.childElementCount > n) el.lastElementChild!.remove();
  while (el.childElementCount < n) {
    const cell = document.createElement("span");
    cell.className = "aw-cell";
    el.appendChild(cell);
  }
  el.classList.toggle("is-empty", n === 0);
  for (let i = 0; i < n; i++) {
    const cell = el.children[i] as HTMLElement;
    cell.style.backgroundColor = divergingColor(values![i], scale, dark);
    cell.removeAttribute("title");
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
