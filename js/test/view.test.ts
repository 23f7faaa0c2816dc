import { afterEach, describe, expect, it, vi } from "vitest";
import { Controller } from "../src/controller";
import { stripValues } from "../src/heatmap";
import { View } from "../src/view";
import { FakeModel, encode, rawLstmnStep, rawStep, snapshot } from "./helpers";

function setup(extra: Record<string, any> = {}) {
  const model = new FakeModel({
    t: 0, T: 4, tokens: ["the", "<img src=x onerror=alert(1)>", "is", "here"],
    update_rule: "eq4", align_name: "dot", z_layout: [["h", 3], ["x", 2], ["c", 3]],
    hidden_size: 3, input_size: 2, frontier: 0, version: 0, playing: false, speed: 4,
    status: "", _snapshot: new DataView(new ArrayBuffer(0)), ...extra,
  });
  const ctl = new Controller(model as any);
  const host = document.createElement("div");
  document.body.appendChild(host);
  const view = new View(ctl, host);
  return { model, ctl, view, root: view.root };
}

function kernelSends(model: FakeModel, ts: number[], version = 0) {
  const { descs, buffer } = encode(ts.map((t) => rawStep(t)));
  model.receive({ type: "steps", version, frontier: Math.max(...ts) + 1, T: 4, reason: "step", steps: descs }, [buffer]);
}

const byLabel = (root: HTMLElement, label: string) =>
  root.querySelector(`button[aria-label="${label}"]`) as HTMLButtonElement;

afterEach(() => {
  document.body.replaceChildren();
  vi.useRealTimers();
});

