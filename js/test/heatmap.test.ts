import { describe, expect, it } from "vitest";
import { divergingRGB } from "../src/format";
import { stripGradient } from "../src/heatmap";

/** The colour at each cell's middle, read back from a hard-stop gradient string. */
function cellColours(gradient: string, n: number): string[] {
  const body = gradient.slice("linear-gradient(to right, ".length, -1);
  const stops = body.split(/,\s*(?=#)/).map((s) => {
    const m = s.match(/^(#[0-9a-f]{6}) ([\d.]+)% ([\d.]+)%$/);
    if (!m) throw new Error(`not a hard stop: ${s}`);
    return { colour: m[1], from: Number(m[2]), to: Number(m[3]) };
  });
  // no gap, no overlap (one value is written as the same stop twice: a gradient needs two)
  const same = (a: (typeof stops)[0], b: (typeof stops)[0]) => a.colour === b.colour && a.from === b.from && a.to === b.to;
  for (let s = 1; s < stops.length; s++) if (!same(stops[s], stops[s - 1])) expect(stops[s].from).toBe(stops[s - 1].to);
  return Array.from({ length: n }, (_, i) => {
    const at = (100 * (i + 0.5)) / n;
    return stops.find((s) => s.from <= at && at < s.to)!.colour;
  });
}

describe("strips", () => {
  it("one colour per value; neighbours of one colour share a stop", () => {
    const values = [0.9, 0.9, 0.9, -0.5, 0.2, 0.2, 1.5, 1.0]; // 1.5 and 1.0 both saturate at scale 1
    const g = stripGradient(values, 1);
    // the palette has 2·256+1 colours: a value takes the nearest level
    const colour = (v: number) => {
      const [r, gg, b] = divergingRGB(Math.round(256 * Math.max(-1, Math.min(1, v))) / 256, 1);
      return `#${[r, gg, b].map((c) => c.toString(16).padStart(2, "0")).join("")}`;
    };
    const want = values.map(colour);
    expect(cellColours(g, values.length)).toEqual(want);
    expect(g.match(/#/g)!.length).toBe(4); // 0.9 ×3, −0.5, 0.2 ×2, the saturated pair
    const one = stripGradient([0.3], 1);
    expect(cellColours(one, 1)).toEqual([colour(0.3)]);
  });
});
