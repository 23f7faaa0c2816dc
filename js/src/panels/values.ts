// The numbers behind the colours, as tables: every value the view shows only
// on hover (each token's α, or ‖∂h_k/∂x_i‖ under the gradient shading, and
// each cell of each strip) is here too, where a keyboard and a screen reader
// reach it.  The tables are built only while they are open, so a closed panel
// costs a draw nothing.  The matrix's earlier rows are this table at earlier
// positions: row j of the matrix is the α shown at position j+1.  While Play
// runs they stay as they were (their caption names their position): a table
// of k rows written at every step would cost Play its 30 steps/s, and a
// screen reader could not read numbers that change 30 times a second.  They
// follow the position again at the first draw after Play stops.

import { el, setText } from "../dom";
import { formatFloat32 } from "../format";
import { stripValues } from "../heatmap";
import { HIDDEN_NOTE, START_LABEL } from "../tokens";
import type { Frame } from "./frame";
import { shadingCaption, shadingKind } from "./token_strip";

let panels = 0;

export class ValuesPanel {
  readonly el = el("div", "aw-values");
  readonly toggle = el("button", "aw-values-toggle", "show the numbers");
  private readonly body = el("div", "aw-values-body");
  /** Says, while Play runs, that the tables wait for it to stop. */
  private readonly note = el("p", "aw-values-note");
  private opened = false;
  /** Whether the tables wait for Play to stop. */
  private held = false;

  /** `strips()` lists the view's strips in the order they are drawn;
   * `redraw()` asks the view to draw again (the tables fill on the next draw). */
  constructor(
    private readonly strips: () => HTMLElement[],
    redraw: () => void,
  ) {
    this.body.id = `aw-values-${++panels}`;
    this.body.hidden = true;
    // It scrolls sideways where the columns are wider than the widget: it takes
    // the focus, and the arrow keys scroll it there rather than step.
    this.body.tabIndex = 0;
    this.body.setAttribute("role", "region");
    this.body.setAttribute("aria-label", "the numbers");
    this.body.dataset.ownKeys = "true";
    this.toggle.type = "button";
    this.toggle.setAttribute("aria-expanded", "false");
    this.toggle.setAttribute("aria-controls", this.body.id);
    this.toggle.title = "every value the colours stand for, as numbers (the tooltips' values)";
    this.toggle.addEventListener("click", () => {
      this.opened = !this.opened;
      this.body.hidden = !this.opened;
      this.toggle.setAttribute("aria-expanded", String(this.opened));
      setText(this.toggle, this.opened ? "hide the numbers" : "show the numbers");
      if (!this.opened) {
        this.body.replaceChildren();
        this.held = false;
        this.body.removeAttribute("aria-busy");
      }
      redraw();
    });
    this.el.append(this.toggle, this.body);
  }

  get isOpen(): boolean {
    return this.opened;
  }

  render({ ctl, k, T, step, tokens, attends, hidden }: Frame): void {
    if (!this.opened) return;
    const playing = !!ctl.model.get("playing");
    if (playing && this.body.childElementCount > 1) {
      if (!this.held) {
        this.held = true;
        this.body.setAttribute("aria-busy", "true");
        setText(this.note, "Play is running: the numbers follow the position again when it stops");
      }
      return;
    }
    if (this.held) {
      this.held = false;
      this.body.removeAttribute("aria-busy");
    }
    setText(this.note, "");
    const gradient = ctl.model.get("shading") === "gradient";
    const tables: HTMLElement[] = [];
    if (k > 0 && (attends || gradient)) tables.push(this.weights(ctl, k, step?.alpha ?? null, tokens, gradient, hidden));
    const vectors = this.vectors(k, T);
    if (vectors) tables.push(vectors);
    if (tables.length === 0) tables.push(el("p", "aw-values-none", k === 0 ? "nothing read yet: h_0 = 0" : "this step has not arrived yet"));
    this.body.replaceChildren(this.note, ...tables);
  }

  /** Slot i, its token and its weight α_{k-1,i} (or ‖∂h_k/∂x_i‖), as the tokens show them;
   * a slot hidden from attention (a knockout) says so after its token, as its token's name does. */
  private weights(ctl: Frame["ctl"], k: number, alpha: Float32Array | null, tokens: string[], gradient: boolean, hidden: ReadonlySet<number>): HTMLElement {
    const table = el("table", "aw-values-table aw-values-weights");
    const grad = gradient ? ctl.sensitivityAt(k) : null;
    const head = gradient ? `‖∂h_${k}/∂x_i‖` : `α_${k - 1},i`;
    table.append(
      el("caption", undefined, gradient
        ? `how much h_${k} depends on each input read so far`
        : // the strip's caption, one wording per model (the LSTMN's weights see the red word)
          shadingCaption(k, tokens, shadingKind(ctl.model.get("update_rule"))).replace(/^shading: /, "")),
      headRow(["i", "token", head]),
    );
    for (let i = gradient ? 1 : 0; i < k; i++) {
      const value = gradient ? (grad && i - 1 < grad.length ? grad[i - 1] : null) : alpha && i < alpha.length ? alpha[i] : null;
      const token = i === 0 ? START_LABEL : (tokens[i - 1] ?? "");
      table.append(bodyRow([String(i), hidden.has(i) ? `${token}: ${HIDDEN_NOTE}` : token, value === null ? "…" : formatFloat32(value)]));
    }
    return table;
  }

  /** Each strip shown (its name as its tooltip gives it) as a column, cell j in row j.
   * A strip with the same name and numbers as one before it (h_{k-1} is in the
   * states and in z) is listed once. */
  private vectors(k: number, T: number): HTMLElement | null {
    const columns: { name: string; values: ArrayLike<number> }[] = [];
    for (const strip of this.strips()) {
      if (hiddenIn(strip)) continue; // a row the view hides (an LSTMN's, eq1's context)
      const data = stripValues(strip);
      if (!data) continue;
      if (columns.some((c) => c.name === data.name && sameValues(c.values, data.values))) continue;
      columns.push(data);
    }
    if (columns.length === 0) return null;
    const n = Math.max(...columns.map((c) => c.values.length));
    const table = el("table", "aw-values-table aw-values-vectors");
    table.append(
      el("caption", undefined, `the vectors at position ${k} of ${T}, one column each (the strips' cells, left to right)`),
      headRow(["j", ...columns.map((c) => c.name)]),
    );
    for (let j = 0; j < n; j++) {
      table.append(bodyRow([String(j), ...columns.map((c) => (j < c.values.length ? formatFloat32(c.values[j]) : ""))]));
    }
    return table;
  }
}

/** The head row: a column header per cell. */
function headRow(cells: string[]): HTMLTableRowElement {
  const tr = el("tr");
  for (const text of cells) {
    const th = el("th", undefined, text);
    th.scope = "col";
    tr.append(th);
  }
  return tr;
}

/** A body row: its first cell heads the row, the others are data (as text). */
function bodyRow(cells: string[]): HTMLTableRowElement {
  const tr = el("tr");
  cells.forEach((text, n) => {
    const cell = el(n === 0 ? "th" : "td", undefined, text);
    if (n === 0) (cell as HTMLTableCellElement).scope = "row";
    tr.append(cell);
  });
  return tr;
}

/** Whether the view hides `e` or an ancestor (panels hide rows with display: none). */
function hiddenIn(e: HTMLElement): boolean {
  for (let a: HTMLElement | null = e; a && !a.classList.contains("attn-widget"); a = a.parentElement) {
    if (a.hidden || a.style.display === "none") return true;
  }
  return false;
}

function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
