// The token strip: ⟨start⟩ then x_1 … x_T.  Token text comes from user data,
// so it only ever reaches the DOM through textContent (docs/design.md §4).

import { formatFloat32, gradLevel, inkFor, weightRGB } from "./format";

export const START_LABEL = "⟨start⟩";

/** Build one element per slot: index 0 is ⟨start⟩ (h_0), index i is x_i.
 * `unknown` lists the inputs read as <unk>, with the words typed: they are
 * marked, and the word shows in the tooltip and in `data-word`. */
export function buildTokens(container: HTMLElement, tokens: string[], unknown: [number, string][] = []): HTMLElement[] {
  if (!hovering.has(container)) {
    hovering.add(container);
    container.addEventListener("mouseover", (event) => {
      const token = (event.target as HTMLElement).closest?.(".aw-token") as HTMLElement | null;
      hovered = token;
      if (token) applyTitle(token);
    });
    container.addEventListener("mouseleave", () => (hovered = null));
  }
  container.replaceChildren();
  const els: HTMLElement[] = [];
  const labels = [START_LABEL, ...tokens];
  const typed = new Map(Array.isArray(unknown) ? unknown.filter((u) => Array.isArray(u)) : []);
  labels.forEach((text, i) => {
    const el = document.createElement("span");
    el.className = i === 0 ? "aw-token aw-start" : "aw-token";
    el.dataset.index = String(i);
    el.textContent = text;
    const word = typed.get(i);
    if (word !== undefined) {
      el.classList.add("is-unknown");
      el.dataset.word = String(word);
      notes.set(el, `“${String(word)}” is not in the model's vocabulary: it is read as ${text}`);
    }
    container.appendChild(el);
    els.push(el);
  });
  return els;
}

export interface TokenState {
  /** the position k, 0 … T */
  k: number;
  /** α_{k-1, 0 … k-1}, or null (k = 0, eq1, or not yet arrived) */
  alpha: Float32Array | null;
  /** the last position whose data is at hand (tokens up to here can be jumped to) */
  reachable: number;
  /** "gradient": shade x_1 … x_{k-1} by ‖∂h_k/∂x_i‖ (grad[i-1]) instead of by α */
  mode?: "alpha" | "gradient";
  /** ‖∂h_k/∂x_i‖ for i = 1 … k, or null (not asked for, or not yet arrived) */
  grad?: Float32Array | null;
  /** colours for a dark background */
  dark?: boolean;
}

// A token's tooltip is written when the pointer comes over it (and at once for
// the token under the pointer), not at every step for every token: a step
// changes every weight, and ~T title writes a step would cost more than the
// colours.  The text waits here meanwhile.
const titles = new WeakMap<HTMLElement, string | null>();
const hovering = new WeakSet<HTMLElement>();
/** What a token's tooltip always says (an unknown word), before its weight. */
const notes = new WeakMap<HTMLElement, string>();
let hovered: HTMLElement | null = null;

function applyTitle(el: HTMLElement): void {
  const weight = titles.get(el) ?? null;
  const note = notes.get(el) ?? null;
  const title = note === null ? weight : weight === null ? note : `${note}\n${weight}`;
  if (title === null) el.removeAttribute("title");
  else if (el.title !== title) el.title = title;
}

/** What each token strip last drew, so a draw touches only the tokens that can change. */
const lastDrawn = new WeakMap<HTMLElement[], { k: number; reachable: number; looks: string[]; labels: string[] }>();

/**
 * Mark current, shaded and future tokens for position k.
 *
 * Only tokens 0 … max(k, previous k) can change their shading, and only
 * those between the previous and the new `reachable` their reachability, so
 * a step costs O(k), not O(T); a token whose state did not change gets no
 * DOM write at all.
 */
