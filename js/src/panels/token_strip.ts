// The token strip (⟨start⟩, x_1 … x_T), shaded by α or by ‖∂h/∂x‖, and the
// caption that says what the shading is.  tokens.ts builds and colours the
// tokens; this panel decides when, and answers clicks on them.

import type { Controller } from "../controller";
import { afterPaint, el, setText } from "../dom";
import { GRAD_DECADES } from "../format";
import { buildTokens, updateTokens } from "../tokens";
import type { Frame } from "./frame";

/** Which caption a model's shading gets: "eq1" (no attention), "rnn" (eq3, eq4:
 * the query is h_{k-1}), "lstmn" (the query holds x_k and h̃_{k-2}), or "own"
 * (another update rule: a model of the user's own, whose query the widget does not know). */
export type ShadingKind = "eq1" | "rnn" | "lstmn" | "own";

export function shadingKind(updateRule: string | undefined): ShadingKind {
  if (updateRule === "eq1" || updateRule === "lstmn") return updateRule;
  return updateRule === "eq3" || updateRule === "eq4" ? "rnn" : "own";
}

/** The shading at position k, in words: what the weights α_{k-1,·} of step k-1
 * (which read x_k, the red token) were computed from.  eq3/eq4 score with
 * h_{k-1}, before x_k is read; the LSTMN scores with x_k itself and the previous
 * summary h̃_{k-2} (core/lstmn.py: a_{t,i} = v·tanh(W_h h_i + W_x x_{t+1} + W_h̃ h̃_{t-1})),
 * so its weights react to the red token. */
