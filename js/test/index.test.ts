// One controller per model, however many views: anywidget 0.11 passes
// initialize and each render a different wrapper around the same model.
import { afterEach, describe, expect, it, vi } from "vitest";
import entry, { controllerFor } from "../src/index";
import { FakeModel, encode, rawStep } from "./helpers";

function wrap(model: FakeModel, manager: object) {
  return {
    get: model.get.bind(model),
    set: model.set.bind(model),
    save_changes: model.save_changes.bind(model),
    send: model.send.bind(model),
    on: (name: string, fn: any) => model.on(name, fn),
    off: (name?: string, fn?: any) => model.off(name, fn),
    widget_manager: manager,
  } as any;
}

function widgetModel(id: string) {
  const model = new FakeModel({
    t: 0, T: 8, tokens: "abcdefgh".split(""), update_rule: "eq4", align_name: "dot",
    z_layout: [["h", 3], ["x", 2], ["c", 3]], hidden_size: 3, input_size: 2, frontier: 8,
    version: 0, playing: false, speed: 10, status: "", _snapshot: new DataView(new ArrayBuffer(0)),
    _widget_id: id,
  });
  const { descs, buffer } = encode([0, 1, 2, 3, 4, 5, 6, 7].map((t) => rawStep(t)));
  return { model, deliver: () => model.receive({ type: "steps", version: 0, frontier: 8, T: 8, reason: "sync", steps: descs }, [buffer]) };
}

afterEach(() => {
  document.body.replaceChildren();
  vi.useRealTimers();
});

describe("anywidget entry", () => {
  it("gives one controller to initialize and every view of a model, whatever the wrapper", () => {
    const manager = {};
    const { model } = widgetModel("w1");
    const a = controllerFor(wrap(model, manager));
    expect(controllerFor(wrap(model, manager))).toBe(a);
    expect(controllerFor(wrap(widgetModel("w2").model, manager))).not.toBe(a); // another widget
    expect(controllerFor(wrap(widgetModel("w1").model, {}))).not.toBe(a); // another notebook
  });

  it("plays one position per tick with two views shown", () => {
    vi.useFakeTimers();
    const manager = {};
    const { model, deliver } = widgetModel("play-two-views");
    const cleanup = entry.initialize({ model: wrap(model, manager) });
    const views = [0, 1].map(() => {
      const el = document.createElement("div");
      document.body.appendChild(el);
      return entry.render({ model: wrap(model, manager), el });
    });
    deliver();
    const visited: number[] = [];
    model.on("change:t", () => visited.push(model.get("t")));
    model.set("playing", true);
    vi.advanceTimersByTime(350); // speed 10: a tick every 100 ms, not one per view
    expect(visited.length).toBeGreaterThanOrEqual(3);
    expect(visited.length).toBeLessThanOrEqual(4);
    vi.advanceTimersByTime(1000);
    expect(visited).toEqual([1, 2, 3, 4, 5, 6, 7, 8]); // every position, once, in order
    expect(model.get("playing")).toBe(false); // stopped at T
    views.forEach((dispose) => dispose());
    cleanup();
  });

  it("keeps the beat: a late step is shown as soon as it comes, then the count starts again", () => {
    vi.useFakeTimers();
    const manager = {};
    const { model } = widgetModel("play-late-step");
    const cleanup = entry.initialize({ model: wrap(model, manager) });
    const send = (ts: number[]) => {
      const { descs, buffer } = encode(ts.map((t) => rawStep(t)));
      model.receive({ type: "steps", version: 0, frontier: 8, T: 8, reason: "step", steps: descs }, [buffer]);
    };
    send([0, 1]);
    const visited: [number, number][] = [];
    const start = Date.now();
    model.on("change:t", () => visited.push([model.get("t"), Date.now() - start]));
    model.set("playing", true);
    vi.advanceTimersByTime(450); // speed 10: 1 at 0 ms, 2 at 100 ms, then step 2 is missing
    expect(visited.map(([k]) => k)).toEqual([1, 2, 3]);
    vi.advanceTimersByTime(500);
    expect(visited.length).toBe(3); // waits at position 3 for step 2
    send([2, 3, 4, 5, 6, 7]);
    vi.advanceTimersByTime(10);
    expect(visited[3][0]).toBe(4); // moves within one poll of the step's arrival
    expect(visited[3][1] - 950).toBeLessThanOrEqual(10);
    vi.advanceTimersByTime(1000);
    const times = visited.slice(3).map(([, ms]) => ms);
    const gaps = times.slice(1).map((ms, i) => ms - times[i]);
    expect(gaps.every((g) => g === 100)).toBe(true); // then on the beat again, no burst
    cleanup();
  });

  it("a new speed while playing keeps the beat: no step at once, the next one new interval after the last", () => {
    vi.useFakeTimers();
    const manager = {};
    const { model, deliver } = widgetModel("play-speed-change");
    const cleanup = entry.initialize({ model: wrap(model, manager) });
    deliver();
    model.set("speed", 1);
    model.set("playing", true);
    vi.advanceTimersByTime(10);
    expect(model.get("t")).toBe(1); // the first beat comes at once
    for (const speed of [2, 4, 8, 16, 32]) {
      model.set("speed", speed); // five changes within 5 ms, as arrow keys on the menu do
      vi.advanceTimersByTime(1);
    }
    expect(model.get("t")).toBe(1);
    vi.advanceTimersByTime(1000 / 32 - 15 + 1); // one interval at 32/s after the last beat (at ~0 ms)
    expect(model.get("t")).toBe(2);
    vi.advanceTimersByTime(1000 / 32);
    expect(model.get("t")).toBe(3);
    cleanup();
  });
});