export function updateTokens(els: HTMLElement[], state: TokenState): void {
  const { k, alpha, reachable } = state;
  const dark = state.dark ?? false;
  const grad = state.mode === "gradient" ? (state.grad ?? null) : null;
  let largest = 0;
  if (grad) for (let i = 0; i < k - 1 && i < grad.length; i++) largest = Math.max(largest, grad[i]);
  const last = lastDrawn.get(els) ?? { k: els.length, reachable: els.length, looks: [], labels: [] };
  const end = Math.min(els.length - 1, Math.max(k, last.k) + 1);
  // Past both positions a token is future, unshaded and not current: only
  // whether it can be jumped to may change, between the old and new `reachable`.
  const lo = Math.max(end + 1, Math.min(reachable, last.reachable) + 1);
  const hi = Math.min(els.length - 1, Math.max(reachable, last.reachable));
  for (let i = lo; i <= hi; i++) {
    const look = lookOf(false, true, false, i <= reachable, null);
    if (last.looks[i] === look) continue;
    last.looks[i] = look;
    els[i].classList.toggle("is-reachable", i <= reachable);
  }
  for (let i = 0; i <= end; i++) {
    const el = els[i];
    const current = k > 0 && i === k;
    const byAlpha = state.mode !== "gradient" && alpha !== null && i < k && i < alpha.length;
    const byGrad = grad !== null && i >= 1 && i < k && i - 1 < grad.length;
    // Work out this token's state, then write only what differs from the last draw.
    let alphaText: string | null = null;
    let gradText: string | null = null;
    let title: string | null = null;
    let level: number | null = null;
    if (byAlpha) {
      alphaText = formatFloat32(alpha![i]);
      title = `α(${k - 1},${i}) = ${alphaText}`;
      level = alpha![i]; // absolute: α = 1 is full colour, a uniform row is pale
    } else if (byGrad) {
      const g = grad![i - 1];
      gradText = formatFloat32(g);
      title = `‖∂h${k}/∂x${i}‖ = ${g.toExponential(2)}`;
      level = gradLevel(g, largest); // relative, log scale: the largest is full colour
    } else if (current) {
      title =
        grad !== null && k - 1 < grad.length
          ? `x${k}: the token just read; ‖∂h${k}/∂x${k}‖ = ${grad[k - 1].toExponential(2)}`
          : `x${k}: the token just read`;
    }
    // What styles the token (classes, colours) is written apart from what only
    // labels it (data-alpha, the tooltip): a new step changes every weight's
    // digits, but most colours stay the same, and only a style change makes
    // the browser restyle the token.
    const rgb = level === null ? null : weightRGB(level, dark);
    const look = lookOf(current, i > k, byAlpha || byGrad, i <= reachable, rgb);
    if (last.looks[i] !== look) {
      last.looks[i] = look;
      el.classList.toggle("is-current", current);
      el.classList.toggle("is-future", i > k);
      el.classList.toggle("is-shaded", byAlpha || byGrad);
      el.classList.toggle("is-reachable", i <= reachable);
      if (current) el.setAttribute("aria-current", "step");
      else el.removeAttribute("aria-current");
      el.style.backgroundColor = rgb ? `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})` : "";
      el.style.color = rgb ? inkFor(rgb) : "";
    }
    const label = `${alphaText}|${gradText}|${title}`;
    if (last.labels[i] !== label) {
      last.labels[i] = label;
      setData(el, "alpha", alphaText);
      setData(el, "grad", gradText);
      titles.set(el, title);
      if (el === hovered) applyTitle(el);
    }
  }
  lastDrawn.set(els, { k, reachable, looks: last.looks, labels: last.labels });
}

/** What styles a token, as a key to compare draws by: its classes and its colour
 * (the colour already tells light from dark). */
function lookOf(current: boolean, future: boolean, shaded: boolean, reachable: boolean, rgb: number[] | null): string {
  return `${+current}${+future}${+shaded}${+reachable}${rgb ?? ""}`;
}

/** Set an attribute, or remove it when the value is null (one DOM write either way). */
function setData(el: HTMLElement, name: "alpha" | "grad", value: string | null): void {
  // setAttribute, not el.dataset: Chromium's dataset setter costs several times more.
  if (value === null) el.removeAttribute(`data-${name}`);
  else el.setAttribute(`data-${name}`, value);
}
