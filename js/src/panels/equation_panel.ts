// The "this step" panel: the update's equations, typeset, and the pieces of
// the step as strips: z's blocks, A·z + b and h for a SelfAttentionRNN, the
// gates, ĉ, m and h for an LSTMN.  equation.ts builds the formulas.

import { el, setDisplay, setText } from "../dom";
import {
  affineMath, alignMath, KNOWN_UPDATES, lstmnDepartures, ownPreMath, lstmnAttendMath, lstmnCellMath, lstmnPieceMath, nextHiddenMath, splitZ,
  typeset, updateMath, zBlockMath,
} from "../equation";
import { maxAbs } from "../format";
import { renderStrip } from "../heatmap";
import type { StepData } from "../protocol";
import type { Frame } from "./frame";
import { STRIP_CELL_PX } from "./states";

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

export class EquationPanel {
  readonly el = el("div", "aw-panel aw-equation-panel");
  private readonly alignEq = el("div", "aw-equation aw-align-eq");
  private readonly updateEq = el("div", "aw-equation aw-update-eq");
  private readonly pieces = el("div", "aw-pieces");
  private readonly departures = el("div", "aw-departures");
  private pieceStrips: {
    z: HTMLElement[]; pre: HTMLElement | null; preName: string; h: HTMLElement; note: HTMLElement; lstmn: HTMLElement[];
  } | null = null;
  private equationKey = "";

  constructor() {
    this.el.append(el("div", "aw-panel-title", "this step"));
    this.el.append(this.alignEq, this.updateEq, this.departures, this.pieces);
  }

  render({ ctl, k, H, step, dark }: Frame): void {
    const model = ctl.model;
    const update = model.get("update_rule") ?? "eq4";
    const align = model.get("align_name") ?? "";
    const layout: [string, number][] = model.get("z_layout") ?? [];
    const lstmn = update === "lstmn";
    const zeroSlot = model.get("zero_slot") !== false;
    const ekey = `${update}|${align}|${JSON.stringify(layout)}|${zeroSlot}`;
    if (ekey !== this.equationKey) {
      this.equationKey = ekey;
      if (lstmn) {
        typeset(this.alignEq, lstmnAttendMath());
        typeset(this.updateEq, lstmnCellMath());
      } else {
        if (update === "eq1") this.alignEq.textContent = "";
        else typeset(this.alignEq, alignMath(align));
        typeset(this.updateEq, updateMath(update, layout));
      }
      setText(this.departures, lstmn ? lstmnDepartures(zeroSlot) : "");
      setDisplay(this.departures, lstmn);
      this.buildPieces(lstmn ? [] : layout, lstmn, H, !lstmn && !KNOWN_UPDATES.includes(update));
    }
    const strips = this.pieceStrips!;
    setText(strips.note, k > 0 ? `step ${k - 1}` : "nothing read yet: h_0 = 0");
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
    if (strips.pre) renderStrip(strips.pre, step?.pre ?? null, { scale: step?.pre ? maxAbs(step.pre) || 1 : 1, name: strips.preName, dark });
    renderStrip(strips.h, step?.h ?? null, { scale: 1, name: "h", dark });
  }

  /** `own`: a model of the user's own (an update rule the widget does not know): its
   * record's `pre` is shown as "pre", made from z by the model's own update, not A·z + b. */
  private buildPieces(layout: [string, number][], lstmn: boolean, H: number, own = false): void {
    const pieces = this.pieces;
    pieces.replaceChildren();
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
      this.pieceStrips = { z: [], pre: null, preName: "", h: stripOf(lstmnPieces[5]), note, lstmn: lstmnPieces.map(stripOf) };
      return;
    }
    const zPieces = layout.map(([name, size], i) => piece(zBlockMath(name), `z${i}`, size));
    const pre = piece(own ? ownPreMath() : affineMath(), "pre", H);
    const h = piece(nextHiddenMath(), "h", H);
    row.append(...zPieces, el("span", "aw-arrow", "→"), pre, el("span", "aw-arrow", own ? "→ … →" : "→ tanh →"), h);
    this.pieceStrips = { z: zPieces.map(stripOf), pre: stripOf(pre), preName: own ? "pre" : "A·z+b", h: stripOf(h), note, lstmn: [] };
  }
}
