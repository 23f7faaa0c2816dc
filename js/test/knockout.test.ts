// Knockout in the view (docs/design.md §2): the Knockout toggle, a click in
// knockout mode or K on a focused token asks the kernel to hide that slot
// from attention, and the hidden slots are marked in the tokens and in the α
// matrix's columns.  The numbers drawn stay the kernel's: nothing here
// recomputes a step.  And the shading caption, which says what each model's
// weights are computed from.
import { afterEach, describe, expect, it } from "vitest";
import { Controller } from "../src/controller";
import { AlphaMatrix, MatrixLevels } from "../src/matrix";
import { shadingCaption, shadingKind } from "../src/panels/token_strip";
import { buildTokens, HIDDEN_NOTE, updateTokens } from "../src/tokens";
import { View } from "../src/view";
import { encode, FakeModel, rawStep, snapshot } from "./helpers";

const TOKENS = ["the", "<b>key</b>", "is", "here"];

function setup(extra: Record<string, any> = {}, standalone = false) {
  const model = new FakeModel({
    t: 3, T: 4, tokens: TOKENS,
    update_rule: "eq4", align_name: "dot", z_layout: [["h", 3], ["x", 2], ["c", 3]],
    hidden_size: 3, input_size: 2, frontier: 0, version: 0, playing: false, speed: 4,
    status: "", _snapshot: new DataView(new ArrayBuffer(0)), knockout: [], can_knockout: true, ...extra,
  });
  const ctl = new Controller(model as any, { standalone });
  const host = document.createElement("div");
  document.body.appendChild(host);
  const view = new View(ctl, host);
  return { model, ctl, view, root: view.root };
}

/** The kernel's answer to a change: every trait set first, then each change heard,
 * as Backbone's set does with one comm message. */
function kernelSets(model: FakeModel, traits: Record<string, any>) {
  Object.assign(model.state, traits);
  for (const name of Object.keys(traits)) model.fire(`change:${name}`);
}

function kernelSends(model: FakeModel, ts: number[], version = 0, alpha?: (t: number) => number[]) {
  const steps = ts.map((t) => ({ ...rawStep(t), ...(alpha ? { alpha: alpha(t) } : {}) }));
  const { descs, buffer } = encode(steps);
  model.receive({ type: "steps", version, frontier: Math.max(...ts) + 1, T: 4, reason: "step", steps: descs }, [buffer]);
}

const knockoutButton = (root: HTMLElement) =>
  [...root.querySelectorAll("button")].find((b) => b.textContent === "Knockout") as HTMLButtonElement;
const token = (root: HTMLElement, i: number) => root.querySelector(`.aw-token[data-index="${i}"]`) as HTMLElement;
const knockouts = (model: FakeModel) => model.sent.filter((m) => m.type === "knockout");
const pressK = (target: HTMLElement) => {
  const event = new KeyboardEvent("keydown", { key: "k", bubbles: true, cancelable: true });
  target.dispatchEvent(event);
  return event;
};

afterEach(() => {
  document.body.replaceChildren();
});