export function shadingCaption(k: number, tokens: string[], kind: ShadingKind): string {
  if (k === 0) return "nothing read yet: h_0 = 0";
  const word = `“${tokens[k - 1] ?? ""}”`;
  if (kind === "eq1") return `step ${k - 1} read ${word} (red) into h_${k}; eq1 has no attention, so nothing is shaded`;
  if (kind === "lstmn") {
    const summary = k === 1 ? "h̃_-1 = 0" : `h̃_${k - 2}`;
    return `shading: the weights α_${k - 1},i that step ${k - 1} used to read ${word} (red), scored with ${word} itself and the previous summary ${summary}, so they react to the red word`;
  }
  if (kind === "own") return `shading: the weights α_${k - 1},i that step ${k - 1} used to read ${word} (red)`;
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
  /** The position the strip last followed (``followNow``: brought into view, or found
   * a strip too short to scroll); -1: none yet, or follow again. */
  private followed = -1;
  /** A ``followNow`` is waiting for the frame to be painted. */
  private pending = false;
  /** The position to follow: the last draw's or ``follow``'s, read when the deferred
   * ``followNow`` runs and by ``watchSize``. */
  private k = 0;

  /** `edit(i)` opens the what-if chooser on x_i, where the view offers edits;
   * `knocking()` says whether the view is in knockout mode, where a click on a
   * token hides its slot from attention (or shows it again) and does not move. */
  constructor(ctl: Controller, edit: (i: number) => void, knocking: () => boolean = () => false) {
    this.el.addEventListener("dblclick", (event) => {
      const target = (event.target as HTMLElement).closest?.(".aw-token") as HTMLElement | null;
      const i = Number(target?.dataset.index ?? 0);
      if (i >= 1) edit(i);
    });
    this.el.addEventListener("click", (event) => {
      const target = (event.target as HTMLElement).closest?.(".aw-token") as HTMLElement | null;
      if (!target) return;
      if (knocking()) ctl.toggleKnockout(Number(target.dataset.index));
      else if (target.classList.contains("is-reachable")) ctl.goto(Number(target.dataset.index));
    });
  }

  render({ ctl, k, step, tokens, dark, hidden }: Frame): void {
    const model = ctl.model;
    const store = ctl.store;
    // The model hands back the same array until the tokens change: no need to compare T strings.
    const unknown: [number, string][] = model.get("unknown") ?? [];
    const shown = this.shown;
    if (!shown || shown.tokens !== tokens || shown.version !== store.version || shown.unknown !== unknown) {
      this.shown = { tokens, version: store.version, unknown };
      // a new version (a knockout by K, an edit) rebuilds the strip: the focus stays on its slot
      const focused = this.el.contains(document.activeElement) ? (document.activeElement as HTMLElement).dataset?.index : undefined;
      this.els = buildTokens(this.el, tokens, unknown);
      if (focused !== undefined) this.els[Number(focused)]?.focus({ preventScroll: true });
    }
    const reachable = Math.max(store.contiguous(), model.get("frontier") ?? 0);
    const mode = model.get("shading") === "gradient" ? "gradient" : "alpha";
    const grad = mode === "gradient" && k > 0 ? ctl.sensitivityAt(k) : null;
    // while Play runs, only the slots just before the current one carry their value as
    // text, and the strip is a window that follows the red token (``follow``): it
    // clips rather than scrolls, so the browser paints the tokens in view, not all T
    const playing = !!model.get("playing");
    const labels = playing ? "near" : "all";
    this.el.classList.toggle("is-playing", playing);
    this.k = k;
    updateTokens(this.els, { k, alpha: step?.alpha ?? null, reachable, mode, grad, dark, labels, hidden });
    setText(
      this.caption,
      mode === "gradient"
        ? gradientCaption(k, grad !== null, ctl.kernelReplied)
        : shadingCaption(k, tokens, shadingKind(model.get("update_rule"))),
    );
  }

  /** Bring x_k, the red token, into the strip's view once this frame is painted
   * (``followNow``), when k has moved since the strip last followed: at T = 1000
   * the strip shows some hundred tokens, and Play, Step or the scrubber would
   * otherwise carry the red token out of sight.  Measuring a token's place forces
   * the browser to lay out the strip; done at once, that layout ran inside every
   * scrubber move, and at T = 4000 it held up the kernel's answers enough that
   * scrubbing back four positions a frame met steps not yet sent again.  After
   * the paint the layout is already done, and the read costs nothing: the strip
   * scrolls one frame later.  Moves within that frame coalesce into one. */
  follow(k: number): void {
    this.k = k;
    if (k === this.followed || this.pending) return;
    this.pending = true;
    afterPaint(() => {
      this.pending = false;
      this.followNow(this.k);
    });
  }

  /** Scroll the strip (never the page) so that x_k is in view, when k has moved
   * since the last call.  A strip the reader scrolled stays where it is until k moves. */
  followNow(k: number): void {
    if (k === this.followed) return;
    const token = this.els[k];
    const strip = this.el;
    // not shown yet (a view is built before it is shown), hidden, or no such token:
    // nothing to measure, and ``watchSize`` follows once the strip has a size
    if (!token || !strip.isConnected || strip.clientHeight === 0) return;
    this.followed = k;
    const long = strip.scrollHeight > strip.clientHeight;
    strip.classList.toggle("is-long", long); // keeps its scrollbar's gutter (style.css)
    if (!long) return;
    const top = token.offsetTop; // the strip is the tokens' offset parent (position: relative)
    const height = token.offsetHeight;
    const margin = Math.min(height, strip.clientHeight / 4); // the next line shows too
    if (height + margin >= strip.clientHeight) strip.scrollTop = top; // a token taller than the strip: its start
    else if (top < strip.scrollTop) strip.scrollTop = Math.max(0, top - margin);
    else if (top + height > strip.scrollTop + strip.clientHeight) strip.scrollTop = top + height - strip.clientHeight + margin;
  }

  /** Follow again whenever the strip's size changes: when it is first shown or shown
   * again (a view is drawn before it is on the page, and a hidden strip has no size),
   * and when a narrower window wraps the tokens anew.  Returns the cleanup. */
  watchSize(): () => void {
    if (typeof ResizeObserver === "undefined") return () => {};
    const watch = new ResizeObserver(() => {
      this.followed = -1;
      this.followNow(this.k); // after layout: the read is free
    });
    watch.observe(this.el);
    return () => watch.disconnect();
  }
}
