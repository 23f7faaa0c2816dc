// What the output head predicts from h_k: the top k labels with bars.

import { el, setDisplay, setText } from "../dom";
import { formatFloat32 } from "../format";
import type { Frame } from "./frame";

export class PredictionPanel {
  readonly el = el("div", "aw-panel aw-prediction");
  private readonly title = el("div", "aw-panel-title", "prediction");
  private readonly rows = el("div", "aw-prediction-rows");

  constructor() {
    this.el.append(this.title, this.rows);
  }

  /** The head's top-k at position k, from h_k: one row per class, a bar as long as its
   * probability; `data-label` and `data-p` name each row (text only, never markup). */
  render({ ctl, k, step }: Frame): void {
    const labels: string[] = ctl.model.get("prediction_labels") ?? [];
    setDisplay(this.el, labels.length > 0);
    if (labels.length === 0) return;
    setText(this.title, k > 0 ? `prediction from h_${k}` : "prediction: nothing read yet");
    const p = k > 0 ? step?.pred_p ?? null : null;
    const ids = k > 0 ? step?.pred_i ?? null : null;
    const n = p && ids ? p.length : 0;
    const rows = this.rows;
    while (rows.children.length < n) {
      const row = el("div", "aw-prediction-row");
      const bar = el("span", "aw-prediction-bar");
      row.append(el("span", "aw-prediction-label"), el("span", "aw-prediction-track"), el("span", "aw-prediction-value"));
      row.children[1].appendChild(bar);
      rows.appendChild(row);
    }
    for (let r = 0; r < rows.children.length; r++) {
      const row = rows.children[r] as HTMLElement;
      setDisplay(row, r < n);
      if (r >= n) continue;
      const label = labels[ids![r]] ?? `class ${ids![r]}`;
      const prob = p![r];
      const [name, track, value] = Array.from(row.children) as HTMLElement[];
      setText(name, label);
      setText(value, prob.toFixed(3));
      (track.firstElementChild as HTMLElement).style.width = `${(100 * Math.max(0, Math.min(1, prob))).toFixed(1)}%`;
      if (row.dataset.label !== label) row.dataset.label = label;
      const exact = formatFloat32(prob);
      if (row.dataset.p !== exact) row.dataset.p = exact;
    }
  }
}
