// Browser memory (budget.ts): the store stays within STORE_LIMIT while a kernel
// can send steps again, asks again for what the position needs, and keeps the
// α matrix's rows at pixel resolution whatever it drops.
import { afterEach, describe, expect, it, vi } from "vitest";
import { Refill, STORE_LIMIT, windowStart } from "../src/budget";
import { Controller } from "../src/controller";
import { decodeSteps, STEP_DATA_LIMIT } from "../src/protocol";
import { Sensitivities, SENSITIVITY_LIMIT } from "../src/sensitivity";
import { StepStore } from "../src/store";
import { FakeModel, encode, rawStep } from "./helpers";

describe("the window behind the position", () => {
  it("windowStart: the first step of the window of about `bytes` that ends at `last`", () => {
    expect(windowStart(9, () => 10, 35)).toBe(6); // steps 6, 7, 8 (and 9, the last) fit in 35 bytes of 10 each
    expect(windowStart(2, () => 10, 1000)).toBe(0);
    expect(windowStart(0, () => 10, 5)).toBe(0);
    const perStep = (t: number) => 4 * (t + 1) + 1000;
    const s = windowStart(3999, perStep, STEP_DATA_LIMIT);
    let held = 0;
    for (let t = s; t < 3999; t++) held += perStep(t);
    expect(held).toBeLessThanOrEqual(STEP_DATA_LIMIT);
    expect(held + perStep(s - 1)).toBeGreaterThan(STEP_DATA_LIMIT);
  });

  it("Refill asks for the window behind when a dropped step comes within its nearer three quarters, once", () => {
    // steps of 1 MB: the window behind (BEHIND_BYTES, 8 MB) is 8 steps
    const gone = new Set<number>(Array.from({ length: 20 }, (_, t) => t)); // steps 0 … 19 dropped
    const store = { version: 0, anyDropped: true, stepBytes: () => 1_000_000, dropped: (t: number) => gone.has(t) } as unknown as StepStore;
    const refill = new Refill();
    expect(windowStart(39, () => 1_000_000)).toBe(31);
    expect(refill.need(store, 40, 60, 0)).toBeNull(); // window 31 … 39: nothing dropped
    expect(refill.need(store, 29, 60, 0)).toBeNull(); // window 20 … 28: still whole
    expect(refill.need(store, 27, 60, 0)).toBeNull(); // 18 … 26: the dropped are in its farthest quarter
    expect(refill.need(store, 25, 60, 0)).toEqual({ have: 16, k: 20 }); // 16 … 24: step 19 is in the nearer three quarters; 20 … 24 are here
    expect(refill.need(store, 25, 60, 100)).toBeNull(); // asked already
    expect(refill.need(store, 24, 60, 200)).toBeNull(); // a step back: the same answer covers it
    expect(refill.need(store, 25, 60, 5000)).toEqual({ have: 16, k: 20 }); // no answer after 3 s: asked again
    gone.clear();
    gone.add(45);
    expect(refill.need(store, 10, 60, 6000)).toBeNull(); // 45 is more than AHEAD_STEPS past step 9
    expect(refill.need(store, 30, 60, 6000)).toEqual({ have: 45, k: 30 }); // ahead, within AHEAD_STEPS: from 45 on, as far as fits
  });
});

