// The active update rule and align function, built as MathML Core elements
// (rendered natively by Chromium, Firefox and Safari: no library, no fonts to
// ship), with the current step's pieces drawn under the symbols.
//
// Every piece of text goes in through textContent, never markup: names and
// tokens may be user data. Each <math> carries its TeX source in a
// <semantics>/<annotation encoding="application/x-tex"> for screen readers and
// copying.

export const MATHML_NS = "http://www.w3.org/1998/Math/MathML";

type Attrs = Record<string, string>;

function node(tag: string, children: Element[] = [], attrs?: Attrs): Element {
  const e = document.createElementNS(MATHML_NS, tag);
  if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

function token(tag: string, text: string, attrs?: Attrs): Element {
  const e = node(tag, [], attrs);
  e.textContent = text;
  return e;
}

const mi = (text: string, attrs?: Attrs) => token("mi", text, attrs);
const mo = (text: string, attrs?: Attrs) => token("mo", text, attrs);
const mn = (text: string) => token("mn", text);
const mtext = (text: string) => token("mtext", text);
const mrow = (...children: Element[]) => node("mrow", children);
const msub = (base: Element, sub: Element) => node("msub", [base, sub]);
const msup = (base: Element, sup: Element) => node("msup", [base, sup]);
const mfrac = (num: Element, den: Element) => node("mfrac", [num, den]);
const msqrt = (...children: Element[]) => node("msqrt", children);
const space = (width: string) => node("mspace", [], { width });

const APPLY = "\u2061"; // invisible function application: tanh⁡(…)
const TIMES = "\u2062"; // invisible times: A⁢z
const TOP = "\u22A4"; // ⊤ (transpose)

/** An operator inside a script, with no space around it (TeX's t+1, i=0, t,i). */
const tight = (text: string) => mo(text, { lspace: "0", rspace: "0" });

/** A named function (upright, multi-letter) followed by the invisible apply. */
const fn = (name: Element) => [name, mo(APPLY)];

/** (…) around children; stretchy like \left( … \right) unless told otherwise. */
function parens(children: Element[], stretchy = true): Element {
  const s = String(stretchy);
  return mrow(mo("(", { fence: "true", stretchy: s }), ...children, mo(")", { fence: "true", stretchy: s }));
}

/** A bracketed column vector [a; b; …]: one table row per entry, stretchy brackets. */
function columnVector(entries: Element[]): Element {
  const rows = entries.map((e) => node("mtr", [node("mtd", [e])]));
  return mrow(
    mo("[", { fence: "true", stretchy: "true", symmetric: "true" }),
    node("mtable", rows, { class: "aw-bmatrix" }),
    mo("]", { fence: "true", stretchy: "true", symmetric: "true" }),
  );
}

/** x_{sub}: both given as plain text (the subscript may be e.g. "t", "K"). */
const sub = (base: string, script: string) => msub(mi(base), mi(script));
/** x_{t+1} */
const subNext = (base: string) => msub(mi(base), mrow(mi("t"), tight("+"), mn("1")));

/** One block of z by its z_layout name: h → h_t, x → x_{t+1}, c → c_t, else the name as is. */
function zBlock(name: string): Element {
  if (name === "h") return sub("h", "t");
  if (name === "x") return subNext("x");
  if (name === "c") return sub("c", "t");
  return mi(name);
}

/** <math> with its presentation and, in <semantics>, its TeX source. */
function math(body: Element[], tex: string, display: boolean): Element {
  const annotation = token("annotation", tex, { encoding: "application/x-tex" });
  const m = node("math", [node("semantics", [mrow(...body), annotation])]);
  if (display) m.setAttribute("display", "block");
  return m;
}

// ---- TeX sources (the annotations) ----

const Z_TEX: Record<string, string> = { h: "h_t", x: "x_{t+1}", c: "c_t" };

/** The update rules whose equation the widget draws: a SimpleRNN's (the LSTMN has its own). */
export const KNOWN_UPDATES = ["eq1", "eq3", "eq4"];

/** What a model of the user's own is called beside its update (the GRU of examples/gru_attention.py). */
export const OWN_UPDATE_NOTE = "your own model's update, which the widget does not know";

export function updateTex(update: string, layout: [string, number][]): string {
  const blocks = layout.map(([name]) => Z_TEX[name] ?? name).join(" \\\\ ");
  if (!KNOWN_UPDATES.includes(update)) {
    return `h_{t+1} = F\\!\\left(h_t, \\begin{bmatrix} ${blocks} \\end{bmatrix}\\right)\\qquad\\text{(${update}: ${OWN_UPDATE_NOTE})}`;
  }
  return `h_{t+1} = \\tanh\\!\\left(A \\begin{bmatrix} ${blocks} \\end{bmatrix} + b\\right)` +
    (update === "eq1" ? "\\qquad\\text{(eq1: plain SimpleRNN, no attention)}" : `\\qquad\\text{(${update})}`);
}

const SCORE_TEX: Record<string, string> = {
  dot: "(W_K h_i)^{\\top} (W_Q h_t)",
  scaled_dot: "\\frac{(W_K h_i)^{\\top} (W_Q h_t)}{\\sqrt{d_k}}",
  additive: "v^{\\top} \\tanh\\!\\left(W \\begin{bmatrix} h_i \\\\ h_t \\end{bmatrix}\\right)",
};

export function alignTex(align: string): string {
  const s = SCORE_TEX[align] ?? `\\operatorname{align}(h_i, h_t)`;
  return `\\alpha_{t,i} = \\operatorname{softmax}_i\\!\\left(${s}\\right),\\; i = 0 \\ldots t \\qquad c_t = \\sum_{i=0}^{t} \\alpha_{t,i}\\, h_i`;
}

// ---- MathML ----

/** h_{t+1} = tanh(A [z blocks] + b)   (eqN); for an update rule the widget does not
 * know, h_{t+1} = F(h_t, [z blocks]) and says it is the model's own: drawing the
 * SimpleRNN's tanh(A·z + b) there would name an update the model does not make. */
export function updateMath(update: string, layout: [string, number][]): Element {
  if (!KNOWN_UPDATES.includes(update)) {
    return math([
      subNext("h"), mo("="), mi("F"),
      parens([sub("h", "t"), mo(","), columnVector(layout.map(([name]) => zBlock(name)))]),
      space("2em"),
      mtext(`(${update}: ${OWN_UPDATE_NOTE})`),
    ], updateTex(update, layout), true);
  }
  const note = update === "eq1" ? "(eq1: plain SimpleRNN, no attention)" : `(${update})`;
  return math([
    subNext("h"), mo("="),
    ...fn(mi("tanh")),
    parens([mi("A"), mo(TIMES), columnVector(layout.map(([name]) => zBlock(name))), mo("+"), mi("b")]),
    space("2em"),
    mtext(note),
  ], updateTex(update, layout), true);
}

/** (W_K h_i)^⊤ (W_Q h_t) */
function dotScore(): Element[] {
  return [
    msup(parens([sub("W", "K"), mo(TIMES), sub("h", "i")], false), mi(TOP)),
    mo(TIMES),
    parens([sub("W", "Q"), mo(TIMES), sub("h", "t")], false),
  ];
}

function score(align: string): Element[] {
  switch (align) {
    case "dot":
      return dotScore();
    case "scaled_dot":
      return [mfrac(mrow(...dotScore()), msqrt(sub("d", "k")))];
    case "additive":
      return [
        msup(mi("v"), mi(TOP)), mo(TIMES),
        ...fn(mi("tanh")),
        parens([mi("W"), mo(TIMES), columnVector([sub("h", "i"), sub("h", "t")])]),
      ];
    default:
      return [...fn(mi("align")), parens([sub("h", "i"), mo(","), sub("h", "t")], false)];
  }
}

/** α_{t,i} = softmax_i(score), i = 0 … t     c_t = Σ_{i=0}^{t} α_{t,i} h_i */
export function alignMath(align: string): Element {
  const alpha = () => msub(mi("α"), mrow(mi("t"), tight(","), mi("i")));
  const sum = node("munderover", [mo("∑", { largeop: "true", movablelimits: "false" }), mrow(mi("i"), tight("="), mn("0")), mi("t")]);
  return math([
    alpha(), mo("="),
    ...fn(msub(mi("softmax"), mi("i"))),
    parens(score(align)),
    mo(","), space("0.2778em"),
    mi("i"), mo("="), mn("0"), mo("…"), mi("t"),
    space("2em"),
    sub("c", "t"), mo("="),
    sum, alpha(), mo(TIMES), space("0.1667em"), sub("h", "i"),
  ], alignTex(align), true);
}

/** Inline label of a z block (h → h_t, x → x_{t+1}, c → c_t, other names as given). */
export function zBlockMath(name: string): Element {
  return math([zBlock(name)], Z_TEX[name] ?? name, false);
}

/** Inline "A z + b". */
export function affineMath(): Element {
  return math([mi("A"), mo(TIMES), mi("z"), mo("+"), mi("b")], "A z + b", false);
}

/** Inline "pre": a model of one's own's pre-activation, whatever it computes it from. */
export function ownPreMath(): Element {
  return math([mi("pre")], "\\mathrm{pre}", false);
}

/** Inline "h_{t+1}". */
export function nextHiddenMath(): Element {
  return math([subNext("h")], "h_{t+1}", false);
}

// ---- LSTMN (Cheng, Dong & Lapata 2016, §3.1; attn_widget/core/lstmn.py) ----

const tilde = (base: string) => node("mover", [mi(base), mo("~", { stretchy: "false" })], { accent: "true" });
const hatted = (base: string) => node("mover", [mi(base), mo("^", { stretchy: "false" })], { accent: "true" });
/** h̃_{t-1} */
const tildePrev = (base: string) => msub(tilde(base), mrow(mi("t"), tight("−"), mn("1")));
const HADAMARD = "⊙";

export const LSTMN_ATTEND_TEX =
  "a_{t,i} = v^{\\top} \\tanh(W_h h_i + W_x x_{t+1} + W_{\\tilde h} \\tilde h_{t-1}),\\; " +
  "\\alpha_{t,i} = \\operatorname{softmax}_i(a_{t,i}) \\qquad " +
  "\\tilde h_t = \\sum_{i=0}^{t} \\alpha_{t,i} h_i \\quad \\tilde m_t = \\sum_{i=0}^{t} \\alpha_{t,i} m_i";

export const LSTMN_CELL_TEX =
  "\\begin{bmatrix} i_t \\\\ f_t \\\\ o_t \\\\ \\hat c_t \\end{bmatrix} = " +
  "\\begin{bmatrix} \\sigma \\\\ \\sigma \\\\ \\sigma \\\\ \\tanh \\end{bmatrix}" +
  "\\left(W \\begin{bmatrix} \\tilde h_t \\\\ x_{t+1} \\end{bmatrix} + b\\right) \\qquad " +
  "m_{t+1} = f_t \\odot \\tilde m_t + i_t \\odot \\hat c_t \\quad h_{t+1} = o_t \\odot \\tanh(m_{t+1})";

/** The LSTMN's attention over its tapes: scores, weights, and the two summaries. */
export function lstmnAttendMath(): Element {
  const alpha = () => msub(mi("α"), mrow(mi("t"), tight(","), mi("i")));
  const a = () => msub(mi("a"), mrow(mi("t"), tight(","), mi("i")));
  const sum = () => node("munderover", [mo("∑", { largeop: "true", movablelimits: "false" }), mrow(mi("i"), tight("="), mn("0")), mi("t")]);
  return math([
    a(), mo("="), msup(mi("v"), mi(TOP)), mo(TIMES), ...fn(mi("tanh")),
    parens([
      sub("W", "h"), mo(TIMES), sub("h", "i"), mo("+"),
      sub("W", "x"), mo(TIMES), subNext("x"), mo("+"),
      msub(mi("W"), tilde("h")), mo(TIMES), tildePrev("h"),
    ]),
    mo(","), space("0.2778em"),
    alpha(), mo("="), ...fn(msub(mi("softmax"), mi("i"))), parens([a()], false),
    space("2em"),
    msub(tilde("h"), mi("t")), mo("="), sum(), alpha(), mo(TIMES), space("0.1667em"), sub("h", "i"),
    space("1em"),
    msub(tilde("m"), mi("t")), mo("="), sum(), alpha(), mo(TIMES), space("0.1667em"), sub("m", "i"),
  ], LSTMN_ATTEND_TEX, true);
}

/** The LSTMN's gates on the summaries, its new memory and its new state, and where
 * this implementation departs from the paper. */
export function lstmnCellMath(): Element {
  const gates = columnVector([sub("i", "t"), sub("f", "t"), sub("o", "t"), msub(hatted("c"), mi("t"))]);
  const acts = columnVector([mi("σ"), mi("σ"), mi("σ"), mi("tanh")]);
  return math([
    gates, mo("="), acts,
    parens([mi("W"), mo(TIMES), columnVector([msub(tilde("h"), mi("t")), subNext("x")]), mo("+"), mi("b")]),
    space("2em"),
    subNext("m"), mo("="), sub("f", "t"), mo(HADAMARD), msub(tilde("m"), mi("t")), mo("+"),
    sub("i", "t"), mo(HADAMARD), msub(hatted("c"), mi("t")),
    space("1em"),
    subNext("h"), mo("="), sub("o", "t"), mo(HADAMARD), ...fn(mi("tanh")), parens([subNext("m")], false),
  ], LSTMN_CELL_TEX, true);
}

/** What departs from the paper, in words (shown under the LSTMN's equations):
 * the zero slot where the model has it (LSTMN(zero_slot=True), core/lstmn.py), and the gate bias. */
export function lstmnDepartures(zeroSlot: boolean): string {
  return zeroSlot
    ? "Departures from the paper: the tapes start with a slot h₀ = m₀ = 0, which takes a share of the weight " +
        "and adds nothing (both summaries shrink by 1 − α_t,0), and the gates have a bias b, as in torch's LSTM."
    : "Departure from the paper: the gates have a bias b, as in torch's LSTM (no zero slot: the tapes hold " +
        "h₁ … h_t, α_t,0 = 0, and the first step reads nothing).";
}

/** Inline labels of the LSTMN's per-step pieces, by StepData field name. */
export function lstmnPieceMath(name: string): Element {
  switch (name) {
    case "i":
    case "f":
    case "o":
      return math([sub(name, "t")], `${name}_t`, false);
    case "c_hat":
      return math([msub(hatted("c"), mi("t"))], "\\hat c_t", false);
    case "m":
      return math([subNext("m")], "m_{t+1}", false);
    default:
      return math([subNext("h")], "h_{t+1}", false);
  }
}

/** Show a <math> element in el, replacing what was there. */
export function typeset(el: HTMLElement, formula: Element): void {
  el.replaceChildren(formula);
}

/** Split z into its blocks by z_layout: [["h", H], ["x", D], ["c", H]] → subarrays. */
export function splitZ(z: Float32Array, layout: [string, number][]): { name: string; values: Float32Array }[] {
  const out: { name: string; values: Float32Array }[] = [];
  let at = 0;
  for (const [name, size] of layout) {
    out.push({ name, values: z.subarray(at, at + size) });
    at += size;
  }
  return out;
}
