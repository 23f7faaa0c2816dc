// Pure helpers: the colour maps and number formatting.

/**
 * The shortest decimal that reads back as the same float32, e.g. 0.1 for
 * Math.fround(0.1); this is the full float32 precision numpy prints.
 */
export function formatFloat32(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const f = Math.fround(v);
  // Whether p significant digits read back as f only grows with p (9 always
  // do), so the fewest is found by bisection: 4 tries instead of up to 9.
  let lo = 1;
  let hi = 9;
  while (lo < hi) {
    const p = (lo + hi) >> 1;
    if (Math.fround(Number(f.toPrecision(p))) === f) hi = p;
    else lo = p + 1;
  }
  return String(Number(f.toPrecision(lo)));
}

/** A compact value for labels: 4 significant digits. */
export function formatShort(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(2) : String(Number(v.toPrecision(4)));
}

type RGB = [number, number, number];

// A diverging purple–white–orange map in the spirit of ColorBrewer PuOr
// (readable with the common colour-vision deficiencies): negative is purple,
// zero white, positive orange.  On a dark background zero is a dark grey, so
// a zero never glares, and the colours grow lighter as they saturate.
const NEG: RGB[] = [
  [247, 247, 247],
  [178, 171, 210],
  [128, 115, 172],
  [84, 39, 136],
];
const POS: RGB[] = [
  [247, 247, 247],
  [253, 184, 99],
  [224, 130, 20],
  [179, 88, 6],
];
const NEG_DARK: RGB[] = [
  [48, 48, 54],
  [86, 74, 140],
  [140, 124, 206],
  [196, 184, 245],
];
const POS_DARK: RGB[] = [
  [48, 48, 54],
  [134, 84, 28],
  [214, 136, 40],
  [253, 196, 120],
];
// Attention weights: white (0) to deep purple (1); dark: near-black to pale violet.
const WEIGHT: RGB[] = [
  [255, 255, 255],
  [203, 201, 226],
  [117, 107, 177],
  [63, 0, 125],
];
const WEIGHT_DARK: RGB[] = [
  [40, 40, 46],
  [74, 62, 124],
  [138, 118, 212],
  [222, 208, 255],
];