describe("a widget's store within its budget", () => {
  const T = 3200; // H = 3: α dominates, 2·T² bytes in all (about 20 MB)
  function widget() {
    const model = new FakeModel({
      t: 0, T, tokens: Array.from({ length: T }, (_, i) => `w${i}`), update_rule: "eq4", align_name: "dot",
      z_layout: [["h", 3], ["x", 2], ["c", 3]], hidden_size: 3, input_size: 2, frontier: T, version: 0,
      playing: false, speed: 4, status: "", _snapshot: new DataView(new ArrayBuffer(0)),
    });
    const ctl = new Controller(model as any);
    const send = (ts: number[]) => {
      const { descs, buffer } = encode(ts.map((t) => rawStep(t)));
      model.receive({ type: "steps", version: 0, frontier: T, T, reason: "step", steps: descs }, [buffer]);
    };
    return { model, ctl, send };
  }
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

  afterEach(() => {
    vi.useRealTimers();
  });

  it("drops far steps, asks again for them when the position comes back, and the matrix keeps every row", () => {
    vi.useFakeTimers();
    const { model, ctl, send: deliver } = widget();
    const send = (ts: number[]) => {
      deliver(ts);
      vi.advanceTimersByTime(200); // the store is trimmed shortly after steps arrive
    };
    model.set("t", T);
    for (let a = 0; a < T; a += 200) send(range(a, Math.min(T, a + 200))); // messages of at most ~1.3 MB
    const store = ctl.store;
    expect(store.bytes).toBeLessThanOrEqual(STORE_LIMIT);
    expect(store.has(T - 1)).toBe(true);
    expect(store.has(0)).toBe(false);
    expect(store.dropped(0)).toBe(true);
    // every row that arrived is in the matrix, dropped or not
    const rows = ctl.matrixRows();
    expect(rows.levels[rows.pixel(1) * rows.n + rows.pixel(0)]).toBeGreaterThan(0); // step 0: α_{0,0} = 1
    // scrubbing back to position 500: the kernel is asked for the window behind it
    const sent = model.sent.length;
    ctl.goto(500);
    const asks = model.sent.slice(sent).filter((m) => m.type === "sync");
    const have = windowStart(499, (t) => store.stepBytes(t));
    expect(asks).toEqual([{ type: "sync", version: 0, have, k: 500 }]); // up to the position: not to a t the kernel heard earlier
    send(range(have, 700)); // the answer: from `have` on
    expect(store.has(499) && store.has(498) && store.has(have)).toBe(true);
    expect(store.bytes).toBeLessThanOrEqual(STORE_LIMIT);
    // stepping back through the window asks nothing while the dropped steps are in its farthest quarter
    const before = model.sent.length;
    for (let k = 499; k > have + (3 * (500 - have)) / 4 + 1; k--) ctl.goto(k);
    expect(model.sent.slice(before).filter((m) => m.type === "sync")).toEqual([]);
    ctl.dispose();
  });

  it("a move's steps arrive before its t: the trim keeps the steps near the new position", () => {
    vi.useFakeTimers();
    const { model, ctl, send } = widget();
    send(range(0, T)); // w.goto(T) in Python: every step, then t
    model.set("t", T);
    vi.advanceTimersByTime(200);
    expect(ctl.store.bytes).toBeLessThanOrEqual(STORE_LIMIT);
    expect(ctl.store.has(T - 1) && ctl.store.has(T - 200)).toBe(true);
    expect(ctl.store.has(0)).toBe(false);
    ctl.dispose();
  });

  it("a new view's sync asks for every step it lacks, so that the α matrix gets every row once", () => {
    const { model, ctl } = widget();
    model.set("t", 3000);
    ctl.requestSync();
    expect(model.sent[model.sent.length - 1]).toEqual({ type: "sync", version: 0, have: 0 });
    ctl.dispose();
  });
});

describe("without a kernel", () => {
  it("an exported page keeps every step it was given: nothing could send a dropped one again", () => {
    const T = 3200;
    const model = new FakeModel({
      t: 0, T, tokens: Array.from({ length: T }, (_, i) => `w${i}`), update_rule: "eq4", align_name: "dot",
      z_layout: [["h", 3], ["x", 2], ["c", 3]], hidden_size: 3, input_size: 2, frontier: T, version: 0,
      playing: false, speed: 4, status: "", _snapshot: new DataView(new ArrayBuffer(0)),
    });
    const ctl = new Controller(model as any, { standalone: true });
    for (let a = 0; a < T; a += 400) {
      const { descs, buffer } = encode(Array.from({ length: 400 }, (_, i) => rawStep(a + i)));
      ctl.store.accept(0, decodeSteps(descs, [buffer])); // as a big saved state would
    }
    expect(ctl.store.bytes).toBeGreaterThan(STORE_LIMIT);
    ctl.goto(T);
    ctl.goto(1);
    expect(ctl.store.size).toBe(T);
    expect(ctl.store.anyDropped).toBe(false);
    expect(model.sent).toEqual([]);
  });
});

describe("sensitivities within their budget", () => {
  it("keep at most SENSITIVITY_LIMIT bytes, dropping the positions farthest from the newest", () => {
    const s = new Sensitivities();
    const asked: number[] = [];
    const ask = (k: number) => asked.push(k);
    const n = 4000;
    for (let k = 1; k <= 200; k++) {
      s.at(0, k, ask);
      s.receive(0, k, () => new Float32Array(n));
    }
    expect(s.size).toBeLessThanOrEqual(SENSITIVITY_LIMIT);
    expect(s.at(0, 200, ask)).not.toBeNull();
    expect(s.at(0, 1, ask)).toBeNull(); // dropped: asked again
    expect(asked.filter((k) => k === 1).length).toBe(2);
  });
});
