import { describe, expect, it } from "vitest";
import { AlphaMatrix } from "../src/matrix";

describe("attention matrix", () => {
  it("maps a point to the step and slot under it (row t level with h_{t+1})", () => {
    const m = new AlphaMatrix(document.createElement("canvas"));
    m.reset(4); // 4 steps, 5 slots: a 5 × 5 grid
    expect(m.cellAt(0.1, 0.1)).toBeNull(); // the top row is h_0: no step ends there
    expect(m.cellAt(0.1, 0.3)).toEqual({ t: 0, i: 0 });
    expect(m.cellAt(0.5, 0.9)).toEqual({ t: 3, i: 2 });
    expect(m.cellAt(0.9, 0.3)).toBeNull(); // above the diagonal: the future
  });

  it("outlines the current row instead of painting over its weights", () => {
    const marker = document.createElement("div");
    const m = new AlphaMatrix(document.createElement("canvas"), marker);
    m.reset(4);
    m.current = 2; // step 2: row level with h_3, slots 0 … 2
    m.draw();
    expect(marker.style.display).toBe("");
    expect(marker.style.top).toBe("60%");
    expect(marker.style.height).toBe("20%");
    expect(marker.style.width).toBe("60%");
    m.current = -1;
    m.draw();
    expect(marker.style.display).toBe("none");
  });
});
