// A vector as a strip of coloured cells on a symmetric diverging scale.

import { divergingColor, formatFloat32 } from "./format";

export interface StripOptions {
  /** symmetric scale: colours saturate at ±scale */
  scale: number;
  /** name of the vector, for the tooltip of each cell: name[i] = value */
  name: string;
}

export function renderStrip(el: HTMLElement, values: ArrayLike<number> | null, { scale, name }: StripOptions): void {
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
    const v = values![i];
    cell.style.backgroundColor = divergingColor(v, scale);
    cell.title = `${name}[${i}] = ${formatFloat32(v)}`;
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
