import { describe, expect, it } from "vitest";
import { divergingRGB } from "../src/format";
import { renderStrip, stripPixels, stripValues } from "../src/heatmap";

/** The palette's colour of v at scale 1: the nearest of its 2·256+1 levels. */
function level(v: number, dark = false): number[] {
  return [...divergingRGB(Math.round(256 * Math.max(-1, Math.min(1, v))) / 256, 1, dark), 255];
}

/** Pixel i of an n × 1 RGBA image. */
function pixel(bytes: Uint8ClampedArray, i: number): number[] {
  return Array.from(bytes.subarray(4 * i, 4 * i + 4));
}

describe("strips", () => {
  it("one pixel a value, the nearest level of the diverging scale", () => {
    const values = [0.9, -0.5, 0.2, 1.5, 1.0, -3, 0]; // 1.5 and 1.0 both saturate at scale 1
    const bytes = stripPixels(values, 1);
    expect(bytes.length).toBe(4 * values.length);
    values.forEach((v, i) => expect(pixel(bytes, i)).toEqual(level(v)));
    expect(pixel(bytes, 3)).toEqual(pixel(bytes, 4));
    // scale 2 halves every value; the dark palette is its own
    stripPixels(values, 2).forEach((b, j) => expect(b).toBe(stripPixels(values.map((v) => v / 2), 1)[j]));
    expect(pixel(stripPixels([0.5], 1, true), 0)).toEqual(level(0.5, true));
    expect(pixel(stripPixels([0.5], 1, true), 0)).not.toEqual(level(0.5));
  });

  it("a value that is not finite is grey, never a colour of the scale", () => {
    const bytes = stripPixels([NaN, Infinity, -Infinity], 1);
    for (let i = 0; i < 3; i++) expect(pixel(bytes, i)).toEqual([128, 128, 128, 255]);
  });

  it("writes into the image it is given", () => {
    const into = new Uint8ClampedArray(8);
    expect(stripPixels([0.25, -0.25], 1, false, into)).toBe(into);
    expect(pixel(into, 1)).toEqual(level(-0.25));
  });

  it("a strip holds one canvas of n × 1 pixels, and none when empty (hatched)", () => {
    const strip = document.createElement("div");
    renderStrip(strip, new Float32Array([0.1, 0.2, 0.3]), { scale: 1, name: "h_1" });
    const canvas = strip.querySelector("canvas")!;
    expect([canvas.width, canvas.height]).toEqual([3, 1]);
    expect(strip.dataset.cells).toBe("3");
    expect(stripValues(strip)?.name).toBe("h_1");
    renderStrip(strip, new Float32Array(5), { scale: 1, name: "h_2" });
    expect(strip.querySelector("canvas")).toBe(canvas); // the same canvas, resized
    expect(canvas.width).toBe(5);
    renderStrip(strip, null, { scale: 1, name: "h_3" });
    expect(strip.querySelector("canvas")).toBeNull();
    expect(strip.classList.contains("is-empty")).toBe(true);
    expect(stripValues(strip)).toBeNull();
  });
});
