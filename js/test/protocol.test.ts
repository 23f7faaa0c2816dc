import { describe, expect, it } from "vitest";
import { decodeArray, decodeSteps, unpackSnapshot } from "../src/protocol";
import { encode, rawLstmnStep, rawStep, snapshot } from "./helpers";

describe("codec", () => {
  it("decodes float32 arrays at their offsets", () => {
    const { descs, buffer } = encode([rawStep(2)]);
    const [s] = decodeSteps(descs, [buffer]);
    expect(s.t).toBe(2);
    expect(Array.from(s.alpha!)).toEqual(rawStep(2).alpha!.map(Math.fround));
    expect(Array.from(s.h)).toEqual(rawStep(2).h.map(Math.fround));
    expect(s.alpha!.length).toBe(3);
    expect(s.z!.length).toBe(8);
  });

  it("reads misaligned DataViews element by element", () => {
    const { descs, buffer } = encode([rawStep(1)], 0);
    // shift the same bytes by one so byteOffset % 4 === 1
    const raw = new Uint8Array(buffer.byteLength + 1);
    raw.set(new Uint8Array(buffer.buffer), 1);
    const view = new DataView(raw.buffer, 1, buffer.byteLength);
    const [s] = decodeSteps(descs, [view]);
    expect(Array.from(s.c!)).toEqual(rawStep(1).c!.map(Math.fround));
  });

  it("decodes an LSTMN step: its tapes and gates, with c, z and pre null", () => {
    const { descs, buffer } = encode([rawLstmnStep(2)]);
    const [s] = decodeSteps(descs, [buffer], { T: 4, H: 3 });
    expect(s.z).toBeNull();
    expect(s.pre).toBeNull();
    expect(s.c).toBeNull();
    expect(Array.from(s.m!)).toEqual(rawLstmnStep(2).m!.map(Math.fround));
    expect(Array.from(s.f!)).toEqual(rawLstmnStep(2).f!.map(Math.fround));
    expect(s.alpha!.length).toBe(3);
  });

  it("refuses an LSTMN step whose gate is not of size H, or a step with neither z nor m", () => {
    const bad = { ...rawLstmnStep(1), i: [0.5, 0.5] };
    const { descs, buffer } = encode([bad]);
    expect(() => decodeSteps(descs, [buffer], { T: 4, H: 3 })).toThrow(/i has 2 entries, not H = 3/);
    const bare = { ...rawLstmnStep(1), m: null };
    const enc = encode([bare]);
    expect(() => decodeSteps(enc.descs, [enc.buffer])).toThrow(/lacks h, or both z and pre/);
  });

  it("keeps nulls for eq1 (no attention)", () => {
    const step = { ...rawStep(0), scores: null, alpha: null, c: null };
    const { descs, buffer } = encode([step]);
    const [s] = decodeSteps(descs, [buffer]);
    expect(s.alpha).toBeNull();
    expect(s.c).toBeNull();
    expect(s.h.length).toBe(3);
  });

  it("rejects overruns and unknown dtypes", () => {
    const view = new DataView(new ArrayBuffer(8));
    expect(() => decodeArray({ buffer: 0, dtype: "float32", shape: [3] }, [view])).toThrow(/overruns/);
    expect(() => decodeArray({ buffer: 0, dtype: "int64", shape: [1] }, [view])).toThrow(/dtype/);
    expect(() => decodeArray({ buffer: 1, dtype: "float32", shape: [1] }, [view])).toThrow(/buffer/);
    expect(() => decodeSteps("nope", [])).toThrow();
  });

  it("refuses steps that cannot belong to the widget", () => {
    const { descs, buffer } = encode([rawStep(2)]);
    const H = rawStep(2).h.length;
    expect(decodeSteps(descs, [buffer], { T: 3, H })[0].t).toBe(2);
    expect(() => decodeSteps(descs, [buffer], { T: 2, H })).toThrow(/past the last step/);
    expect(() => decodeSteps(descs, [buffer], { T: 3, H: H + 1 })).toThrow(/not H/);
    const forged = descs.map((d: any) => ({ ...d, t: 5e7 }));
    expect(() => decodeSteps(forged, [buffer], { T: 3, H })).toThrow(/past the last step/);
    expect(() => decodeSteps(forged, [buffer])).toThrow(/t\+1/); // α of 3 entries cannot be step 5e7
    const fractional = descs.map((d: any) => ({ ...d, t: 1.5 }));
    expect(() => decodeSteps(fractional, [buffer])).toThrow(/integer t/);
  });

  it("unpacks the snapshot trait", () => {
    const snap = unpackSnapshot(snapshot(7, [rawStep(0), rawStep(1), rawStep(2)]));
    expect(snap!.version).toBe(7);
    expect(snap!.steps.map((s) => s.t)).toEqual([0, 1, 2]);
    expect(snap!.steps[2].alpha![2]).toBeCloseTo(0.5, 6);
    expect(unpackSnapshot(new DataView(new ArrayBuffer(0)))).toBeNull();
    expect(() => unpackSnapshot(new Uint8Array([1, 2, 3, 4, 0, 0, 0, 0]))).toThrow(/snapshot/);
  });
});

describe("a snapshot cut at the bound", () => {
  it("says how many steps were computed, and the reader is told where the saved ones end", async () => {
    const { savedOnlyMessage } = await import("../src/notices");
    const snap = unpackSnapshot(snapshot(3, [rawStep(0), rawStep(1)]));
    expect(snap!.computed).toBe(2); // no "computed" in the header: all of them
    expect(unpackSnapshot(snapshot(3, [rawStep(0)], 40))!.computed).toBe(40);
    expect(savedOnlyMessage(2, 2)).toMatch(/not in the saved notebook/);
    expect(savedOnlyMessage(12, 40)).toMatch(/holds positions 0 … 12 of the 40 steps computed/);
  });
});
