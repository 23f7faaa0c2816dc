// The attention panel: the bars of α_{k-1,·} over the matrix's columns, the
// rows so far as a triangle, and the tokens on both axes (row j read x_j;
// column i is slot i).  matrix.ts draws the canvas and lays the labels.

import type { Controller } from "../controller";
import { el, setDisplay } from "../dom";
import { formatFloat32 } from "../format";
import { AlphaMatrix, fontsChanged, layAxisLabels, measureLabels } from "../matrix";
import { START_LABEL } from "../tokens";
import type { Frame } from "./frame";

/** The matrix's side in CSS pixels: room for a label per slot on short sequences, bounded. */
export function matrixSide(T: number): number {
  return Math.min(360, Math.max(200, 16 * (T + 1)));
}

export class AttentionPanel {
  readonly el = el("div", "aw-panel aw-attention");
  private readonly grid = el("div", "aw-attention-grid");
  private readonly bars = el("canvas", "aw-bars");
  private readonly rowLabels = el("div", "aw-axis aw-rows");
  private readonly colLabels = el("div", "aw-axis aw-cols");
  private readonly matrix: AlphaMatrix;
  private side = 0; // the matrix's side in CSS pixels, as set
  private labelsFor: HTMLElement[] | null = null;
  private currentRowLabel: Element | null = null;
  private readonly matrixBox: HTMLElement;
  /** A hatched mark over each hidden slot's column (a knockout), by slot. */
  private readonly hiddenMarks = new Map<number, HTMLElement>();

  constructor(ctl: Controller) {
    this.el.append(el("div", "aw-panel-title", "attention α: this step (bars, full height = 1) and the steps so far"));
    this.bars.setAttribute("aria-label", "attention weights of the current step, one bar per slot");
    const matrixCanvas = el("canvas", "aw-matrix");
    matrixCanvas.setAttribute("aria-label", "attention matrix: row j holds the weights used to read x_j");
    const matrixBox = (this.matrixBox = el("div", "aw-matrix-box"));
    const rowMarker = el("div", "aw-matrix-row");
    matrixBox.append(matrixCanvas, rowMarker);
    this.grid.append(el("div"), this.bars, this.rowLabels, matrixBox, el("div"), this.colLabels);
    this.el.append(this.grid);
    this.matrix = new AlphaMatrix(matrixCanvas, rowMarker);
    matrixCanvas.addEventListener("mousemove", (event) => {
      const box = matrixCanvas.getBoundingClientRect();
      const cell = this.matrix.cellAt(
        (event.clientX - box.left) / box.width,
        (event.clientY - box.top) / box.height,
      );
      // a row the store has dropped (far from the position) has no tooltip
      const a = cell ? ctl.store.get(cell.t)?.alpha?.[cell.i] : undefined;
      matrixCanvas.title = cell && a !== undefined ? `α(${cell.t},${cell.i}) = ${formatFloat32(a)}` : "";
    });
  }

  setDark(dark: boolean): void {
    fontsChanged(); // a new theme may bring its own fonts: the labels are measured again
    this.matrix.setDark(dark);
  }

  /** `tokenEls` is the token strip's elements: the axis labels are laid again when it is rebuilt. */
  render({ ctl, k, T, step, tokens, attends, hidden }: Frame, tokenEls: HTMLElement[]): void {
    setDisplay(this.el, attends);
    if (!attends) return;
    const { matrix } = this;
    const side = matrixSide(T);
    if (side !== this.side) {
      this.side = side;
      this.grid.style.setProperty("--aw-side", `${side}px`);
    }
    matrix.sync(ctl.matrixRows()); // the rows that arrived since the last draw
    matrix.current = k - 1;
    matrix.draw();
    matrix.drawBars(this.bars, step?.alpha ?? null);
    if (this.labelsFor !== tokenEls) {
      this.labelsFor = tokenEls; // the labels follow the token strip, rebuilt with it
      this.currentRowLabel = null;
      layAxisLabels(this.colLabels, [START_LABEL, ...tokens], T + 1, side, T);
      layAxisLabels(this.rowLabels, [START_LABEL, ...tokens], T + 1, side, T, 1);
    }
    measureLabels(this.colLabels);
    measureLabels(this.rowLabels);
    this.markHidden(hidden);
    const label = k > 0 ? this.rowLabels.querySelector(`[data-slot="${k}"]`) : null;
    if (label !== this.currentRowLabel) {
      this.currentRowLabel?.classList.remove("is-current");
      label?.classList.add("is-current");
      this.currentRowLabel = label;
    }
  }

  /** Hatch the columns of the slots hidden from attention (their α is 0 by
   * construction, not by choice) over the rows shown, and strike their labels. */
  private markHidden(hidden: ReadonlySet<number>): void {
    for (const [i, mark] of this.hiddenMarks) {
      if (hidden.has(i)) continue;
      mark.remove();
      this.hiddenMarks.delete(i);
    }
    for (const i of hidden) {
      let mark = this.hiddenMarks.get(i);
      if (!mark) {
        mark = el("div", "aw-matrix-hidden");
        mark.dataset.slot = String(i);
        this.matrixBox.appendChild(mark);
        this.hiddenMarks.set(i, mark);
      }
      const box = this.matrix.columnBox(i);
      setDisplay(mark, box !== null);
      if (box) {
        const style = mark.style;
        const set = (name: "left" | "width" | "top" | "height", v: number) => {
          const value = `${v}%`;
          if (style[name] !== value) style[name] = value;
        };
        set("left", box.left);
        set("width", box.width);
        set("top", box.top);
        set("height", box.height);
      }
    }
    for (const label of this.colLabels.children) {
      const slot = Number((label as HTMLElement).dataset.slot);
      if (label.classList.contains("is-hidden") !== hidden.has(slot)) label.classList.toggle("is-hidden", hidden.has(slot));
    }
  }
}
