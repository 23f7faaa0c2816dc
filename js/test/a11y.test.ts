// What a keyboard and a screen reader get: the keys inside a shadow root
// (marimo), the numbers behind the colours, the chooser's names and ids.
import { afterEach, describe, expect, it } from "vitest";
import { Controller } from "../src/controller";
import { formatFloat32 } from "../src/format";
import { keyTarget } from "../src/keys";
import { View } from "../src/view";
import { FakeModel, encode, rawStep } from "./helpers";

function setup(host: ParentNode = document.body, extra: Record<string, any> = {}) {
  const model = new FakeModel({
    t: 0, T: 4, tokens: ["the", "cat", "sat", "down"],
    update_rule: "eq4", align_name: "dot", z_layout: [["h", 3], ["x", 2], ["c", 3]],
    hidden_size: 3, input_size: 2, frontier: 0, version: 0, playing: false, speed: 4,
    status: "", _snapshot: new DataView(new ArrayBuffer(0)), editable: true, accepts_text: true,
    show_controls: true, vocabulary: ["the", "cat", "cats", "sat", "down"], ...extra,
  });
  const ctl = new Controller(model as any);
  const div = document.createElement("div");
  host.appendChild(div);
  const view = new View(ctl, div);
  const { descs, buffer } = encode([0, 1, 2, 3].map((t) => rawStep(t)));
  model.receive({ type: "steps", version: 0, frontier: 4, T: 4, reason: "step", steps: descs }, [buffer]);
  return { model, ctl, view, root: view.root };
}

afterEach(() => {
  document.body.replaceChildren();
});

describe("keys in a shadow root (marimo's <marimo-anywidget>)", () => {
  it("reads the focused element from the event's path, not the shadow host", () => {
    const host = document.createElement("div");
    document.body.append(host);
    const shadow = host.attachShadow({ mode: "open" });
    const { root, model } = setup(shadow);
    root.focus();
    let seen: Node | null = null;
    const spy = (e: Event) => {
      seen = keyTarget(e);
      expect(e.target).toBe(host); // what the window sees: the host, retargeted
    };
    window.addEventListener("keydown", spy, true);
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true, composed: true }));
    window.removeEventListener("keydown", spy, true);
    expect(seen).toBe(root);
    expect(model.get("t")).toBe(1); // the key stepped the widget
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "End", bubbles: true, composed: true }));
    expect(model.get("t")).toBe(4);
  });

  it("hands the chooser its keys there: ArrowDown, then Enter picks", () => {
    const host = document.createElement("div");
    document.body.append(host);
    const shadow = host.attachShadow({ mode: "open" });
    const { root, model } = setup(shadow, { t: 2 });
    const pencil = root.querySelector<HTMLButtonElement>('button[aria-label="Replace a token"]');
    model.receive({ type: "steps", version: 0, frontier: 4, T: 4, reason: "sync", steps: [] }, []); // a kernel answered
    expect(pencil).not.toBeNull();
    root.focus();
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "e", bubbles: true, composed: true }));
    const search = root.querySelector<HTMLInputElement>(".aw-chooser-search")!;
    expect(shadow.activeElement).toBe(search);
    search.value = "cat";
    search.dispatchEvent(new Event("input"));
    const selected = () => root.querySelector<HTMLElement>('[role="option"][aria-selected="true"]')!.dataset.token;
    expect(selected()).toBe("cat");
    const press = (key: string) => search.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true, composed: true }));
    press("ArrowDown");
    expect(selected()).toBe("cats");
    press("Enter");
    expect(model.sent.at(-1)).toEqual({ type: "edit", version: 0, i: 2, token: "cats" });
  });
});

