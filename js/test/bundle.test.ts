// The built bundle (what anywidget loads) renders and keeps to the DOM contract.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { FakeModel } from "./helpers";

const bundle = resolve(__dirname, "../../attn_widget/static/widget.js");

describe.skipIf(!existsSync(bundle))("built bundle", () => {
  it("exports initialize/render that build the widget", async () => {
    const mod = await import(/* @vite-ignore */ pathToFileURL(bundle).href);
    const model = new FakeModel({
      t: 0, T: 2, tokens: ["a", "<b>b</b>"], update_rule: "eq3", align_name: "additive",
      z_layout: [["x", 2], ["c", 3]], hidden_size: 3, input_size: 2, frontier: 0, version: 0,
      playing: false, speed: 4, status: "", _snapshot: new DataView(new ArrayBuffer(0)),
    });
    const cleanupModel = mod.default.initialize({ model });
    const el = document.createElement("div");
    const cleanupView = mod.default.render({ model, el });
    const root = el.querySelector(".attn-widget")!;
    expect(root).not.toBeNull();
    expect(root.querySelectorAll("[data-index]").length).toBe(3);
    expect(root.querySelector("b")).toBeNull();
    // the equations are native MathML (no KaTeX markup, no stylesheet fonts)
    const update = root.querySelector('.aw-update-eq math[display="block"]')!;
    expect(update.namespaceURI).toBe("http://www.w3.org/1998/Math/MathML");
    expect([...update.querySelectorAll("mtable > mtr")].map((r) => r.textContent)).toEqual(["xt+1", "ct"]);
    expect(root.querySelector('.aw-align-eq math[display="block"] mtable')).not.toBeNull(); // additive's [h_i; h_t]
    expect(root.querySelector(".katex")).toBeNull();
    expect(model.sent.some((m) => m.type === "sync")).toBe(true);
    cleanupView();
    cleanupModel();
    expect(el.querySelector(".attn-widget")).toBeNull();
  });
});
