// Play's conversation with the kernel: every beat moves t in the browser, but
// the kernel hears it only when it has steps to compute, every PLAY_SAVE_MS,
// and where Play stops (controller.ts, advance).
import { afterEach, describe, expect, it, vi } from "vitest";
import { Controller } from "../src/controller";
import { FakeModel, encode, rawStep } from "./helpers";

function playing(T: number, have: number, speed = 30) {
  const model = new FakeModel({
    t: 0, T, tokens: Array.from({ length: T }, (_, i) => `w${i}`), update_rule: "eq4", align_name: "dot",
    z_layout: [["h", 3], ["x", 2], ["c", 3]], hidden_size: 3, input_size: 2, frontier: have, version: 0,
    playing: false, speed, status: "", _snapshot: new DataView(new ArrayBuffer(0)),
  });
  const ctl = new Controller(model as any);
  const deliver = (ts: number[]) => {
    const { descs, buffer } = encode(ts.map((t) => rawStep(t)));
    model.receive({ type: "steps", version: 0, frontier: Math.max(...ts) + 1, T, reason: "step", steps: descs }, [buffer]);
  };
  if (have > 0) deliver(Array.from({ length: have }, (_, t) => t));
  const visited: number[] = [];
  model.on("change:t", () => visited.push(model.get("t")));
  return { model, ctl, deliver, visited };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("Play and the kernel", () => {
  it("tells the kernel where it is every 500 ms when the steps are here, and where it stops", () => {
    vi.useFakeTimers();
    const T = 45;
    const { model, ctl, visited } = playing(T, T);
    ctl.togglePlay();
    const saves = model.saves; // the press itself
    vi.advanceTimersByTime(2000); // 45 beats at 30/s take 1.5 s
    expect(model.get("t")).toBe(T);
    expect(model.get("playing")).toBe(false);
    expect(visited).toEqual(Array.from({ length: T }, (_, i) => i + 1)); // every position, once, in order
    const heard = model.savedT.slice(saves);
    // 1.5 s of Play: the kernel hears t about every 500 ms, and the end; not 45 times
    expect(heard.length).toBeGreaterThanOrEqual(3);
    expect(heard.length).toBeLessThanOrEqual(5);
    expect(heard[heard.length - 1]).toBe(T);
    expect([...heard].sort((a, b) => a - b)).toEqual(heard);
  });

  it("on demand, the kernel hears t as soon as one of the next 4 steps is missing", () => {
    vi.useFakeTimers();
    const { model, ctl, deliver } = playing(40, 10);
    ctl.togglePlay();
    vi.advanceTimersByTime(1000);
    // position 7 needs steps 6 … 9, all here; position 8 also needs step 10
    expect(model.savedT).toContain(8);
    expect(model.savedT).not.toContain(7);
    // position 11 shows step 10, which is not here: Play waits there, and the kernel knows
    expect(model.get("t")).toBe(11);
    expect(model.savedT[model.savedT.length - 1]).toBe(11);
    const before = model.savedT.length;
    deliver([10, 11, 12, 13, 14, 15, 16, 17]);
    vi.advanceTimersByTime(100);
    expect(model.get("t")).toBeGreaterThan(11);
    expect(model.savedT.length).toBeGreaterThan(before);
    ctl.dispose();
  });

  it("an echo of its own last save does not move Play back; any other write from the kernel does", () => {
    vi.useFakeTimers();
    const { model, ctl } = playing(100, 100);
    ctl.togglePlay();
    vi.advanceTimersByTime(200); // past the save at the first beat, no save since
    const saved = model.savedT[model.savedT.length - 1];
    const now = model.get("t");
    expect(now).toBeGreaterThan(saved);
    model.set("t", saved); // ipywidgets' echo of that save arrives
    expect(model.get("t")).toBe(now);
    model.set("t", 2); // Python moves it: obeyed
    expect(model.get("t")).toBe(2);
    ctl.dispose();
  });

  it("stopped from Python, the kernel hears where Play got to", () => {
    vi.useFakeTimers();
    const { model, ctl } = playing(100, 100);
    ctl.togglePlay();
    vi.advanceTimersByTime(200);
    const now = model.get("t");
    expect(model.savedT[model.savedT.length - 1]).toBeLessThan(now);
    model.set("playing", false);
    expect(model.savedT[model.savedT.length - 1]).toBe(now);
    vi.advanceTimersByTime(500);
    expect(model.get("t")).toBe(now);
    ctl.dispose();
  });
});
