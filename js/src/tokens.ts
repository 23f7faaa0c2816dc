// The token strip: ⟨start⟩ then x_1 … x_T.  Token text comes from user data,
// so it only ever reaches the DOM through textContent (docs/design.md §4).

import { formatFloat32, inkFor, weightRGB } from "./format";

export const START_LABEL = "⟨start⟩";

/** Build one element per slot: index 0 is ⟨start⟩ (h_0), index i is x_i. */
export function buildTokens(container: HTMLElement, tokens: string[]): HTMLElement[] {
  container.replaceChildren();
  const els: HTMLElement[] = [];
  const labels = [START_LABEL, ...tokens];
  labels.forEach((text, i) => {
    const el = document.createElement("span");
    el.className = i === 0 ? "aw-token aw-start" : "aw-token";
    el.dataset.index = String(i);
    el.textContent = text;
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
}

/** Mark current, shaded and future tokens for position k. */
export function updateTokens(els: HTMLElement[], { k, alpha, reachable }: TokenState): void {
  for (let i = 0; i < els.length; i++) {
    const el = els[i];
    const current = k > 0 && i === k;
    const shaded = alpha !== null && i < k && i < alpha.length;
    el.classList.toggle("is-current", current);
    el.classList.toggle("is-future", i > k);
    el.classList.toggle("is-shaded", shaded);
    el.classList.toggle("is-reachable", i <= reachable);
    if (current) el.setAttribute("aria-current", "step");
    else el.removeAttribute("aria-current");
    if (shaded) {
      const a = alpha![i];
      const exact = formatFloat32(a);
      el.dataset.alpha = exact;
      el.title = `α(${k - 1},${i}) = ${exact}`;
      const rgb = weightRGB(a); // absolute: α = 1 is full colour, a uniform row is pale
      el.style.backgroundColor = `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
      el.style.color = inkFor(rgb);
    } else {
      delete el.dataset.alpha;
      el.removeAttribute("title");
      el.style.backgroundColor = "";
      el.style.color = "";
      if (current) el.title = `x${k}: the token just read`;
    }
  }
}
