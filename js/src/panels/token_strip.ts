// The token strip (⟨start⟩, x_1 … x_T), shaded by α or by ‖∂h/∂x‖, and the
// caption that says what the shading is.  tokens.ts builds and colours the
// tokens; this panel decides when, and answers clicks on them.

import type { Controller } from "../controller";
import { el, setText } from "../dom";
import { GRAD_DECADES } from "../format";
import { buildTokens, updateTokens } from "../tokens";
import type { Frame } from "./frame";

/** The shading at position k, in words: α_{k-1,·} comes from h_{k-1}, before x_k is read. */
export function shadingCaption(k: number, tokens: string[], eq1: boolean): string {
  if (k === 0) return "nothing read yet: h_0 = 0";
  const word = `“${tokens[k - 1] ?? ""}”`;
  if (eq1) return `step ${k - 1} read ${word} (red) into h_${k}; eq1 has no attention, so nothing is shaded`;
  return `shading: the weights α_${k - 1},i that h_${k - 1} used to read ${word} (red), chosen before reading it`;
}

/** The gradient shading at position k, in words. */
export function gradientCaption(k: number, arrived: boolean, kernel: boolean): string {
  if (k === 0) return "nothing read yet: h_0 = 0";
  if (!arrived) return kernel ? "computing ‖∂h/∂x‖ in the kernel…" : "‖∂h/∂x‖ is not saved in the notebook: run its cells";
  return `shading: how much h_${k} depends on each earlier input, ‖∂h_${k}/∂x_i‖, on a log scale over ${GRAD_DECADES} decades (darkest = the largest)`;
}

export class TokenStrip {
  readonly el = el("div", "aw-tokens");
  /** What the shading is, in words: the weights come from h_{k-1}, before x_k is read. */
  readonly caption = el("div", "aw-caption");
  /** One element per slot; a new array whenever the strip is rebuilt (the axis labels follow it). */
  els: HTMLElement[] = [];
  private shown: { tokens: string[]; version: number; unknown: [number, string][] } | null = null;

  /** `edit(i)` opens the what-if chooser on x_i, where the view offers edits. */
  constructor(ctl: Controller, edit: (i: number) => void) {
    this.el.addEventListener("dblclick", (event) => {
      const target = (event.target as HTMLElement).closest?.(".aw-token") as HTMLElement | null;
      const i = Number(target?.dataset.index ?? 0);
      if (i >= 1) edit(i);
    });
    this.el.addEventListener("click", (event) => {
      const target = (event.target as HTMLElement).closest?.(".aw-token") as HTMLElement | null;
      if (!target || !target.classList.contains("is-reachable")) return;
      ctl.goto(Number(target.dataset.index));
    });
  }

  render({ ctl, k, step, tokens, dark }: Frame): void {
    const model = ctl.model;
    const store = ctl.store;
    // The model hands back the same array until the tokens change: no need to compare T strings.
    const unknown: [number, string][] = model.get("unknown") ?? [];
    const shown = this.shown;
    if (!shown || shown.tokens !== tokens || shown.version !== store.version || shown.unknown !== unknown) {
      this.shown = { tokens, version: store.version, unknown };
      this.els = buildTokens(this.el, tokens, unknown);
    }
    const reachable = Math.max(store.contiguous(), model.get("frontier") ?? 0);
    const mode = model.get("shading") === "gradient" ? "gradient" : "alpha";
    const grad = mode === "gradient" && k > 0 ? ctl.sensitivityAt(k) : null;
    // while Play runs, only the slots just before the current one carry their value as text
    const labels = model.get("playing") ? "near" : "all";
    updateTokens(this.els, { k, alpha: step?.alpha ?? null, reachable, mode, grad, dark, labels });
    setText(
      this.caption,
      mode === "gradient"
        ? gradientCaption(k, grad !== null, ctl.kernelReplied)
        : shadingCaption(k, tokens, model.get("update_rule") === "eq1"),
    );
  }
}