describe("the numbers behind the colours", () => {
  it("lists each token's α and each strip's cells, as the tooltips and data-alpha give them", () => {
    const { root, model, view } = setup();
    model.set("t", 3);
    view.render();
    const toggle = [...root.querySelectorAll("button")].find((b) => b.textContent === "show the numbers")!;
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    expect(root.querySelector(".aw-values-table")).toBeNull(); // nothing built while closed
    toggle.click();
    expect(toggle.getAttribute("aria-expanded")).toBe("true");
    const cells = (table: Element) => [...table.querySelectorAll("tr")].slice(1).map((tr) => [...tr.cells].map((c) => c.textContent));
    const weights = root.querySelector(".aw-values-weights")!;
    const alpha = rawStep(2).alpha!;
    expect(cells(weights)).toEqual([0, 1, 2].map((i) => [String(i), ["⟨start⟩", "the", "cat"][i], formatFloat32(Math.fround(alpha[i]))]));
    const dataAlpha = [...root.querySelectorAll<HTMLElement>(".aw-tokens [data-alpha]")].map((e) => e.dataset.alpha);
    expect(cells(weights).map((r) => r[2])).toEqual(dataAlpha);
    const vectors = root.querySelector(".aw-values-vectors")!;
    const head = [...vectors.querySelectorAll("tr")[0].cells].map((c) => c.textContent);
    // the pieces' h_3 is the states' h_3 and is listed once; this fake z's blocks are
    // not h_2 and c_2 (a real step's are, and are then listed once too)
    expect(head).toEqual(["j", "h_3", "h_2", "Δh", "c_2", "h_2", "x_3", "c_2", "A·z+b"]);
    const h3 = rawStep(2).h;
    expect(cells(vectors).map((r) => r[1])).toEqual(h3.map((v) => formatFloat32(Math.fround(v))));
    // the next position rewrites them; closing drops them
    model.set("t", 4);
    view.render();
    expect(cells(root.querySelector(".aw-values-weights")!)).toHaveLength(4);
    // a slot hidden from attention says so, as its token's name does
    model.set("knockout", [2]);
    view.render();
    expect(cells(root.querySelector(".aw-values-weights")!).map((r) => r[1])).toEqual(["⟨start⟩", "the", "cat: hidden from attention", "sat"]);
    toggle.click();
    expect(root.querySelector(".aw-values-table")).toBeNull();
  });
});

describe("the weights table's caption", () => {
  it("is the strip's, per model: the LSTMN's weights see the red word, eq4's were chosen before it", () => {
    for (const [rule, says] of [["eq4", "chosen before reading it"], ["lstmn", "so they react to the red word"]]) {
      const { root, model, view } = setup(document.body, { update_rule: rule });
      model.set("t", 3);
      view.render();
      [...root.querySelectorAll("button")].find((b) => b.textContent === "show the numbers")!.click();
      const caption = root.querySelector(".aw-values-weights caption")!.textContent!;
      expect(caption).toContain(says);
      expect(root.querySelector(".aw-caption")!.textContent).toBe(`shading: ${caption}`);
      document.body.replaceChildren();
    }
  });
});

describe("the numbers while Play runs", () => {
  it("stay as they were (no table of k rows written per step), and follow the position once Play stops", () => {
    const { root, model, view } = setup();
    model.set("t", 2);
    view.render();
    const toggle = root.querySelector<HTMLButtonElement>(".aw-values-toggle")!;
    toggle.click();
    const body = root.querySelector<HTMLElement>(".aw-values-body")!;
    const rows = () => root.querySelectorAll(".aw-values-weights tr").length - 1;
    expect(rows()).toBe(2);
    const table = root.querySelector(".aw-values-weights");
    model.set("playing", true);
    for (const t of [3, 4]) {
      model.set("t", t);
      view.render();
      expect(root.dataset.t).toBe(String(t)); // the view moved
      expect(root.querySelector(".aw-values-weights")).toBe(table); // the table was not rewritten
      expect(rows()).toBe(2);
    }
    expect(body.getAttribute("aria-busy")).toBe("true");
    expect(root.querySelector(".aw-values-note")!.textContent).toMatch(/Play is running/);
    model.set("playing", false);
    view.render();
    expect(rows()).toBe(4);
    expect(body.hasAttribute("aria-busy")).toBe(false);
    expect(root.querySelector(".aw-values-note")!.textContent).toBe("");
  });
});

describe("names and ids", () => {
  it("a focusable root that is a named region; the chooser's ids unique in the page", () => {
    const a = setup();
    const b = setup();
    expect(a.root.getAttribute("role")).toBe("region");
    expect(a.root.getAttribute("aria-label")).toBe("Self-attention RNN stepper");
    for (const { root, model } of [a, b]) {
      model.set("t", 1);
      model.receive({ type: "steps", version: 0, frontier: 4, T: 4, reason: "sync", steps: [] }, []);
      root.querySelector<HTMLButtonElement>('button[aria-label="Replace a token"]')!.click();
    }
    const ids = [...document.querySelectorAll('[role="option"]')].map((o) => o.id);
    expect(ids.length).toBeGreaterThan(2);
    expect(new Set(ids).size).toBe(ids.length);
    const list = a.root.querySelector<HTMLElement>('[role="listbox"]')!;
    expect(list.tabIndex).toBe(0); // it scrolls: it can take the focus
    const close = a.root.querySelector<HTMLButtonElement>(".aw-chooser-close")!;
    expect(close.getAttribute("aria-label")).toBe("Close");
    expect(close.textContent).toBe(""); // an icon: no visible text that is not its name
    expect(close.querySelector("svg")).not.toBeNull();
  });
});