describe("View", () => {
  it("draws a click once: at once, not again in the next frame", async () => {
    const { root, model, view } = setup();
    kernelSends(model, [0, 1]);
    await new Promise((r) => setTimeout(r, 50)); // let the arrival's frame pass
    const render = vi.spyOn(view, "render");
    byLabel(root, "Step forward").click();
    expect(render).toHaveBeenCalledTimes(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(render).toHaveBeenCalledTimes(1);
    expect((root.querySelector('[aria-current="step"]') as HTMLElement).dataset.index).toBe("1");
  });

  it("has the DOM contract: root class, labelled buttons, indexed tokens", () => {
    const { root, model } = setup();
    expect(root.classList.contains("attn-widget")).toBe(true);
    expect(root.tabIndex).toBe(0);
    for (const label of ["Step forward", "Step back", "Play", "Reset"]) expect(byLabel(root, label)).not.toBeNull();
    const tokens = [...root.querySelectorAll<HTMLElement>("[data-index]")];
    expect(tokens.map((e) => e.dataset.index)).toEqual(["0", "1", "2", "3", "4"]);
    expect(root.querySelector(".aw-tokens img")).toBeNull();
    expect(tokens[2].textContent).toBe("<img src=x onerror=alert(1)>");
    expect(model.sent[0]).toEqual({ type: "sync", version: 0, have: 0 });
    expect(root.querySelector(".aw-readout")!.textContent).toBe("read 0 of 4");
    expect(root.querySelector(".aw-caption")!.textContent).toBe("nothing read yet: h_0 = 0");
    expect(root.querySelector('.aw-update-eq math[display="block"]')).not.toBeNull(); // the equation is typeset
    expect(root.querySelector('.aw-align-eq math[display="block"]')).not.toBeNull();
  });

  it("names the position and the step apart, and says where the shading comes from", () => {
    const { root, model, view } = setup();
    kernelSends(model, [0, 1]);
    model.set("t", 2);
    view.render();
    expect(root.querySelector(".aw-readout")!.textContent).toBe("read 2 of 4");
    expect(root.querySelector(".aw-pieces-note")!.textContent).toBe("step 1");
    const caption = root.querySelector(".aw-caption")!;
    expect(caption.textContent).toBe(
      "shading: the weights α_1,i that h_1 used to read “<img src=x onerror=alert(1)>” (red), chosen before reading it",
    );
    expect(caption.children.length).toBe(0); // the hostile token stays text
  });

  it("gradient shading asks the kernel once per position and draws what comes back", () => {
    const { root, model, view } = setup();
    kernelSends(model, [0, 1, 2]);
    model.set("t", 3);
    const select = root.querySelector('select[aria-label="Shade tokens by"]') as HTMLSelectElement;
    select.value = "gradient";
    select.dispatchEvent(new Event("change"));
    expect(model.get("shading")).toBe("gradient");
    const asks = () => model.sent.filter((m: any) => m.type === "sensitivity");
    expect(asks()).toEqual([{ type: "sensitivity", version: 0, k: 3 }]);
    expect(root.querySelector(".aw-caption")!.textContent).toMatch(/computing/);
    view.render();
    expect(asks().length).toBe(1); // asked once, not at every draw
    const values = new Float32Array([1e-4, 0.5, 2]);
    model.receive(
      { type: "sensitivity", version: 0, k: 3, values: { buffer: 0, dtype: "float32", shape: [3], offset: 0 } },
      [new DataView(values.buffer)],
    );
    view.render();
    const grads = [...root.querySelectorAll<HTMLElement>("[data-grad]")].map((e) => [e.dataset.index, e.dataset.grad]);
    expect(grads).toEqual([["1", "0.0001"], ["2", "0.5"]]);
    expect(root.querySelector("[data-alpha]")).toBeNull();
    expect(root.querySelector(".aw-caption")!.textContent).toMatch(/how much h_3 depends on each earlier input/);
    model.receive({ type: "sensitivity", version: 5, k: 2, values: null }); // stale: ignored
    model.set("t", 2);
    view.render();
    expect(asks()).toEqual([{ type: "sensitivity", version: 0, k: 3 }, { type: "sensitivity", version: 0, k: 2 }]);
  });

  it("steps by writing t; draws the step when it arrives", () => {
    const { root, model, view } = setup();
    byLabel(root, "Step forward").click();
    expect(model.get("t")).toBe(1);
    expect(model.saves).toBe(1);
    view.render();
    expect(root.querySelector(".aw-status")!.textContent).toMatch(/computing/);
    kernelSends(model, [0]);
    view.render();
    expect(root.querySelector(".aw-status")!.textContent).toBe("");
    const current = root.querySelector('[aria-current="step"]') as HTMLElement;
    expect(current.dataset.index).toBe("1");
    const start = root.querySelector('[data-index="0"]') as HTMLElement;
    expect(Number(start.dataset.alpha)).toBeCloseTo(1, 6); // α_{0,0} = 1
    expect((root.querySelector('[data-piece="pre"]') as HTMLElement).dataset.cells).toBe("3");
    const strip = root.querySelector(".aw-strip")!;
    strip.dispatchEvent(new MouseEvent("mousemove", { bubbles: true }));
    expect(strip.getAttribute("title")).toMatch(/h_1\[0\] = /);
  });

  it("50 clicks in a row end at T, back is served from the store", () => {
    const { root, model, view } = setup();
    const fwd = byLabel(root, "Step forward");
    for (let i = 0; i < 50; i++) fwd.click();
    expect(model.get("t")).toBe(4);
    expect(model.saves).toBe(4); // clicks past T change nothing
    kernelSends(model, [0, 1, 2, 3]);
    const sent = model.sent.length;
    byLabel(root, "Step back").click();
    byLabel(root, "Step back").click();
    view.render();
    expect(model.get("t")).toBe(2);
    expect(model.sent.length).toBe(sent); // no custom request for data already here
    expect((root.querySelector('[aria-current="step"]') as HTMLElement).dataset.index).toBe("2");
    expect(root.querySelector('[data-index="1"]')!.getAttribute("data-alpha")).not.toBeNull();
  });

  it("keyboard: arrows, Home, End", () => {
    const { root, model } = setup();
    const key = (k: string) => root.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true }));
    key("ArrowRight");
    key("ArrowRight");
    expect(model.get("t")).toBe(2);
    key("ArrowLeft");
    expect(model.get("t")).toBe(1);
    key("End");
    expect(model.get("t")).toBe(4);
    key("Home");
    expect(model.get("t")).toBe(0);
  });

  it("hydrates from the saved snapshot without a kernel", () => {
    const snap = snapshot(0, [rawStep(0), rawStep(1), rawStep(2)]);
    const { root, ctl, view, model } = setup({ _snapshot: snap, t: 3 });
    expect(ctl.store.contiguous()).toBe(3);
    expect(model.sent[0]).toEqual({ type: "sync", version: 0, have: 3 });
    view.render();
    const shaded = root.querySelectorAll("[data-alpha]");
    expect(shaded.length).toBe(3); // ⟨start⟩, x_1, x_2 at k = 3
  });

  it("a newer version drops old data", () => {
    const { ctl, model } = setup();
    kernelSends(model, [0, 1]);
    model.set("version", 1);
    expect(ctl.store.size).toBe(0);
    kernelSends(model, [0], 0); // stale
    expect(ctl.store.size).toBe(0);
  });

  it("shows kernel errors, and says the kernel is gone once a send finds its comm closed", () => {
    const { root, model, view, ctl } = setup();
    model.receive({ type: "error", message: "t = 9 is outside 0 … T = 4; clamped" });
    view.render();
    expect(root.querySelector(".aw-status")!.textContent).toMatch(/clamped/);
    model.failSend = true;
    ctl.requestSync();
    view.render();
    expect(root.querySelector(".aw-status")!.textContent).toMatch(/^the kernel is gone \(its comm is closed: Comm is closed\)/);
    expect(root.dataset.connection).toBe("gone");
  });

  it("says it is waiting when the kernel that answered before goes quiet", () => {
    vi.useFakeTimers();
    const { root, model, view } = setup();
    kernelSends(model, [0]); // the kernel is there
    model.set("t", 2);
    vi.advanceTimersByTime(2500);
    view.render();
    expect(root.querySelector(".aw-status")!.textContent).toMatch(/waiting for the kernel/);
    vi.advanceTimersByTime(20000);
    view.render();
    // silence says "busy, or gone": a long cell is as silent as a kernel that is gone
    expect(root.querySelector(".aw-status")!.textContent).toMatch(/^no reply from the kernel for 15 s: a running cell keeps it busy, or it is gone/);
    expect(root.dataset.connection).toBe("silent");
  });

  it("a saved notebook, never run, says to run its cells rather than blame the kernel", () => {
    vi.useFakeTimers();
    const { root, model, view } = setup({ _snapshot: snapshot(0, [rawStep(0), rawStep(1)]) });
    model.set("t", 2);
    view.render();
    expect(root.querySelector(".aw-status")!.textContent).toBe("");
    model.set("t", 3); // past the snapshot, and no kernel has ever answered
    vi.advanceTimersByTime(20000);
    view.render();
    const status = root.querySelector(".aw-status")!.textContent!;
    expect(status).toMatch(/not in the saved notebook: run its cells/);
    expect(status).not.toMatch(/disconnected|cell running/);
  });

  it("play advances only as steps arrive and stops at T", () => {
    vi.useFakeTimers();
    const { root, model } = setup({ speed: 10 });
    byLabel(root, "Play").click();
    expect(model.get("playing")).toBe(true);
    vi.advanceTimersByTime(1);
    expect(model.get("t")).toBe(1);
    vi.advanceTimersByTime(500);
    expect(model.get("t")).toBe(1); // step 0 not here yet
    kernelSends(model, [0, 1, 2, 3]);
    vi.advanceTimersByTime(1000);
    expect(model.get("t")).toBe(4);
    expect(model.get("playing")).toBe(false);
  });

  it("play moves on only from a position a view has drawn: a slow frame never skips one", () => {
    vi.useFakeTimers();
    const frames: FrameRequestCallback[] = [];
    vi.stubGlobal("requestAnimationFrame", (fn: FrameRequestCallback) => frames.push(fn));
    vi.stubGlobal("cancelAnimationFrame", () => undefined);
    try {
      const { root, model } = setup({ speed: 60 });
      kernelSends(model, [0, 1, 2, 3]);
      const drawn: string[] = [];
      const flush = () => {
        for (const fn of frames.splice(0)) fn(0);
        drawn.push(root.dataset.t!);
      };
      flush();
      byLabel(root, "Play").click(); // drawn at once (the user's own action), then the first beat
      vi.advanceTimersByTime(100); // six beats' time with no frame: one move, then it waits
      expect(model.get("t")).toBe(1);
      for (let n = 0; n < 4; n++) {
        flush();
        vi.advanceTimersByTime(20);
      }
      flush();
      expect(model.get("t")).toBe(4);
      expect(drawn.slice(0, 5)).toEqual(["0", "1", "2", "3", "4"]); // every position had its frame
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it("clicking a computed token jumps there", () => {
    const { root, model, view } = setup();
    kernelSends(model, [0, 1, 2]);
    view.render();
    (root.querySelector('[data-index="2"]') as HTMLElement).click();
    expect(model.get("t")).toBe(2);
    (root.querySelector('[data-index="4"]') as HTMLElement).click(); // not computed: ignored
    expect(model.get("t")).toBe(2);
  });

  it("Space on a focused button presses that button; on the widget it plays; arrows in the scrubber are the scrubber's", () => {
    const { root, model } = setup();
    kernelSends(model, [0, 1, 2, 3]);
    const key = (target: Element, k: string) => {
      const event = new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true });
      target.dispatchEvent(event);
      return event;
    };
    const fwd = byLabel(root, "Step forward");
    const ev = key(fwd, " ");
    expect(ev.defaultPrevented).toBe(false); // left to the button, which clicks on keyup
    expect(model.get("playing")).toBe(false);
    key(root, "ArrowRight");
    expect(model.get("t")).toBe(1);
    const scrub = root.querySelector(".aw-scrubber")!;
    expect(key(scrub, "ArrowRight").defaultPrevented).toBe(false); // the slider moves itself
    expect(model.get("t")).toBe(1);
    key(root, " ");
    expect(model.get("playing")).toBe(true);
  });

  it("shows an LSTMN: its equations, h̃ and m̃ in the states, and the gates, ĉ, m and h as pieces", () => {
    const { root, model, view } = setup({ update_rule: "lstmn", align_name: "additive", z_layout: [] });
    const { descs, buffer } = encode([rawLstmnStep(0), rawLstmnStep(1)]);
    model.receive({ type: "steps", version: 0, frontier: 2, T: 4, reason: "step", steps: descs }, [buffer]);
    model.set("t", 2);
    view.render();
    expect(root.dataset.model).toBe("lstmn");
    expect(root.getAttribute("aria-label")).toBe("LSTMN stepper");
    const tex = [...root.querySelectorAll("annotation")].map((a) => a.textContent).join(" ");
    expect(tex).toContain("\\tilde m_t = \\sum_{i=0}^{t} \\alpha_{t,i} m_i");
    expect(tex).toContain("m_{t+1} = f_t \\odot \\tilde m_t + i_t \\odot \\hat c_t");
    expect(root.querySelector(".aw-departures")!.textContent).toContain("h₀ = m₀ = 0");
    const labels = [...root.querySelectorAll(".aw-vector-label")].map((e) => e.textContent);
    expect(labels).toEqual(["h_k", "h_k-1", "Δh", "h̃_k-1", "m̃_k-1", "m_k"]);
    const pieces = [...root.querySelectorAll<HTMLElement>(".aw-pieces [data-piece]")].map((e) => e.dataset.piece);
    expect(pieces).toEqual(["i", "f", "o", "c_hat", "m", "h"]);
    // every piece strip holds this step's values, one canvas pixel per unit
    for (const piece of pieces) {
      const strip = root.querySelector<HTMLElement>(`.aw-pieces [data-piece="${piece}"]`)!;
      const values = stripValues(strip)!.values;
      expect(values.length).toBeGreaterThan(0);
      expect(strip.querySelector("canvas")!.width).toBe(values.length);
      expect(strip.dataset.cells).toBe(String(values.length));
    }
    const shaded = [...root.querySelectorAll<HTMLElement>(".aw-tokens [data-alpha]")].map((e) => Number(e.dataset.alpha));
    expect(shaded.length).toBe(2);
    expect(shaded[1]).toBeCloseTo(rawLstmnStep(1).alpha![1], 6);
  });

  it("an eq4 widget keeps its own labels and pieces, with the LSTMN rows hidden", () => {
    const { root } = setup();
    const labels = [...root.querySelectorAll<HTMLElement>(".aw-vector")].filter((e) => e.style.display !== "none");
    expect(labels.map((e) => e.firstElementChild!.textContent)).toEqual(["h_k", "h_k-1", "Δh", "c_k-1"]);
    expect(root.dataset.model).toBe("rnn");
    const pieces = [...root.querySelectorAll<HTMLElement>(".aw-pieces [data-piece]")].map((e) => e.dataset.piece);
    expect(pieces).toEqual(["z0", "z1", "z2", "pre", "h"]);
  });

  it("shows the head's prediction from h_k: labels as text, bars and probabilities, hidden without a head", () => {
    const { root, model, view } = setup({ prediction_labels: ["sg", "<b>pl</b>"] });
    const step = { ...rawStep(0), pred_p: [0.75, 0.25], pred_i: [1, 0] };
    const { descs, buffer } = encode([step]);
    model.receive({ type: "steps", version: 0, frontier: 1, T: 4, reason: "step", steps: descs }, [buffer]);
    const panel = root.querySelector<HTMLElement>(".aw-prediction")!;
    expect(panel.style.display).toBe("");
    expect(panel.textContent).toContain("nothing read yet");
    model.set("t", 1);
    view.render();
    const rows = [...root.querySelectorAll<HTMLElement>(".aw-prediction-row")].filter((r) => r.style.display !== "none");
    expect(rows.map((r) => r.dataset.label)).toEqual(["<b>pl</b>", "sg"]);
    expect(rows.map((r) => Number(r.dataset.p))).toEqual([0.75, 0.25]);
    expect(root.querySelector(".aw-prediction b")).toBeNull(); // a label is text, never markup
    expect((rows[0].querySelector(".aw-prediction-bar") as HTMLElement).style.width).toBe("75%");
    expect(panel.querySelector(".aw-panel-title")!.textContent).toBe("prediction from h_1");
    const plain = setup();
    expect(plain.root.querySelector<HTMLElement>(".aw-prediction")!.style.display).toBe("none");
  });

  it("refuses a forged prediction: pred_p without pred_i, or longer than MAX_TOP_K", () => {
    const { model, ctl } = setup({ prediction_labels: ["a"] });
    const lone = encode([{ ...rawStep(0), pred_p: [1] }]);
    model.receive({ type: "steps", version: 0, frontier: 1, T: 4, reason: "step", steps: lone.descs }, [lone.buffer]);
    expect(ctl.store.get(0)).toBeUndefined();
  });
});
