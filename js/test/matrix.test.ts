import { describe, expect, it } from "vitest";
import {
  AlphaMatrix,
  isUpright,
  LABEL_PX,
  fontsChanged,
  layAxisLabels,
  measureLabels,
  MatrixLevels,
  UPRIGHT_CHARS,
} from "../src/matrix";

function levels(T: number): MatrixLevels {
  const rows = new MatrixLevels();
  rows.reset(T);
  return rows;
}

describe("attention matrix", () => {
  it("maps a point to the step and slot under it (row t level with h_{t+1})", () => {
    const m = new AlphaMatrix(document.createElement("canvas"));
    m.sync(levels(4)); // 4 steps, 5 slots: a 5 × 5 grid
    m.current = 3;
    expect(m.cellAt(0.1, 0.1)).toBeNull(); // the top row is h_0: no step ends there
    expect(m.cellAt(0.1, 0.3)).toEqual({ t: 0, i: 0 });
    expect(m.cellAt(0.5, 0.9)).toEqual({ t: 3, i: 2 });
    expect(m.cellAt(0.9, 0.3)).toBeNull(); // above the diagonal: the future
  });

  it("outlines the current row instead of painting over its weights", () => {
    const marker = document.createElement("div");
    const m = new AlphaMatrix(document.createElement("canvas"), marker);
    m.sync(levels(4));
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

  it("shows only the rows up to the current step", () => {
    const m = new AlphaMatrix(document.createElement("canvas"));
    m.sync(levels(4));
    m.current = 1;
    expect(m.cellAt(0.1, 0.5)).toEqual({ t: 1, i: 0 });
    expect(m.cellAt(0.1, 0.7)).toBeNull(); // step 2 may be computed ahead, but is not shown yet
  });
});

describe("the matrix's rows at pixel resolution (one per widget)", () => {
  const step = (t: number, alpha: number[]) => ({ t, alpha: Float32Array.from(alpha) }) as any;

  it("keep each pixel's largest weight, list the pixel rows that changed, and start over on reset", () => {
    const rows = levels(3); // 3 steps, 4 slots: one pixel each
    rows.addStep(step(0, [1]));
    rows.addStep(step(1, [0.25, 0.75]));
    rows.addStep(step(1, [0.9, 0.1])); // a step arrives twice: the first stays
    expect(rows.changed).toEqual([1, 2]); // row t sits level with h_{t+1}
    expect(rows.levels[2 * 4 + 1]).toBeCloseTo(0.75, 6);
    expect(rows.levels[0]).toBe(-1); // no step ends at h_0
    const wide = levels(2000); // 2001 slots on 768 pixels: slots share pixels, the largest weight shows
    wide.addStep(step(10, Array.from({ length: 11 }, (_, i) => (i === 1 ? 0.6 : 0.04))));
    expect(wide.levels[wide.pixel(11) * wide.n + wide.pixel(1)]).toBeCloseTo(0.6, 6);
    const epoch = rows.epoch;
    rows.reset(3);
    expect(rows.epoch).toBe(epoch + 1);
    expect(rows.changed).toEqual([]);
    expect(rows.levels.every((v) => v === -1)).toBe(true);
  });

  it("a view synced later takes every row already there", () => {
    const rows = levels(3);
    rows.addStep(step(0, [1]));
    const canvas = document.createElement("canvas");
    const m = new AlphaMatrix(canvas);
    m.sync(rows);
    expect(canvas.width).toBe(4);
    m.current = 0;
    expect(m.cellAt(0.1, 0.3)).toEqual({ t: 0, i: 0 });
  });
});

describe("axis labels", () => {
  it("label every slot when there is room, as text, at the slot's centre", () => {
    const box = document.createElement("div");
    layAxisLabels(box, ["⟨start⟩", "<b>a</b>", "b", "c"], 4, 4 * LABEL_PX, 3);
    const spans = [...box.children] as HTMLElement[];
    expect(spans.map((e) => e.dataset.slot)).toEqual(["0", "1", "2", "3"]);
    expect(box.querySelector("b")).toBeNull();
    expect(spans[1].textContent).toBe("<b>a</b>");
    expect(spans[2].style.getPropertyValue("--at")).toBe("62.5%");
  });

  it("follow an edited word at the same places, and leave unchanged labels alone", () => {
    const box = document.createElement("div");
    layAxisLabels(box, ["⟨start⟩", "the", "cabinet", "is"], 4, 4 * LABEL_PX, 3);
    const first = box.children[0];
    layAxisLabels(box, ["⟨start⟩", "the", "cabinet", "is"], 4, 4 * LABEL_PX, 3);
    expect(box.children[0]).toBe(first); // the same words: nothing redrawn
    layAxisLabels(box, ["⟨start⟩", "the", "cabinets", "is"], 4, 4 * LABEL_PX, 3);
    expect([...box.children].map((e) => e.textContent)).toEqual(["⟨start⟩", "the", "cabinets", "is"]);
  });

  it("thin out on long sequences but keep the last, and never crowd closer than LABEL_PX", () => {
    const box = document.createElement("div");
    const labels = Array.from({ length: 2001 }, (_, i) => `w${i}`);
    layAxisLabels(box, labels, 2001, 360, 2000, 1);
    const slots = [...box.children].map((e) => Number((e as HTMLElement).dataset.slot));
    expect(slots[0]).toBe(1);
    expect(slots[slots.length - 1]).toBe(2000);
    expect(slots.length).toBeLessThanOrEqual(360 / LABEL_PX + 1);
    const gaps = slots.slice(1).map((s, i) => s - slots[i]);
    expect(Math.min(...gaps) * (360 / 2001)).toBeGreaterThanOrEqual(LABEL_PX);
  });

  it("stand CJK and emoji labels upright and lay every other script on its side", () => {
    for (const word of ["我", "下雨天", "。", "？", "私は", "コーヒー", "학교에", "ㄅㄆ", "😀", "👍🏽", "漢\ufe00"]) {
      expect(isUpright(word), word).toBe(true);
    }
    for (const word of ["cabinets", "⟨start⟩", "مرحبا", "Ωμέγα", "2024", "c_t很重要", "iPhone", "\u0301", ""]) {
      expect(isUpright(word), word).toBe(false);
    }
    const box = document.createElement("div");
    layAxisLabels(box, ["⟨start⟩", "我", "注意力机制", "cat"], 4, 4 * LABEL_PX, 3);
    const spans = [...box.children] as HTMLElement[];
    // jsdom measures no text, so every label on its side may be long and clips (is-long);
    // in a browser only those that may pass LABEL_EM do (tests/e2e/test_widget_layout_e2e.py)
    expect(spans.map((e) => e.className)).toEqual([
      "aw-axis-label is-long",
      "aw-axis-label is-upright",
      "aw-axis-label is-upright is-cut", // five characters, one more than UPRIGHT_CHARS
      "aw-axis-label is-long",
    ]);
    expect(UPRIGHT_CHARS).toBe(4);
    // on the page, the labels are measured once per font generation: a label's mark
    // stays until the fonts change (a late web font, a new theme), then is measured again
    document.body.appendChild(box);
    measureLabels(box);
    spans[0].classList.remove("is-long");
    measureLabels(box);
    expect(spans[0].classList.contains("is-long")).toBe(false); // measured already: not again
    fontsChanged();
    measureLabels(box);
    expect(spans[0].classList.contains("is-long")).toBe(true); // jsdom measures nothing: it clips
    expect(spans[1].classList.contains("is-long")).toBe(false); // upright labels are not measured
    box.remove();
    expect(spans[2].textContent).toBe("注意力机制"); // the whole word, cut only by the CSS
    expect(spans.every((e) => e.dir === "auto")).toBe(true);
  });
});