function ramp(stops: RGB[], u: number): RGB {
  const x = Math.min(Math.max(u, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2);
  const f = x - i;
  const a = stops[i];
  const b = stops[i + 1];
  return [0, 1, 2].map((j) => Math.round(a[j] + (b[j] - a[j]) * f)) as RGB;
}

/** ramp, packed as 0xRRGGBB: the same numbers, with no array made (a draw asks for one per token). */
function rampKey(stops: RGB[], u: number): number {
  const x = Math.min(Math.max(u, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2);
  const f = x - i;
  const a = stops[i];
  const b = stops[i + 1];
  const r = Math.round(a[0] + (b[0] - a[0]) * f);
  const g = Math.round(a[1] + (b[1] - a[1]) * f);
  return (r << 16) | (g << 8) | Math.round(a[2] + (b[2] - a[2]) * f);
}

/** Colour of v on a symmetric scale [-maxAbs, maxAbs]; values beyond saturate. */
export function divergingRGB(v: number, maxAbs: number, dark = false): RGB {
  if (!Number.isFinite(v)) return [128, 128, 128];
  const u = maxAbs > 0 ? v / maxAbs : 0;
  return u < 0 ? ramp(dark ? NEG_DARK : NEG, -u) : ramp(dark ? POS_DARK : POS, u);
}

export function divergingColor(v: number, maxAbs: number, dark = false): string {
  const [r, g, b] = divergingRGB(v, maxAbs, dark);
  return `rgb(${r}, ${g}, ${b})`;
}

/** Attention weight in [0, 1] as an RGB: white to purple, or on a dark background dark to pale violet. */
export function weightRGB(a: number, dark = false): RGB {
  return ramp(dark ? WEIGHT_DARK : WEIGHT, a);
}

/** weightRGB packed as 0xRRGGBB. */
export function weightKey(a: number, dark = false): number {
  return rampKey(dark ? WEIGHT_DARK : WEIGHT, a);
}

/** Levels of a token's shading: a weight is drawn at the nearest of 0, 1/64, … 1.
 * Steps of 1/64 are below what the eye tells apart on a word's background, and a
 * new step then restyles only the words whose level moved: with 8-bit colours
 * every α near 1/t moved a unit at each step (some 60 words a view a step at
 * t = 300, T = 1000), each a style recalculation in JupyterLab's large sheet. */
export const SHADE_LEVELS = 64;

/** weightKey of a weight (or shading level) in [0, 1], at the nearest of SHADE_LEVELS
 * steps; beyond [0, 1] (±∞ too) it saturates, and NaN (a custom model's trace) is grey. */
export function shadeKey(u: number, dark = false): number {
  if (Number.isNaN(u)) return 0x808080;
  const level = Math.round(Math.min(Math.max(u, 0), 1) * SHADE_LEVELS) / SHADE_LEVELS;
  return weightKey(level, dark);
}

/** Whether an element sits on a dark background (JupyterLab's dark theme, VS Code's, …):
 * the luminance of the first opaque background up its ancestors. */
export function onDarkBackground(el: Element): boolean {
  for (let e: Element | null = el; e; e = e.parentElement) {
    const bg = getComputedStyle(e).backgroundColor;
    const m = bg.match(/rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?/);
    if (!m || (m[4] !== undefined && Number(m[4]) === 0)) continue;
    return 0.299 * Number(m[1]) + 0.587 * Number(m[2]) + 0.114 * Number(m[3]) < 110;
  }
  return false;
}

/** Decades of ‖∂h_k/∂x_i‖ the gradient shading spans: the largest is full colour,
 * a value GRAD_DECADES orders of magnitude smaller (or less) is blank. */
export const GRAD_DECADES = 6;

/** A sensitivity g as a shading level in 0 … 1, on a log scale relative to the largest. */
export function gradLevel(g: number, largest: number): number {
  if (!(g > 0) || !(largest > 0)) return 0;
  if (!Number.isFinite(largest)) return g === largest ? 1 : 0; // an Inf sensitivity: only it is shaded
  return Math.min(1, Math.max(0, 1 + Math.log10(g / largest) / GRAD_DECADES));
}

/** Text colour that stays readable over a background of the given RGB. */
export function inkFor([r, g, b]: RGB): string {
  return inkForKey((r << 16) | (g << 8) | b);
}

/** inkFor of a colour packed as 0xRRGGBB (no array made). */
export function inkForKey(key: number): string {
  return 0.299 * (key >> 16) + 0.587 * ((key >> 8) & 255) + 0.114 * (key & 255) > 150 ? "#111" : "#fff";
}

const cssColours = new Map<number, string>();

/** A colour packed as 0xRRGGBB as the CSS string `rgb(r, g, b)`, made once per colour:
 * a step asks for one per restyled token and per bar, and the few colours in use
 * (SHADE_LEVELS + 1 a theme for the tokens) would otherwise be new strings every frame. */
export function cssRgb(key: number): string {
  let css = cssColours.get(key);
  if (css === undefined) {
    css = `rgb(${key >> 16}, ${(key >> 8) & 255}, ${key & 255})`;
    if (cssColours.size < 4096) cssColours.set(key, css); // bars can ask for any colour: a bound
  }
  return css;
}

export function maxAbs(...arrays: (ArrayLike<number> | null | undefined)[]): number {
  let m = 0;
  for (const a of arrays) {
    if (!a) continue;
    for (let i = 0; i < a.length; i++) {
      const v = Math.abs(a[i]);
      if (v > m && Number.isFinite(v)) m = v;
    }
  }
  return m;
}
