// The token strip: ⟨start⟩ then x_1 … x_T.  Token text comes from user data,
// so it only ever reaches the DOM through textContent (docs/design.md §4).

import { cssRgb, formatFloat32, gradLevel, inkForKey, shadeKey } from "./format";

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
    el.tabIndex = -1; // focusable (a click, or focus()), so K can act on it; Tab stays on the widget
    el.textContent = text;
    newInfo(el, i);
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
  /** Which tokens carry their value as `data-alpha` / `data-grad`: "all" (the
   * default), or "near" while Play runs: only the LABEL_WINDOW slots before
   * the current one.  The others' labels are removed, never left stale, and
   * come back at the next draw with "all". */
  labels?: "all" | "near";
  /** The slots hidden from attention (a knockout): marked `is-hidden`, and named so. */
  hidden?: ReadonlySet<number>;
}

/** What a hidden slot's token says to a screen reader, after its text. */
export const HIDDEN_NOTE = "hidden from attention";

/** While Play runs, the slots k-LABEL_WINDOW … k-1 keep their labels. */
export const LABEL_WINDOW = 8;

// What a token shows, kept as numbers at every draw; the text of its
// tooltip is written from them only when the pointer comes over it (a step
// changes every weight, and ~T title strings a step would cost more than the
// colours), and its data-alpha / data-grad only where asked for.
const NONE = 0;
const ALPHA = 1;
const GRAD = 2;
const CURRENT = 3; // the token just read; `value` is ‖∂h_k/∂x_k‖ or NaN

interface TokenInfo {
  /** The slot i this token is (0: ⟨start⟩). */
  index: number;
  kind: number;
  value: number;
  k: number;
  /** The label written in the DOM: its kind (NONE, ALPHA or GRAD) and value. */
  labelKind: number;
  labelValue: number;
}

const infos = new WeakMap<HTMLElement, TokenInfo>();
const hovering = new WeakSet<HTMLElement>();
/** What a token's tooltip always says (an unknown word), before its value. */
const notes = new WeakMap<HTMLElement, string>();
let hovered: HTMLElement | null = null;

function titleOf(info: TokenInfo | undefined): string | null {
  if (!info) return null;
  const { kind, value, k } = info;
  if (kind === ALPHA) return `α(${k - 1},${info.index}) = ${formatFloat32(value)}`;
  if (kind === GRAD) return `‖∂h${k}/∂x${info.index}‖ = ${value.toExponential(2)}`;
  if (kind === CURRENT) {
    return Number.isNaN(value) ? `x${k}: the token just read` : `x${k}: the token just read; ‖∂h${k}/∂x${k}‖ = ${value.toExponential(2)}`;
  }
  return null;
}

function applyTitle(el: HTMLElement): void {
  const weight = titleOf(infos.get(el));
  const unknownNote = notes.get(el) ?? null;
  const hiddenNote = el.classList.contains("is-hidden") ? `${HIDDEN_NOTE} (knockout): its α is 0` : null;
  const note = unknownNote && hiddenNote ? `${unknownNote}\n${hiddenNote}` : (unknownNote ?? hiddenNote);
  const title = note === null ? weight : weight === null ? note : `${note}\n${weight}`;
  if (title === null) el.removeAttribute("title");
  else if (el.title !== title) el.title = title;
}

/** What each token strip last drew, so a draw touches only the tokens that can change. */
interface Drawn {
  k: number;
  reachable: number;
  /** Each token's look (its classes and colour) as one number; NaN: not drawn yet. */
  looks: Float64Array;
  infos: TokenInfo[];
  /** The hidden slots of the last draw: when they change, every token is drawn. */
  hidden: ReadonlySet<number> | undefined;
}
const lastDrawn = new WeakMap<HTMLElement[], Drawn>();

function drawnOf(els: HTMLElement[]): Drawn {
  let d = lastDrawn.get(els);
  if (!d) {
    d = { k: els.length, reachable: els.length, looks: new Float64Array(els.length).fill(NaN), infos: els.map((el) => infos.get(el) ?? newInfo(el, 0)), hidden: undefined };
    lastDrawn.set(els, d);
  }
  return d;
}

function newInfo(el: HTMLElement, index: number): TokenInfo {
  const info = { kind: NONE, value: NaN, k: 0, labelKind: NONE, labelValue: NaN, index };
  infos.set(el, info);
  return info;
}

/**
 * Mark current, shaded and future tokens for position k.
 *
 * Only tokens 0 … max(k, previous k) can change their shading, and only
 * those between the previous and the new `reachable` their reachability, so
 * a step costs O(k), not O(T); a token whose state did not change gets no
 * DOM write at all.  A token's look is compared as a number, and its label
 * is formatted only where it is written.
 */
