import { afterEach, describe, expect, it } from "vitest";
import { Controller } from "../src/controller";
import { View } from "../src/view";
import { CHOOSER_ROWS, matchWords } from "../src/whatif";
import { MAX_TEXT_CHARS, ZERO_INPUT } from "../src/protocol";
import { FakeModel } from "./helpers";

function setup(extra: Record<string, any> = {}) {
  const model = new FakeModel({
    t: 2, T: 4, tokens: ["the", "<unk>", "is", "here"],
    update_rule: "eq4", align_name: "dot", z_layout: [["h", 3], ["x", 2], ["c", 3]],
    hidden_size: 3, input_size: 2, frontier: 0, version: 3, playing: false, speed: 4,
    status: "", _snapshot: new DataView(new ArrayBuffer(0)),
    vocabulary: ["<unk>", "the", "key", "keys", "monkey", "is", "<b>bold</b>"],
    editable: true, accepts_text: true, unknown: [[2, "zebra"]], edits: [], ...extra,
  });
  const ctl = new Controller(model as any);
  const host = document.createElement("div");
  document.body.appendChild(host);
  const view = new View(ctl, host);
  if (!extra.noKernel) model.receive({ type: "pong" }); // a kernel is there: edits are offered
  view.render();
  return { model, ctl, view, root: view.root };
}

const byLabel = (root: HTMLElement, label: string) =>
  root.querySelector(`[aria-label="${label}"]`) as HTMLElement;
const press = (target: HTMLElement, key: string) =>
  target.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true, cancelable: true }));
const options = (root: HTMLElement) => [...root.querySelectorAll<HTMLElement>(".aw-chooser-option")];

afterEach(() => document.body.replaceChildren());

describe("matchWords", () => {
  const vocab = ["the", "key", "keys", "monkey", "turkey", "a"];
  it("lists the word, then words starting with it, then words containing it", () => {
    expect(matchWords(vocab, "key").words).toEqual(["key", "keys", "monkey", "turkey"]);
    expect(matchWords(vocab, " KEY ").words).toEqual(["key", "keys", "monkey", "turkey"]);
    expect(matchWords(vocab, "zz")).toEqual({ words: [], total: 0 });
  });
  it("shows at most a page, and says how many matched", () => {
    const many = Array.from({ length: 300 }, (_, i) => `w${i}`);
    const { words, total } = matchWords(many, "w1");
    expect(words.length).toBe(CHOOSER_ROWS);
    expect(total).toBe(111); // w1, w10 … w19, w100 … w199
    expect(matchWords(many, "").words.length).toBe(CHOOSER_ROWS);
  });
});

