import { describe, expect, it } from "vitest";
import { cssRgb, divergingRGB, formatFloat32, formatShort, inkFor, inkForKey, maxAbs, weightKey, weightRGB } from "../src/format";

describe("formatFloat32", () => {
  it("gives the shortest decimal that reads back as the same float32", () => {
    expect(formatFloat32(Math.fround(0.1))).toBe("0.1");
    expect(formatFloat32(Math.fround(1 / 3))).toBe("0.33333334");
    expect(formatFloat32(Math.fround(0.123456789))).toBe("0.12345679");
    expect(formatFloat32(0)).toBe("0");
    expect(formatFloat32(1)).toBe("1");
    for (const v of [1e-8, 0.5, 0.7071067811865476, 123.456, -2.5e-5]) {
      const s = formatFloat32(v);
      expect(Math.fround(Number(s))).toBe(Math.fround(v));
    }
  });
  it("short labels", () => {
    expect(formatShort(0.123456)).toBe("0.1235");
    expect(formatShort(0)).toBe("0");
    expect(formatShort(12345.6)).toBe("1.23e+4");
  });
});

describe("colour maps", () => {
  it("diverging: white at zero, blue below, orange above, symmetric and saturating", () => {
    expect(divergingRGB(0, 1)).toEqual([247, 247, 247]);
    const [rn, , bn] = divergingRGB(-1, 1);
    const [rp, , bp] = divergingRGB(1, 1);
    expect(bn).toBeGreaterThan(rn); // blue-purple side
    expect(rp).toBeGreaterThan(bp); // orange side
    expect(divergingRGB(5, 1)).toEqual(divergingRGB(1, 1));
    expect(divergingRGB(0.5, 2)).toEqual(divergingRGB(0.25, 1));
    expect(divergingRGB(NaN, 1)).toEqual([128, 128, 128]);
    expect(divergingRGB(3, 0)).toEqual([247, 247, 247]);
  });
  it("monotone lightness away from zero", () => {
    const light = ([r, g, b]: number[]) => 0.299 * r + 0.587 * g + 0.114 * b;
    let prev = Infinity;
    for (let u = 0; u <= 1.0001; u += 0.1) {
      const l = light(divergingRGB(u, 1));
      expect(l).toBeLessThanOrEqual(prev + 1e-9);
      prev = l;
    }
  });
  it("weights: white at 0, dark at 1; ink flips for contrast", () => {
    expect(weightRGB(0)).toEqual([255, 255, 255]);
    expect(inkFor(weightRGB(0))).toBe("#111");
    expect(inkFor(weightRGB(1))).toBe("#fff");
  });
  it("a packed colour gives the same CSS string and ink as its channels, the string made once", () => {
    for (const a of [0, 0.2, 0.5, 0.77, 1]) {
      for (const dark of [false, true]) {
        const [r, g, b] = weightRGB(a, dark);
        const key = weightKey(a, dark);
        expect(cssRgb(key)).toBe(`rgb(${r}, ${g}, ${b})`);
        expect(inkForKey(key)).toBe(inkFor([r, g, b]));
      }
    }
    // the luminance threshold, either side: 0x969696 is 150 exactly (dark ink only above)
    expect(inkForKey(0x979797)).toBe("#111");
    expect(inkForKey(0x969696)).toBe("#fff");
    expect(cssRgb(0x0a0b0c)).toBe("rgb(10, 11, 12)");
    expect(cssRgb(0x0a0b0c)).toBe(cssRgb(0x0a0b0c));
  });
  it("maxAbs ignores nulls and non-finite values", () => {
    expect(maxAbs([1, -3, 2], null, new Float32Array([2.5, NaN]))).toBe(3);
  });

  it("formatFloat32 finds the fewest digits, as a digit-by-digit search does", () => {
    const linear = (v: number) => {
      const f = Math.fround(v);
      for (let p = 1; p <= 9; p++) if (Math.fround(Number(f.toPrecision(p))) === f) return String(Number(f.toPrecision(p)));
      return String(f);
    };
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let n = 0; n < 20000; n++) {
      const v = (random() - 0.5) * 10 ** Math.floor(random() * 20 - 10);
      expect(formatFloat32(v)).toBe(linear(v));
    }
    for (const v of [0, 1, 0.1, 1 / 3, 1e-45, 3.4028234663852886e38, -0.0625]) expect(formatFloat32(v)).toBe(linear(v));
  });

  it("weightKey packs exactly weightRGB's colour, light and dark", () => {
    for (let j = -3; j <= 1003; j++) {
      const a = j / 1000 + 1e-7 * (j % 7);
      for (const dark of [false, true]) {
        const [r, g, b] = weightRGB(a, dark);
        expect(weightKey(a, dark)).toBe((r << 16) | (g << 8) | b);
      }
    }
  });
});

