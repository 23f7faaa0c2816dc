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
});
