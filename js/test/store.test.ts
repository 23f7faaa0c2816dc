import { describe, expect, it } from "vitest";
import { StepStore } from "../src/store";
import { decodeSteps } from "../src/protocol";
import { encode, rawStep } from "./helpers";

const steps = (...ts: number[]) => {
  const { descs, buffer } = encode(ts.map((t) => rawStep(t)));
  return decodeSteps(descs, [buffer]);
};

describe("StepStore", () => {
  it("keys steps by t; duplicates are harmless", () => {
    const store = new StepStore();
    store.reset(0);
    expect(store.accept(0, steps(0, 1))).toBe(2);
    expect(store.accept(0, steps(1, 2))).toBe(1);
    expect(store.size).toBe(3);
    expect(store.contiguous()).toBe(3);
    expect(store.get(1)!.alpha!.length).toBe(2);
  });

  it("drops stale versions and resets on newer ones", () => {
    const store = new StepStore();
    store.reset(2);
    store.accept(2, steps(0, 1, 2));
    expect(store.accept(1, steps(3))).toBe(0);
    expect(store.has(3)).toBe(false);
    store.accept(3, steps(0));
    expect(store.version).toBe(3);
    expect(store.size).toBe(1);
    expect(store.has(2)).toBe(false);
  });

  it("counts only the unbroken prefix as contiguous", () => {
    const store = new StepStore();
    store.reset(0);
    store.accept(0, steps(0, 1, 3));
    expect(store.contiguous()).toBe(2);
  });

  it("tells listeners", () => {
    const store = new StepStore();
    let calls = 0;
    store.onChange(() => calls++);
    store.reset(0);
    store.accept(0, steps(0));
    expect(calls).toBe(2);
  });

  it("keeps what a view shows: no scores; counts its bytes", () => {
    const store = new StepStore();
    store.reset(0);
    store.accept(0, steps(0, 1, 2));
    expect(store.get(2)!.scores).toBeNull();
    // rawStep with H = 3: α (t+1), c (3), z (8), pre (3), h (3) float32s; scores dropped
    const bytes = [0, 1, 2].reduce((n, t) => n + 4 * (t + 1 + 3 + 8 + 3 + 3), 0);
    expect(store.bytes).toBe(bytes);
    store.accept(0, steps(1)); // again: counted once
    expect(store.bytes).toBe(bytes);
    expect(store.stepBytes(10)).toBe(4 * (11 + 3 + 8 + 3 + 3));
  });

  it("trims the steps farthest from the position, down to the target; a dropped step can come again", () => {
    const store = new StepStore();
    store.reset(0);
    store.accept(0, steps(...Array.from({ length: 20 }, (_, t) => t)));
    const total = store.bytes;
    expect(store.trim(10, total)).toBe(0); // within the limit: nothing dropped
    const per = (t: number) => 4 * (t + 1 + 17);
    // down to what steps 6 … 14 take: the nine nearest step 10 stay
    const keep = [6, 7, 8, 9, 10, 11, 12, 13, 14].reduce((n, t) => n + per(t), 0);
    expect(store.trim(10, total - 1, keep)).toBe(11);
    expect(store.bytes).toBe(keep);
    for (let t = 0; t < 20; t++) {
      expect(store.has(t)).toBe(t >= 6 && t <= 14);
      expect(store.dropped(t)).toBe(!(t >= 6 && t <= 14));
    }
    expect(store.contiguous()).toBe(0);
    expect(store.size).toBe(9);
    store.accept(0, steps(0, 1, 2, 3, 4, 5));
    expect(store.dropped(3)).toBe(false);
    expect(store.contiguous()).toBe(15);
    expect(store.dropped(16)).toBe(true); // still gone
    store.reset(1);
    expect(store.anyDropped).toBe(false);
    store.accept(1, steps(0, 1, 2));
    store.forgo(0, 5); // the kernel was told 0 … 4 are here: 3 and 4 must be asked for
    expect([2, 3, 4, 5].map((t) => store.dropped(t))).toEqual([false, true, true, false]);
  });
});