describe("knockout in the view", () => {
  it("a toggle button, aria-pressed, shown only where the kernel can hide slots", () => {
    const { root, model, view } = setup();
    const button = knockoutButton(root);
    expect(button.style.display).toBe("");
    expect(button.getAttribute("aria-pressed")).toBe("false");
    expect(button.title).toMatch(/key K/);
    button.click();
    expect(button.getAttribute("aria-pressed")).toBe("true");
    expect(root.classList.contains("is-knocking")).toBe(true);
    button.click();
    expect(button.getAttribute("aria-pressed")).toBe("false");
    button.click();
    // eq1, or a comparison that cannot: no button, and its mode goes with it
    model.set("can_knockout", false);
    view.render();
    expect(button.style.display).toBe("none");
    expect(button.getAttribute("aria-pressed")).toBe("false");
    token(root, 1).click();
    expect(knockouts(model)).toEqual([]);
  });

  it("in knockout mode a click hides the token's slot and does not move; the kernel's answer is drawn", () => {
    const { root, model, view, ctl } = setup();
    kernelSends(model, [0, 1, 2]);
    view.render();
    knockoutButton(root).click();
    token(root, 1).click();
    expect(model.get("t")).toBe(3); // not moved to 1
    expect(knockouts(model)).toEqual([{ type: "knockout", version: 0, slots: [1] }]);
    // marked at once, while the steps shown are still the old version's
    view.render();
    expect(token(root, 1).classList.contains("is-hidden")).toBe(true);
    expect(token(root, 1).getAttribute("aria-label")).toBe(`${TOKENS[0]}: ${HIDDEN_NOTE}`);
    expect(Number(token(root, 1).dataset.alpha)).toBeCloseTo(rawStep(2).alpha![1], 6);
    // the kernel's new version: its α has an exact 0 at slot 1, and that is what is shown
    kernelSets(model, { version: 1, knockout: [1] });
    kernelSends(model, [0, 1, 2], 1, (t) => (t === 0 ? [1] : Array.from({ length: t + 1 }, (_, i) => (i === 1 ? 0 : 1 / t))));
    view.render();
    expect(ctl.knockout).toEqual(new Set([1]));
    expect(token(root, 1).classList.contains("is-hidden")).toBe(true);
    expect(token(root, 1).dataset.alpha).toBe("0");
    expect(token(root, 2).dataset.alpha).toBe("0.5");
    // a second click shows it again: the whole new knockout, for the new version
    token(root, 1).click();
    expect(knockouts(model).at(-1)).toEqual({ type: "knockout", version: 1, slots: [] });
    kernelSets(model, { version: 2, knockout: [] });
    view.render();
    expect(token(root, 1).classList.contains("is-hidden")).toBe(false);
    expect(token(root, 1).hasAttribute("aria-label")).toBe(false);
    expect(root.querySelectorAll(".aw-token.is-hidden").length).toBe(0);
  });

  it("clicks faster than the kernel: the next request waits for the answer and goes with its version", () => {
    const { root, model, view, ctl } = setup();
    knockoutButton(root).click();
    token(root, 1).click();
    token(root, 4).click(); // a future slot can be hidden too
    expect(knockouts(model)).toEqual([{ type: "knockout", version: 0, slots: [1] }]);
    view.render();
    expect([...root.querySelectorAll<HTMLElement>(".aw-token.is-hidden")].map((e) => e.dataset.index)).toEqual(["1", "4"]);
    kernelSets(model, { version: 1, knockout: [1] });
    expect(knockouts(model)).toEqual([
      { type: "knockout", version: 0, slots: [1] },
      { type: "knockout", version: 1, slots: [1, 4] },
    ]);
    kernelSets(model, { version: 2, knockout: [1, 4] });
    expect(knockouts(model).length).toBe(2);
    // a refused request (the data changed under it) leaves the kernel's knockout shown
    token(root, 0).click();
    expect(knockouts(model).at(-1)).toEqual({ type: "knockout", version: 2, slots: [0, 1, 4] });
    model.receive({ type: "error", message: "the data changed before this knockout arrived", request: "knockout" });
    view.render();
    expect([...root.querySelectorAll<HTMLElement>(".aw-token.is-hidden")].map((e) => e.dataset.index)).toEqual(["1", "4"]);
    expect(ctl.message).toMatch(/^kernel: .*knockout/); // the status line says it once the step is here
  });

  it("K on the focused token toggles its slot, in either mode, and on the widget the red token's; the focus stays on the token when the strip is rebuilt", () => {
    const { root, model, view } = setup();
    const t2 = token(root, 2);
    expect(t2.tabIndex).toBe(-1); // focusable by a click or focus(), not a Tab stop
    t2.focus();
    const event = pressK(t2);
    expect(event.defaultPrevented).toBe(true); // never Jupyter's K (select the cell above)
    expect(knockouts(model)).toEqual([{ type: "knockout", version: 0, slots: [2] }]);
    expect(model.get("t")).toBe(3);
    kernelSets(model, { version: 1, knockout: [2] });
    view.render(); // a new version rebuilds the strip
    expect(token(root, 2)).not.toBe(t2);
    expect(document.activeElement).toBe(token(root, 2));
    pressK(token(root, 2));
    expect(knockouts(model).at(-1)).toEqual({ type: "knockout", version: 1, slots: [] });
    // K with no token focused: the red token's slot k (README), none at k = 0
    kernelSets(model, { version: 2, knockout: [] });
    expect(pressK(root).defaultPrevented).toBe(true);
    expect(knockouts(model).at(-1)).toEqual({ type: "knockout", version: 2, slots: [3] });
    kernelSets(model, { version: 3, knockout: [3], t: 0 });
    expect(pressK(root).defaultPrevented).toBe(false);
    // where the kernel cannot hide slots, K is not the widget's
    model.set("can_knockout", false);
    expect(pressK(token(root, 2)).defaultPrevented).toBe(false);
    expect(knockouts(model).length).toBe(3);
  });

  it("outside knockout mode a click still moves, and a double-click still edits", () => {
    const { root, model, view } = setup({ t: 0 });
    kernelSends(model, [0, 1, 2]);
    view.render();
    token(root, 2).click();
    expect(model.get("t")).toBe(2);
    expect(knockouts(model)).toEqual([]);
  });

  it("hatches a hidden slot's column in the α matrix, from the first row that reads it to the current one", () => {
    const { root, model, view } = setup({ knockout: [1] });
    kernelSends(model, [0, 1, 2]);
    view.render();
    const marks = root.querySelectorAll<HTMLElement>(".aw-matrix-hidden");
    expect(marks.length).toBe(1);
    expect(marks[0].dataset.slot).toBe("1");
    // T = 4: 5 pixels a side, slot i is pixel i; rows 1 … 2 (step t sits on pixel t+1) are shown at k = 3
    expect(marks[0].style.left).toBe("20%");
    expect(marks[0].style.width).toBe("20%");
    expect(marks[0].style.top).toBe("40%");
    expect(marks[0].style.height).toBe("40%");
    model.set("t", 1); // only step 0 shown: it cannot read slot 1
    view.render();
    expect(marks[0].style.display).toBe("none");
    kernelSets(model, { version: 1, knockout: [] });
    view.render();
    expect(root.querySelectorAll(".aw-matrix-hidden").length).toBe(0);
  });

  it("an exported page marks the knockout it was computed with and offers no button", () => {
    const snap = snapshot(0, [rawStep(0), rawStep(1), rawStep(2)]);
    const { root, model, ctl } = setup({ _snapshot: snap, knockout: [0, 2], can_knockout: true }, true);
    expect(knockoutButton(root).style.display).toBe("none"); // no kernel to ask
    expect([...root.querySelectorAll<HTMLElement>(".aw-token.is-hidden")].map((e) => e.dataset.index)).toEqual(["0", "2"]);
    expect(root.querySelectorAll(".aw-matrix-hidden").length).toBe(2);
    ctl.toggleKnockout(1);
    expect(model.sent).toEqual([]);
  });
});

