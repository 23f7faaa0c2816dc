// An exported page: the page model, the controller's standalone mode, and the
// entry that mounts the views from the page's data blocks.
import { afterEach, describe, expect, it, vi } from "vitest";
import { Controller } from "../src/controller";
import { exportedMessage } from "../src/notices";
import { linkPositions, PageModel } from "../src/page_model";
import { EXPORT_FORMAT, mountAll, readState } from "../src/standalone";
import { View } from "../src/view";
import { FakeModel, rawStep, snapshot } from "./helpers";

const HOSTILE = "</script><img src=x onerror=\"window.__pwned=1\"><!--";

function traits(T: number, saved: number, computed = saved, extra: Record<string, any> = {}) {
  return {
    t: 0, T, tokens: Array.from({ length: T }, (_, i) => (i === 1 ? HOSTILE : `w${i + 1}`)),
    update_rule: "eq4", align_name: "dot", z_layout: [["h", 3], ["x", 2], ["c", 3]],
    hidden_size: 3, input_size: 2, frontier: saved, version: 2, playing: false, speed: 10,
    shading: "alpha", status: "", title: "", show_controls: true, prediction_labels: [],
    _snapshot: snapshot(2, Array.from({ length: saved }, (_, t) => rawStep(t)), computed),
    ...extra,
  };
}

function standalone(T: number, saved: number, computed = saved, extra: Record<string, any> = {}) {
  const model = new FakeModel(traits(T, saved, computed, extra));
  const ctl = new Controller(model as any, { standalone: true });
  return { model, ctl };
}

/** The base64 of a snapshot, as export.py writes it into the page. */
function base64(view: DataView): string {
  let text = "";
  for (let i = 0; i < view.byteLength; i++) text += String.fromCharCode(view.getUint8(i));
  return btoa(text);
}

/** A data block as export.py writes it: JSON with `<` escaped, so no token closes the script. */
function dataBlock(panels: Record<string, any>[], direction?: string): HTMLScriptElement {
  const json = JSON.stringify({
    format: EXPORT_FORMAT, binary: ["_snapshot"], direction,
    panels: panels.map((p) => ({ ...p, _snapshot: base64(p._snapshot) })),
  }).replace(/</g, "\\u003c");
  const script = document.createElement("script");
  script.type = "application/json";
  script.className = "attn-widget-state";
  script.textContent = json;
  document.body.appendChild(script);
  return script;
}

afterEach(() => {
  document.body.replaceChildren();
  vi.useRealTimers();
});

describe("PageModel", () => {
  it("fires change:<name> synchronously, once per real change, with the new value", () => {
    const model = new PageModel({ t: 0, T: 5 });
    const heard: unknown[] = [];
    const fn = (v: unknown) => heard.push(v);
    model.on("change:t", fn);
    model.set("t", 3);
    expect(heard).toEqual([3]); // before set returns, as Backbone
    model.set("t", 3);
    expect(heard).toEqual([3]); // the same value is no change
    model.off("change:t", fn);
    model.set("t", 4);
    expect(heard).toEqual([3]);
    expect(model.get("t")).toBe(4);
  });

  it("sends nowhere and saves nothing, but counts what tried", () => {
    const model = new PageModel({});
    model.send({ type: "sync" });
    model.save_changes();
    expect(model.sent).toBe(1);
    expect(model.widget_manager).toBeTruthy();
  });

  it("linkPositions keeps every model's t equal, from whichever one moves", () => {
    const models = [0, 1, 2].map(() => new PageModel({ t: 0 }));
    const unlink = linkPositions(models);
    models[1].set("t", 7);
    expect(models.map((m) => m.get("t"))).toEqual([7, 7, 7]);
    models[0].set("t", 2);
    expect(models.map((m) => m.get("t"))).toEqual([2, 2, 2]);
    unlink();
    models[0].set("t", 5);
    expect(models.map((m) => m.get("t"))).toEqual([5, 2, 2]);
  });
});