describe("what-if in the view", () => {
  it("the chooser replaces the red token by a searched word, as text", () => {
    const { root, model } = setup();
    byLabel(root, "Replace a token").click();
    const dialog = byLabel(root, "Replace x2");
    expect(dialog.hidden).toBe(false);
    expect(dialog.textContent).toContain("replace x2 “<unk>” with:");
    const search = byLabel(root, "Search the vocabulary") as HTMLInputElement;
    expect(document.activeElement).toBe(search);
    expect(options(root)[0].dataset.zero).toBe("true");
    expect(options(root)[0].textContent).toContain(ZERO_INPUT);
    search.value = "b";
    search.dispatchEvent(new Event("input"));
    expect(options(root).map((o) => o.dataset.token ?? null)).toEqual([null, "<b>bold</b>"]);
    expect(root.querySelector(".aw-chooser b")).toBeNull(); // a word is text, never markup
    search.value = "key";
    search.dispatchEvent(new Event("input"));
    expect(options(root).map((o) => o.dataset.token ?? null)).toEqual([null, "key", "keys", "monkey"]);
    press(search, "ArrowDown"); // from "key" (chosen on Enter with a search) to "keys"
    press(search, "Enter");
    expect(model.sent.at(-1)).toEqual({ type: "edit", version: 3, i: 2, token: "keys" });
    expect(dialog.hidden).toBe(true);
    expect(model.get("tokens")).toEqual(["the", "<unk>", "is", "here"]); // the kernel answers
  });

  it("a chooser whose inputs changed under it closes; an edit carries the version it was opened on", () => {
    const { root, model, ctl, view } = setup();
    byLabel(root, "Replace a token").click();
    expect(byLabel(root, "Replace x2").hidden).toBe(false);
    ctl.store.reset(4); // a new sentence arrived (the kernel's new version)
    view.render();
    expect((root.querySelector(".aw-chooser") as HTMLElement).hidden).toBe(true);
    byLabel(root, "Replace a token").click();
    options(root)[0].click();
    expect(model.sent.at(-1)).toEqual({ type: "edit", version: 4, i: 2, token: null });
  });

  it("double-click opens the chooser for any token; the zero input is picked by click", () => {
    const { root, model } = setup();
    const token4 = root.querySelector('.aw-token[data-index="4"]') as HTMLElement;
    token4.dispatchEvent(new MouseEvent("dblclick", { bubbles: true }));
    expect(byLabel(root, "Replace x4").hidden).toBe(false);
    options(root)[0].click();
    expect(model.sent.at(-1)).toEqual({ type: "edit", version: 3, i: 4, token: null });
  });

  it("E opens it, Escape closes it and sends nothing", () => {
    const { root, model } = setup();
    root.focus();
    press(root, "e");
    const search = byLabel(root, "Search the vocabulary") as HTMLInputElement;
    expect(byLabel(root, "Replace x2").hidden).toBe(false);
    const before = model.sent.length;
    press(search, "ArrowRight"); // the search box's own key, not a step
    expect(model.get("t")).toBe(2);
    press(search, "Escape");
    expect(byLabel(root, "Replace x2").hidden).toBe(true);
    expect(model.sent.length).toBe(before);
  });

  it("vector inputs can only be zeroed", () => {
    const { root } = setup({ vocabulary: [], accepts_text: false, unknown: [] });
    byLabel(root, "Replace a token").click();
    expect(options(root).length).toBe(1);
    expect(root.querySelector(".aw-chooser-more")!.textContent).toContain("only be zeroed");
    expect((root.querySelector(".aw-read") as HTMLElement).style.display).toBe("none");
  });

  it("undo shows while there are edits, and asks the kernel", () => {
    const { root, model, view } = setup();
    expect(byLabel(root, "Undo edit").style.display).toBe("none");
    model.set("edits", [[2, "key", "keys"]]);
    view.render();
    expect(byLabel(root, "Undo edit").style.display).toBe("");
    byLabel(root, "Undo edit").click();
    expect(model.sent.at(-1)).toEqual({ type: "undo", version: 3 });
  });

  it("a saved notebook opened without its kernel offers no edits and no text box", () => {
    const { root } = setup({ noKernel: true });
    expect(byLabel(root, "Replace a token").style.display).toBe("none");
    expect((root.querySelector(".aw-read") as HTMLElement).style.display).toBe("none");
    root.focus();
    press(root, "e");
    expect((root.querySelector(".aw-chooser") as HTMLElement).hidden).toBe(true);
  });

  it("a comparison's panel (editable false) offers no edits and no text box", () => {
    const { root } = setup({ editable: false });
    expect(byLabel(root, "Replace a token").style.display).toBe("none");
    expect((root.querySelector(".aw-read") as HTMLElement).style.display).toBe("none");
    const token = root.querySelector('.aw-token[data-index="1"]') as HTMLElement;
    token.dispatchEvent(new MouseEvent("dblclick", { bubbles: true }));
    expect((root.querySelector(".aw-chooser") as HTMLElement).hidden).toBe(true);
  });

  it("unknown words are marked, with the word typed in the tooltip", () => {
    const { root } = setup();
    const token = root.querySelector('.aw-token[data-index="2"]') as HTMLElement;
    expect(token.textContent).toBe("<unk>");
    expect(token.classList.contains("is-unknown")).toBe(true);
    expect(token.dataset.word).toBe("zebra");
    token.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    expect(token.title).toContain("“zebra” is not in the model's vocabulary");
    expect(root.querySelectorAll(".is-unknown").length).toBe(1);
  });

  it("the text box sends the sentence; typing in it is never a step or a shortcut", () => {
    const { root, model } = setup();
    const input = byLabel(root, "Your sentence") as HTMLInputElement;
    expect(input.maxLength).toBe(MAX_TEXT_CHARS);
    input.focus();
    const seenByJupyter: string[] = [];
    document.addEventListener("keydown", (e) => seenByJupyter.push(e.key));
    for (const key of [" ", "ArrowLeft", "e", "End"]) press(input, key);
    expect(seenByJupyter).toEqual([]);
    expect(model.get("t")).toBe(2);
    input.value = "the zebra is here";
    (root.querySelector(".aw-read") as HTMLFormElement).requestSubmit();
    expect(model.sent.at(-1)).toEqual({ type: "text", text: "the zebra is here" });
    input.value = "   ";
    const before = model.sent.length;
    (root.querySelector(".aw-read") as HTMLFormElement).requestSubmit();
    expect(model.sent.length).toBe(before);
  });
});