describe("tokens: hidden slots", () => {
  it("marks any hidden slot, even far past the position, and unmarks it", () => {
    const box = document.createElement("div");
    const els = buildTokens(box, ["a", "b", "c", "d", "e", "f"]);
    updateTokens(els, { k: 2, alpha: new Float32Array([0.5, 0.5]), reachable: 2 });
    updateTokens(els, { k: 2, alpha: new Float32Array([0.5, 0.5]), reachable: 2, hidden: new Set([0, 6]) });
    expect(els.filter((e) => e.classList.contains("is-hidden")).map((e) => e.dataset.index)).toEqual(["0", "6"]);
    expect(els[6].getAttribute("aria-label")).toBe(`f: ${HIDDEN_NOTE}`);
    expect(els[0].getAttribute("aria-label")).toBe(`⟨start⟩: ${HIDDEN_NOTE}`);
    els[0].dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    expect(els[0].title).toBe(`${HIDDEN_NOTE} (knockout): its α is 0\nα(1,0) = 0.5`);
    // stepping on keeps the marks (only the tokens near the position are drawn again)
    updateTokens(els, { k: 3, alpha: new Float32Array([0, 0.5, 0.5]), reachable: 3, hidden: new Set([0, 6]) });
    expect(els[6].classList.contains("is-hidden")).toBe(true);
    expect(els[0].dataset.alpha).toBe("0");
    updateTokens(els, { k: 3, alpha: new Float32Array([0.2, 0.4, 0.4]), reachable: 3, hidden: new Set() });
    expect(els.some((e) => e.classList.contains("is-hidden") || e.hasAttribute("aria-label"))).toBe(false);
    expect(els[0].title).toBe("α(2,0) = 0.2"); // the pointer is still over it
  });
});