describe("Controller, standalone", () => {
  it("never sends, never waits for a kernel, and says nothing when the page holds every step", () => {
    vi.useFakeTimers();
    const { model, ctl } = standalone(4, 4);
    expect(ctl.standalone).toBe(true);
    ctl.goto(3);
    ctl.sensitivityAt(3);
    ctl.edit(1, "x");
    ctl.undo();
    ctl.readText("a b");
    ctl.requestSync();
    vi.advanceTimersByTime(60_000);
    expect(model.sent).toEqual([]);
    expect(ctl.connection).toBe("ok");
    expect(ctl.message).toBe("");
    expect(ctl.last).toBe(4);
    ctl.goto(99);
    expect(model.get("t")).toBe(4);
  });

  it("clamps goto, step and End to the saved steps when the trace was cut, and says so", () => {
    const { model, ctl } = standalone(10, 6, 10);
    expect(ctl.last).toBe(6);
    expect(ctl.message).toBe("this page holds positions 0 … 6 of 10: an export keeps at most 4 MB of steps");
    expect(ctl.messageIsError).toBe(false);
    ctl.goto(9);
    expect(model.get("t")).toBe(6);
    ctl.step();
    expect(model.get("t")).toBe(6);
    ctl.back();
    expect(model.get("t")).toBe(5);
    expect(model.sent).toEqual([]);
  });

  it("plays to the last saved position, stops there, and starts again from 0", () => {
    vi.useFakeTimers();
    const { model, ctl } = standalone(10, 6, 10);
    const visited: number[] = [];
    model.on("change:t", () => visited.push(model.get("t")));
    ctl.togglePlay();
    vi.advanceTimersByTime(2000); // speed 10
    expect(visited).toEqual([1, 2, 3, 4, 5, 6]);
    expect(model.get("playing")).toBe(false);
    ctl.togglePlay(); // at the end of what the page holds: from the start again
    vi.advanceTimersByTime(250);
    expect(visited.slice(6, 9)).toEqual([0, 1, 2]);
    expect(model.sent).toEqual([]);
  });

  it("names a trace exported before every step was computed", () => {
    expect(standalone(10, 3, 3).ctl.message).toBe("this page holds positions 0 … 3 of 10: only 3 steps were computed when it was exported");
    expect(exportedMessage(0, 0, 4)).toBe("this page holds positions 0 … 0 of 4: no step was computed when it was exported");
    expect(exportedMessage(4, 4, 4)).toBe("");
  });

  it("keeps a live widget's bound at T", () => {
    const model = new FakeModel(traits(10, 6, 10));
    const ctl = new Controller(model as any);
    expect(ctl.standalone).toBe(false);
    expect(ctl.last).toBe(10);
    ctl.goto(9); // the kernel computes the rest
    expect(model.get("t")).toBe(9);
    expect(model.sent.some((m) => m.type === "sync")).toBe(true);
    ctl.dispose();
  });

  it("shows the cut on the view's status line, as text", () => {
    const { ctl } = standalone(10, 6, 10);
    const host = document.createElement("div");
    document.body.appendChild(host);
    const view = new View(ctl, host);
    const status = view.root.querySelector(".aw-status")!;
    expect(status.textContent).toContain("positions 0 … 6 of 10");
    expect(status.className).not.toContain("is-error");
    view.dispose();
  });
});

describe("standalone entry", () => {
  it("mounts a widget after its data block, with hostile tokens as text", () => {
    const script = dataBlock([traits(4, 4)]);
    const [mounted] = mountAll();
    expect(script.nextElementSibling).toBe(mounted.host);
    const root = mounted.host.querySelector(".attn-widget") as HTMLElement;
    expect(root.querySelector("img")).toBeNull();
    expect(root.querySelector('[data-index="2"]')!.textContent).toBe(HOSTILE);
    (root.querySelector('button[aria-label="Step forward"]') as HTMLButtonElement).click();
    expect(root.dataset.t).toBe("1");
    const alpha = Number(root.querySelector('[data-index="0"]')!.getAttribute("data-alpha"));
    expect(alpha).toBe(Math.fround(rawStep(0).alpha![0]));
    expect(mounted.models[0].sent).toBe(0);
  });

  it("moves a comparison's panels together, from the first panel's controls", () => {
    dataBlock([traits(5, 5), traits(5, 5, 5, { show_controls: false, title: "b" })], "row");
    const [mounted] = mountAll();
    expect(mounted.host.classList.contains("is-row")).toBe(true);
    const roots = Array.from(mounted.host.querySelectorAll(".attn-widget")) as HTMLElement[];
    expect(roots.length).toBe(2);
    for (let k = 1; k <= 3; k++) {
      (roots[0].querySelector('button[aria-label="Step forward"]') as HTMLButtonElement).click();
      expect(mounted.models.map((m) => m.get("t"))).toEqual([k, k]);
    }
    expect((roots[1].querySelector(".aw-controls") as HTMLElement).style.display).toBe("none");
  });

  it("refuses a data block of another format, on the page and not by throwing", () => {
    const script = document.createElement("script");
    script.type = "application/json";
    script.className = "attn-widget-state";
    script.textContent = JSON.stringify({ format: "other", panels: [] });
    document.body.appendChild(script);
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(mountAll()).toEqual([]);
    expect(document.querySelector(".attn-export-error")!.textContent).toContain("not an attn_widget export");
    expect(error).toHaveBeenCalled();
    expect(() => readState("{}")).toThrow(/not an attn_widget export/);
  });
});