export function updateTokens(els: HTMLElement[], state: TokenState): void {
  const { k, alpha, reachable } = state;
  const dark = state.dark ?? false;
  const grad = state.mode === "gradient" ? (state.grad ?? null) : null;
  const near = state.labels === "near" ? k - LABEL_WINDOW : 0; // slots below this carry no label
  let largest = 0;
  if (grad) for (let i = 0; i < k - 1 && i < grad.length; i++) largest = Math.max(largest, grad[i]);
  const last = drawnOf(els);
  const looks = last.looks;
  const hidden = state.hidden ?? NO_SLOTS;
  // a new knockout can mark any token, however far past the position
  const end = hidden !== last.hidden ? els.length - 1 : Math.min(els.length - 1, Math.max(k, last.k) + 1);
  last.hidden = hidden;
  // Past both positions a token is future, unshaded and not current: only
  // whether it can be jumped to may change, between the old and new `reachable`.
  const lo = Math.max(end + 1, Math.min(reachable, last.reachable) + 1);
  const hi = Math.min(els.length - 1, Math.max(reachable, last.reachable));
  for (let i = lo; i <= hi; i++) {
    const look = lookOf(false, true, false, i <= reachable, -1, hidden.has(i));
    if (looks[i] === look) continue;
    looks[i] = look;
    els[i].classList.toggle("is-reachable", i <= reachable);
  }
  for (let i = 0; i <= end; i++) {
    const el = els[i];
    const info = last.infos[i];
    const current = k > 0 && i === k;
    const byAlpha = state.mode !== "gradient" && alpha !== null && i < k && i < alpha.length;
    const byGrad = grad !== null && i >= 1 && i < k && i - 1 < grad.length;
    let rgb = -1; // packed 0xRRGGBB, or -1 for no colour
    if (byAlpha) {
      info.kind = ALPHA;
      info.value = alpha![i];
      rgb = shadeKey(alpha![i], dark); // absolute: α = 1 is full colour, a uniform row is pale
    } else if (byGrad) {
      info.kind = GRAD;
      info.value = grad![i - 1];
      rgb = shadeKey(gradLevel(grad![i - 1], largest), dark); // relative, log scale: the largest is full colour
    } else if (current) {
      info.kind = CURRENT;
      info.value = grad !== null && k - 1 < grad.length ? grad[k - 1] : NaN;
    } else {
      info.kind = NONE;
    }
    info.k = k;
    // What styles the token (classes, colours) is written apart from what only
    // labels it (data-alpha, the tooltip): a new step changes every weight's
    // digits, but most colours stay the same, and only a style change makes
    // the browser restyle the token.
    const isHidden = hidden.has(i);
    const look = lookOf(current, i > k, byAlpha || byGrad, i <= reachable, rgb, isHidden);
    if (looks[i] !== look) {
      if (looks[i] >= HIDDEN_LOOK !== isHidden) markHidden(el, isHidden); // NaN (not drawn yet): not hidden
      looks[i] = look;
      el.classList.toggle("is-current", current);
      el.classList.toggle("is-future", i > k);
      el.classList.toggle("is-shaded", byAlpha || byGrad);
      el.classList.toggle("is-reachable", i <= reachable);
      if (current) el.setAttribute("aria-current", "step");
      else el.removeAttribute("aria-current");
      el.style.backgroundColor = rgb >= 0 ? cssRgb(rgb) : "";
      el.style.color = rgb >= 0 ? inkForKey(rgb) : "";
    }
    const labelKind = i < near || (info.kind !== ALPHA && info.kind !== GRAD) ? NONE : info.kind;
    if (labelKind !== info.labelKind || (labelKind !== NONE && info.value !== info.labelValue)) {
      if (info.labelKind !== labelKind) {
        if (info.labelKind === ALPHA) el.removeAttribute("data-alpha");
        if (info.labelKind === GRAD) el.removeAttribute("data-grad");
      }
      // setAttribute, not el.dataset: Chromium's dataset setter costs several times more.
      if (labelKind !== NONE) el.setAttribute(labelKind === ALPHA ? "data-alpha" : "data-grad", formatFloat32(info.value));
      info.labelKind = labelKind;
      info.labelValue = info.value;
    }
    if (el === hovered) applyTitle(el);
  }
  last.k = k;
  last.reachable = reachable;
}

const NO_SLOTS: ReadonlySet<number> = new Set();
/** Every look of a hidden slot's token is at least this. */
const HIDDEN_LOOK = 16 * 0x2000000;

/** What styles a token, as one number to compare draws by: its five flags and
 * its colour (the colour already tells light from dark). */
function lookOf(current: boolean, future: boolean, shaded: boolean, reachable: boolean, rgb: number, hidden = false): number {
  return ((+hidden << 4) | (+current << 3) | (+future << 2) | (+shaded << 1) | +reachable) * 0x2000000 + rgb + 1;
}

/** A slot hidden from attention (a knockout) is struck through and hatched (CSS
 * `is-hidden`) and says so to a screen reader: "<its text>: hidden from attention". */
function markHidden(el: HTMLElement, hidden: boolean): void {
  el.classList.toggle("is-hidden", hidden);
  if (el === hovered) applyTitle(el);
  if (hidden) el.setAttribute("aria-label", `${el.textContent ?? ""}: ${HIDDEN_NOTE}`);
  else el.removeAttribute("aria-label");
}