describe("the α matrix: a column's shown cells", () => {
  it("spans slot i's pixel column, from row i to the current row, and none before row i", () => {
    const levels = new MatrixLevels();
    levels.reset(9); // 10 pixels a side: slot i is pixel i
    const m = new AlphaMatrix(document.createElement("canvas"));
    m.sync(levels);
    m.current = 6; // steps 0 … 6 shown: pixel rows 1 … 7
    expect(m.columnBox(3)).toEqual({ left: 30, width: 10, top: 40, height: 40 });
    expect(m.columnBox(0)).toEqual({ left: 0, width: 10, top: 10, height: 70 });
    expect(m.columnBox(6)).toEqual({ left: 60, width: 10, top: 70, height: 10 });
    expect(m.columnBox(7)).toBeNull();
  });
});

describe("the shading caption", () => {
  const words = ["the", "door", "opens"];

  it("eq3 and eq4: chosen from h_{k-1}, before the red word is read", () => {
    expect(shadingKind("eq4")).toBe("rnn");
    expect(shadingKind("eq3")).toBe("rnn");
    expect(shadingCaption(3, words, "rnn")).toBe(
      "shading: the weights α_2,i that h_2 used to read “opens” (red), chosen before reading it",
    );
  });

  it("the LSTMN: scored with the red word itself and the previous summary h̃, so they react to it", () => {
    expect(shadingKind("lstmn")).toBe("lstmn");
    const caption = shadingCaption(3, words, "lstmn");
    expect(caption).toBe(
      "shading: the weights α_2,i that step 2 used to read “opens” (red), scored with “opens” itself and the previous summary h̃_1, so they react to the red word",
    );
    expect(caption).not.toMatch(/before reading/);
    // the first step's previous summary is h̃_{-1} = 0
    expect(shadingCaption(1, words, "lstmn")).toMatch(/“the” itself and the previous summary h̃_-1 = 0/);
  });

  it("eq1 shades nothing; a model of one's own is not told what its weights depend on", () => {
    expect(shadingCaption(2, words, shadingKind("eq1"))).toBe("step 1 read “door” (red) into h_2; eq1 has no attention, so nothing is shaded");
    expect(shadingKind("gru")).toBe("own");
    expect(shadingKind(undefined)).toBe("own");
    expect(shadingCaption(2, words, "own")).toBe("shading: the weights α_1,i that step 1 used to read “door” (red)");
    expect(shadingCaption(0, words, "lstmn")).toBe("nothing read yet: h_0 = 0");
  });

  it("a model of one's own: its update is not drawn as the SimpleRNN's, and its pre is not called A·z+b", () => {
    const { root, view } = setup({ update_rule: "gru", align_name: "additive", z_layout: [["x", 2], ["c", 3]], t: 2 });
    view.render();
    expect(root.querySelector(".aw-update-eq")!.textContent).toMatch(/your own model's update/);
    expect(root.querySelector(".aw-update-eq")!.textContent).not.toMatch(/tanh/);
    expect([...root.querySelectorAll(".aw-arrow")].map((e) => e.textContent)).toEqual(["→", "→ … →"]);
    expect(root.querySelector('.aw-pieces [data-piece="pre"]')!.previousElementSibling!.textContent).toMatch(/^pre/);
    expect(root.querySelector(".aw-caption")!.textContent).toBe("shading: the weights α_1,i that step 1 used to read “<b>key</b>” (red)");
  });

  it("an LSTMN without the zero slot (the paper's cell) does not claim one among its departures", () => {
    const { root, model, view } = setup({ update_rule: "lstmn", align_name: "additive", z_layout: [], zero_slot: false });
    const departures = () => root.querySelector(".aw-departures")!.textContent!;
    expect(departures()).not.toMatch(/start with a slot/);
    expect(departures()).toMatch(/no zero slot/);
    model.set("zero_slot", true);
    view.render();
    expect(departures()).toMatch(/start with a slot h₀ = m₀ = 0/);
  });

  it("an LSTMN widget shows its own caption", () => {
    const { root, model, view } = setup({ update_rule: "lstmn", align_name: "additive", z_layout: [], t: 2 });
    view.render();
    expect(root.querySelector(".aw-caption")!.textContent).toMatch(/scored with “<b>key<\/b>” itself and the previous summary h̃_0/);
    expect(root.querySelector(".aw-caption b")).toBeNull();
    model.set("update_rule", "eq4");
    view.render();
    expect(root.querySelector(".aw-caption")!.textContent).toMatch(/chosen before reading it/);
  });
});
