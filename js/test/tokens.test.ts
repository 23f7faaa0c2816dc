import { describe, expect, it } from "vitest";
import { buildTokens, LABEL_WINDOW, updateTokens } from "../src/tokens";
import { formatFloat32, gradLevel, GRAD_DECADES, SHADE_LEVELS, weightRGB } from "../src/format";

const HOSTILE = ['<img src=x onerror="window.__pwned=1">', "<b>bold</b>", "&amp;"];


/** A weight's colour as the DOM writes it in a style. */
function cssWeight(v: number): string {
  const [r, g, b] = weightRGB(v);
  return `rgb(${r}, ${g}, ${b})`;
}

describe("tokens", () => {
  it("renders token text as text, never HTML", () => {
    const box = document.createElement("div");
    document.body.appendChild(box);
    const els = buildTokens(box, HOSTILE);
    expect(els.length).toBe(4);
    expect(box.querySelector("img")).toBeNull();
    expect(box.querySelector("b")).toBeNull();
    expect(els[1].textContent).toBe(HOSTILE[0]);
    expect(els[3].textContent).toBe("&amp;");
    expect((window as any).__pwned).toBeUndefined();
  });

  it("marks ⟨start⟩, current, shaded and future slots for position k", () => {
    const box = document.createElement("div");
    const els = buildTokens(box, ["a", "b", "c", "d"]);
    const alpha = new Float32Array([0.1, 0.2, 0.7]); // α_{2, 0..2}, shown at k = 3
    updateTokens(els, { k: 3, alpha, reachable: 3 });
    expect(els.map((e) => e.dataset.index)).toEqual(["0", "1", "2", "3", "4"]);
    expect(els[0].textContent).toBe("⟨start⟩");
    expect(els[3].getAttribute("aria-current")).toBe("step");
    expect(els.filter((e) => e.hasAttribute("aria-current")).length).toBe(1);
    expect(els[3].classList.contains("is-current")).toBe(true);
    // shaded: start slot and x_1, x_2 carry α_{k-1,i} with full float32 precision
    expect(els[0].dataset.alpha).toBe(formatFloat32(alpha[0]));
    expect(els[2].dataset.alpha).toBe(formatFloat32(alpha[2]));
    expect(Math.fround(Number(els[1].dataset.alpha))).toBe(alpha[1]);
    expect(els[1].hasAttribute("title")).toBe(false); // written when the pointer comes over it
    els[1].dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    expect(els[1].title).toContain(formatFloat32(alpha[1]));
    expect(els[3].dataset.alpha).toBeUndefined();
    expect(els[4].classList.contains("is-future")).toBe(true);
    expect(els[4].classList.contains("is-reachable")).toBe(false);
    // moving back clears stale marks
    updateTokens(els, { k: 0, alpha: null, reachable: 3 });
    expect(els.some((e) => e.hasAttribute("aria-current"))).toBe(false);
    expect(els.some((e) => e.dataset.alpha !== undefined)).toBe(false);
  });

  it("shades by the weight itself: a uniform row is pale, a weight of 1 is full colour", () => {
    const box = document.createElement("div");
    const els = buildTokens(box, ["a", "b", "c", "d"]);
    const rgb = cssWeight;
    updateTokens(els, { k: 4, alpha: new Float32Array([0.25, 0.25, 0.25, 0.25]), reachable: 4 });
    expect(els[1].style.backgroundColor).toBe(rgb(0.25));
    updateTokens(els, { k: 2, alpha: new Float32Array([0, 1]), reachable: 4 });
    expect(els[1].style.backgroundColor).toBe(rgb(1));
    expect(els[0].style.backgroundColor).toBe(rgb(0));
    expect(rgb(0.25)).not.toBe(rgb(1));
  });

  it("shades at the nearest of SHADE_LEVELS steps, so a drift in α within a level restyles no word", () => {
    const box = document.createElement("div");
    const els = buildTokens(box, ["a", "b", "c", "d"]);
    const colour = cssWeight;
    const step = 1 / SHADE_LEVELS;
    // 0.3 lies between two levels: drawn at the nearer, 19/64 (0.2969), not at 0.3
    updateTokens(els, { k: 3, alpha: new Float32Array([0.3, 0.69, 0.004]), reachable: 3 });
    expect(els[0].style.backgroundColor).toBe(colour(19 * step));
    expect(colour(19 * step)).not.toBe(colour(0.3)); // the rounding is visible to this test
    expect(els[2].style.backgroundColor).toBe(colour(0)); // under half a level: blank
    // α drifts by less than half a level: no token's style is written again
    const written: number[] = [];
    els.forEach((e, i) => {
      const style = e.style;
      Object.defineProperty(e, "style", { get: () => { written.push(i); return style; }, configurable: true });
    });
    updateTokens(els, { k: 3, alpha: new Float32Array([0.301, 0.688, 0.005]), reachable: 3 });
    expect(written).toEqual([]);
    updateTokens(els, { k: 3, alpha: new Float32Array([0.5, 0.25, 0.25]), reachable: 3 }); // a real change
    expect(written).toEqual([0, 0, 1, 1, 2, 2]); // background and ink, each word once
    expect(els[0].style.backgroundColor).toBe(colour(0.5));
    // NaN (a custom model's trace) is grey, ±∞ saturate: no throw
    updateTokens(els, { k: 3, alpha: new Float32Array([NaN, Infinity, -Infinity]), reachable: 3 });
    expect(els.slice(0, 3).map((e) => e.style.backgroundColor)).toEqual(["rgb(128, 128, 128)", colour(1), colour(0)]);
  });

  it("gradient mode shades x_1 … x_{k-1} by ‖∂h_k/∂x_i‖ on a log scale, and nothing else", () => {
    const box = document.createElement("div");
    const els = buildTokens(box, ["a", "b", "c", "d", "e"]);
    const alpha = new Float32Array([0.1, 0.2, 0.3, 0.4]);
    const grad = new Float32Array([1e-9, 1e-3, 1, 0.5]); // x_1 … x_4 at k = 4
    updateTokens(els, { k: 4, alpha, reachable: 4, mode: "gradient", grad });
    expect(els.map((e) => e.dataset.grad ?? null)).toEqual([null, "1e-9", "0.001", "1", null, null]);
    expect(els.some((e) => e.dataset.alpha !== undefined)).toBe(false); // not both at once
    expect(els[4].getAttribute("aria-current")).toBe("step");
    for (const i of [3, 4]) els[i].dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    expect(els[4].title).toMatch(/‖∂h4\/∂x4‖ = 5\.00e-1/);
    expect(els[3].title).toBe("‖∂h4/∂x3‖ = 1.00e+0");
    const rgb = weightRGB(1);
    expect(els[3].style.backgroundColor).toBe(`rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`); // the largest
    expect(els[1].style.backgroundColor).toBe("rgb(255, 255, 255)"); // 9 decades down: blank
    expect(els[0].classList.contains("is-shaded")).toBe(false); // ⟨start⟩ is no input
    updateTokens(els, { k: 4, alpha, reachable: 4, mode: "alpha", grad });
    expect(els.some((e) => e.dataset.grad !== undefined)).toBe(false);
    expect(els[1].dataset.alpha).toBe(formatFloat32(0.2));
  });

  it("gradLevel: the largest is 1, GRAD_DECADES down is 0, halfway is 0.5", () => {
    expect(gradLevel(2, 2)).toBe(1);
    expect(gradLevel(2 * 10 ** -GRAD_DECADES, 2)).toBeCloseTo(0, 12);
    expect(gradLevel(2 * 10 ** (-GRAD_DECADES / 2), 2)).toBeCloseTo(0.5, 12);
    expect(gradLevel(1e-30, 1)).toBe(0);
    expect(gradLevel(0, 1)).toBe(0);
    expect(gradLevel(Number.NaN, 1)).toBe(0);
    expect(gradLevel(Infinity, Infinity)).toBe(1); // never NaN, which would be no colour at all
    expect(gradLevel(5, Infinity)).toBe(0);
  });

  it("touches only what can change: reachability past both positions, nothing beyond", () => {
    const box = document.createElement("div");
    const els = buildTokens(box, Array.from({ length: 50 }, (_, i) => `w${i}`));
    updateTokens(els, { k: 2, alpha: new Float32Array([0.5, 0.5]), reachable: 10 });
    expect(els.map((e) => e.classList.contains("is-reachable")).lastIndexOf(true)).toBe(10);
    const writes: number[] = [];
    els.forEach((e, i) => {
      const toggle = e.classList.toggle.bind(e.classList);
      e.classList.toggle = (name: string, force?: boolean) => (writes.push(i), toggle(name, force));
    });
    updateTokens(els, { k: 3, alpha: new Float32Array([0.2, 0.3, 0.5]), reachable: 30 });
    expect(Math.max(...writes)).toBe(30); // 31 … 50 untouched
    expect(els.map((e) => e.classList.contains("is-reachable")).lastIndexOf(true)).toBe(30);
    expect(els[20].classList.contains("is-future")).toBe(true);
    writes.length = 0;
    updateTokens(els, { k: 3, alpha: new Float32Array([0.2, 0.3, 0.5]), reachable: 30 });
    expect(writes).toEqual([]); // the same state: no DOM write at all
    updateTokens(els, { k: 1, alpha: new Float32Array([1]), reachable: 12 });
    expect(els.map((e) => e.classList.contains("is-reachable")).lastIndexOf(true)).toBe(12);
    expect(els[2].classList.contains("is-shaded")).toBe(false);
    expect(els[1].getAttribute("aria-current")).toBe("step");
  });

  it("the token under the pointer shows the new weight's tooltip at once", () => {
    const box = document.createElement("div");
    const els = buildTokens(box, ["a", "b", "c"]);
    updateTokens(els, { k: 2, alpha: new Float32Array([0.25, 0.75]), reachable: 3 });
    els[1].dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    expect(els[1].title).toBe("α(1,1) = 0.75");
    updateTokens(els, { k: 3, alpha: new Float32Array([0.5, 0.125, 0.375]), reachable: 3 });
    expect(els[1].title).toBe("α(2,1) = 0.125");
    expect(els[0].hasAttribute("title")).toBe(false); // not hovered: written when it is
  });

  it("while Play runs, only the slots just before the current one carry data-alpha; at rest all do, never a stale one", () => {
    const box = document.createElement("div");
    const n = 40;
    const els = buildTokens(box, Array.from({ length: n }, (_, i) => `w${i}`));
    const row = (k: number) => Float32Array.from({ length: k }, (_, i) => (i + 1) / ((k * (k + 1)) / 2));
    const labelled = () => els.filter((e) => e.hasAttribute("data-alpha")).map((e) => Number(e.dataset.index));
    updateTokens(els, { k: 30, alpha: row(30), reachable: n });
    expect(labelled()).toEqual(Array.from({ length: 30 }, (_, i) => i));
    updateTokens(els, { k: 31, alpha: row(31), reachable: n, labels: "near" });
    const near = Array.from({ length: LABEL_WINDOW }, (_, i) => 31 - LABEL_WINDOW + i);
    expect(labelled()).toEqual(near); // the others' labels are gone, not left at step 29's values
    for (const i of near) expect(els[i].dataset.alpha).toBe(formatFloat32(row(31)[i]));
    // the colours and the tooltip follow every slot all the same
    expect(els[3].style.backgroundColor).toBe(cssWeight(Math.round(row(31)[3] * SHADE_LEVELS) / SHADE_LEVELS));
    els[3].dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    expect(els[3].title).toBe(`α(30,3) = ${formatFloat32(row(31)[3])}`);
    updateTokens(els, { k: 32, alpha: row(32), reachable: n, labels: "all" }); // Play stopped
    expect(labelled()).toEqual(Array.from({ length: 32 }, (_, i) => i));
    expect(els[3].dataset.alpha).toBe(formatFloat32(row(32)[3]));
    expect(els[3].title).toBe(`α(31,3) = ${formatFloat32(row(32)[3])}`); // still under the pointer
  });
});

