// The states panel: h_k, h_{k-1}, Δh and the context c_{k-1} (an LSTMN's h̃),
// and for an LSTMN the memory it read, m̃, and its new slot m_k.

import { el, setDisplay, setText } from "../dom";
import { divergingColor, formatShort, maxAbs } from "../format";
import { makeVectorRow, renderStrip } from "../heatmap";
import type { Frame } from "./frame";

/** The widest a strip's cell gets, in CSS pixels: small states do not stretch across the page. */
export const STRIP_CELL_PX = 14;

const zeroStates = new Map<number, Float32Array>();
/** h_0 = 0, one array per size, so drawing it twice is recognised as the same. */
export function zerosOf(H: number): Float32Array {
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

type Row = ReturnType<typeof makeVectorRow>;

export class StatesPanel {
  readonly el = el("div", "aw-panel aw-vectors");
  private readonly rows: { h: Row; hPrev: Row; dh: Row; c: Row; mTilde: Row; m: Row };
  private readonly legendBar = el("div", "aw-legend-bar");
  private sizedFor = -1; // the H the strips' widths were set for
  private kindShown = "";

  constructor() {
    this.el.append(el("div", "aw-panel-title", "states"));
    this.rows = {
      h: makeVectorRow("h_k", "the state after reading x_k"),
      hPrev: makeVectorRow("h_k-1", "the state before"),
      dh: makeVectorRow("Δh", "h_k − h_k-1: what this step changed"),
      c: makeVectorRow("c_k-1", "the context this step read: Σ α h_i"),
      // the LSTMN's memory: what this step read of the memory tape, and its new slot
      mTilde: makeVectorRow("m̃_k-1", "the memory this step read: Σ α m_i"),
      m: makeVectorRow("m_k", "the memory tape's new slot, f ⊙ m̃ + i ⊙ ĉ"),
    };
    for (const r of Object.values(this.rows)) this.el.append(r.row);
    const legend = el("div", "aw-legend");
    const legendText = el("span", undefined, "−1 … 0 … +1 (Δh: ±2); hover a cell for its value");
    legend.append(this.legendBar, legendText);
    this.el.append(legend);
  }

  /** The legend's colours for the page's background. */
  setDark(dark: boolean): void {
    this.legendBar.style.background = `linear-gradient(to right, ${[-1, -0.5, 0, 0.5, 1].map((v) => divergingColor(v, 1, dark)).join(", ")})`;
  }

  render({ k, H, step, prev, attends, lstmn, dark }: Frame): void {
    const { rows } = this;
    // each strip shares its row's width, up to STRIP_CELL_PX a cell
    if (H !== this.sizedFor) {
      this.sizedFor = H;
      for (const r of Object.values(rows)) r.strip.style.maxWidth = `${H * STRIP_CELL_PX}px`;
      this.el.style.maxWidth = `calc(14em + ${H * STRIP_CELL_PX + 20}px)`; // the notes stay by their strips
    }
    const hk = k === 0 ? zerosOf(H) : step?.h ?? null;
    const hPrev = k <= 1 ? (k === 1 ? zerosOf(H) : null) : prev?.h ?? null;
    renderStrip(rows.h.strip, hk, { scale: 1, name: `h_${k}`, dark });
    renderStrip(rows.hPrev.strip, hPrev, { scale: 1, name: `h_${k - 1}`, dark });
    const dh = hk && hPrev ? difference(hk, hPrev) : null;
    renderStrip(rows.dh.strip, dh, { scale: 2, name: "Δh", dark });
    if (this.kindShown !== (lstmn ? "lstmn" : "rnn")) {
      this.kindShown = lstmn ? "lstmn" : "rnn";
      const label = rows.c.row.firstElementChild as HTMLElement;
      label.textContent = lstmn ? "h̃_k-1" : "c_k-1";
      label.title = lstmn ? "the hidden summary this step read: Σ α h_i" : "the context this step read: Σ α h_i";
    }
    const context = lstmn ? step?.h_tilde ?? null : attends ? step?.c ?? null : null;
    renderStrip(rows.c.strip, context, { scale: 1, name: lstmn ? `h̃_${k - 1}` : `c_${k - 1}`, dark });
    setDisplay(rows.c.row, attends);
    setDisplay(rows.mTilde.row, lstmn);
    setDisplay(rows.m.row, lstmn);
    // m is not squashed (|m| can pass 1): its strips share the scale of this m, like A·z + b
    const mScale = lstmn && step?.m ? maxAbs(step.m) || 1 : 1;
    renderStrip(rows.mTilde.strip, lstmn ? step?.m_tilde ?? null : null, { scale: mScale, name: `m̃_${k - 1}`, dark });
    renderStrip(rows.m.strip, !lstmn ? null : k === 0 ? zerosOf(H) : step?.m ?? null, { scale: mScale, name: `m_${k}`, dark });
    setText(rows.h.value, dh ? `|Δh|max ${formatShort(maxAbs(dh))}` : "");
  }
}
