// The equations are MathML Core built element by element (no KaTeX, no markup).
import { describe, expect, it } from "vitest";
import {
  MATHML_NS, affineMath, alignMath, alignTex, nextHiddenMath, OWN_UPDATE_NOTE, splitZ, typeset, updateMath, updateTex, zBlockMath,
} from "../src/equation";

const HOSTILE = '<img src=x onerror=alert(1)><b>bold</b>&amp;';

/** Every element under (and including) root. */
const all = (root: Element) => [root, ...root.querySelectorAll("*")];

/** The presentation: the first child of <semantics>. */
const body = (m: Element) => m.querySelector(":scope > semantics > mrow")!;

/** Text of the presentation only (the TeX annotation left out). */
const shown = (m: Element) => body(m).textContent!.replace(/[\u2061\u2062]/g, "");

/** The rows of a column vector, each as its text. */
const rows = (table: Element) => [...table.querySelectorAll(":scope > mtr")].map((r) => r.textContent);

function expectMathML(m: Element) {
  expect(m.localName).toBe("math");
  for (const e of all(m)) expect(e.namespaceURI).toBe(MATHML_NS);
}

describe("updateMath", () => {
  const layout4: [string, number][] = [["h", 3], ["x", 2], ["c", 3]];

  it("a model of one's own (the GRU example): h_{t+1} = F(h_t, [x_{t+1}; c_t]), named as its own, no tanh(A·z + b)", () => {
    const m = updateMath("gru", [["x", 2], ["c", 3]]);
    expectMathML(m);
    expect(shown(m)).toBe(`ht+1=F(ht,[xt+1ct])(gru: ${OWN_UPDATE_NOTE})`);
    expect([...m.querySelectorAll("mi")].some((e) => e.textContent === "tanh" || e.textContent === "A")).toBe(false);
    expect(updateTex("gru", [["x", 2], ["c", 3]])).not.toMatch(/tanh/);
    for (const known of ["eq1", "eq3", "eq4"]) expect(shown(updateMath(known, layout4))).toMatch(/^ht\+1=tanh\(A/);
  });

  it("eq4: h_{t+1} = tanh(A [h_t; x_{t+1}; c_t] + b), display block, all MathML", () => {
    const m = updateMath("eq4", layout4);
    expectMathML(m);
    expect(m.getAttribute("display")).toBe("block");
    expect(shown(m)).toBe("ht+1=tanh(A[htxt+1ct]+b)(eq4)");
    const lhs = body(m).firstElementChild!;
    expect(lhs.localName).toBe("msub");
    expect(lhs.children[0].textContent).toBe("h");
    expect([...lhs.children[1].children].map((c) => `${c.localName}:${c.textContent}`)).toEqual(["mi:t", "mo:+", "mn:1"]);
    expect([...m.querySelectorAll("mi")].some((e) => e.textContent === "tanh")).toBe(true);
  });

  it("eq4: the vector has three rows h_t, x_{t+1}, c_t in that order, in stretchy brackets", () => {
    const m = updateMath("eq4", layout4);
    const tables = m.querySelectorAll("mtable");
    expect(tables.length).toBe(1);
    const table = tables[0];
    expect(rows(table)).toEqual(["ht", "xt+1", "ct"]);
    for (const r of table.querySelectorAll(":scope > mtr")) {
      expect(r.children.length).toBe(1);
      expect(r.children[0].localName).toBe("mtd");
      expect(r.children[0].firstElementChild!.localName).toBe("msub");
    }
    const open = table.previousElementSibling!;
    const close = table.nextElementSibling!;
    expect([open.localName, open.textContent, open.getAttribute("stretchy")]).toEqual(["mo", "[", "true"]);
    expect([close.localName, close.textContent, close.getAttribute("stretchy")]).toEqual(["mo", "]", "true"]);
    // the outer parentheses of tanh(…) stretch too (\left( … \right))
    const paren = [...m.querySelectorAll("mo")].find((e) => e.textContent === "(")!;
    expect(paren.getAttribute("stretchy")).toBe("true");
  });

  it("eq1: two rows h_t, x_{t+1} and the plain-SimpleRNN note", () => {
    const m = updateMath("eq1", [["h", 3], ["x", 2]]);
    expect(rows(m.querySelector("mtable")!)).toEqual(["ht", "xt+1"]);
    const notes = [...m.querySelectorAll("mtext")].map((e) => e.textContent);
    expect(notes).toEqual(["(eq1: plain SimpleRNN, no attention)"]);
  });

  it("eq3: rows follow z_layout, note (eq3)", () => {
    const m = updateMath("eq3", [["x", 2], ["c", 3]]);
    expect(rows(m.querySelector("mtable")!)).toEqual(["xt+1", "ct"]);
    expect(m.querySelector("mtext")!.textContent).toBe("(eq3)");
  });

  it("carries its TeX source in a semantics annotation", () => {
    const m = updateMath("eq4", layout4);
    const semantics = m.querySelector(":scope > semantics")!;
    expect(semantics.children.length).toBe(2);
    expect(semantics.children[0].localName).toBe("mrow");
    const ann = semantics.children[1];
    expect(ann.localName).toBe("annotation");
    expect(ann.getAttribute("encoding")).toBe("application/x-tex");
    expect(ann.textContent).toBe(updateTex("eq4", layout4));
    expect(ann.textContent).toContain("\\begin{bmatrix} h_t \\\\ x_{t+1} \\\\ c_t \\end{bmatrix}");
  });
});

describe("alignMath", () => {
  it("dot: α_{t,i} = softmax_i((W_K h_i)^⊤ (W_Q h_t)), i = 0 … t   c_t = Σ_{i=0}^{t} α_{t,i} h_i", () => {
    const m = alignMath("dot");
    expectMathML(m);
    expect(m.getAttribute("display")).toBe("block");
    expect(shown(m)).toBe("αt,i=softmaxi((WKhi)⊤(WQht)),i=0…tct=∑i=0tαt,ihi");
    expect(m.querySelector("mfrac")).toBeNull();
    const top = [...m.querySelectorAll("msup")].find((e) => e.children[1].textContent === "⊤")!;
    expect(top.children[0].textContent!.replace(/\u2062/g, "")).toBe("(WKhi)");
    const softmax = [...m.querySelectorAll("msub")].find((e) => e.children[0].textContent === "softmax")!;
    expect(softmax.children[1].textContent).toBe("i");
  });

  it("Σ_{i=0}^{t} is a munderover with the sum sign, i = 0 under and t over", () => {
    const sum = alignMath("dot").querySelector("munderover")!;
    expect(sum.children.length).toBe(3);
    expect(sum.children[0].localName).toBe("mo");
    expect(sum.children[0].textContent).toBe("∑");
    expect(sum.children[1].textContent).toBe("i=0");
    expect(sum.children[2].textContent).toBe("t");
  });

  it("scaled_dot: an mfrac of (W_K h_i)^⊤ (W_Q h_t) over an msqrt holding d_k", () => {
    const m = alignMath("scaled_dot");
    const frac = m.querySelector("mfrac")!;
    expect(frac).not.toBeNull();
    expect(frac.children.length).toBe(2);
    expect(frac.children[0].textContent!.replace(/\u2062/g, "")).toBe("(WKhi)⊤(WQht)");
    const den = frac.children[1];
    expect(den.localName).toBe("msqrt");
    const dk = den.firstElementChild!;
    expect(dk.localName).toBe("msub");
    expect([dk.children[0].textContent, dk.children[1].textContent]).toEqual(["d", "k"]);
  });

  it("additive: v^⊤ tanh(W [h_i; h_t])", () => {
    const m = alignMath("additive");
    expect(m.querySelector("mfrac")).toBeNull();
    expect(rows(m.querySelector("mtable")!)).toEqual(["hi", "ht"]);
    const v = [...m.querySelectorAll("msup")].find((e) => e.children[0].textContent === "v")!;
    expect(v.children[1].textContent).toBe("⊤");
    expect(shown(m)).toContain("v⊤tanh(W[hiht])");
  });

  it("any other align function: align(h_i, h_t)", () => {
    for (const name of ["general", "", HOSTILE]) {
      const m = alignMath(name);
      expect(shown(m)).toContain("softmaxi(align(hi,ht))");
      expect(m.querySelector("mfrac, mtable")).toBeNull();
      expect(m.textContent).not.toContain("img");
    }
  });

  it("annotation is the TeX source", () => {
    for (const name of ["dot", "scaled_dot", "additive", "other"]) {
      expect(alignMath(name).querySelector("annotation")!.textContent).toBe(alignTex(name));
    }
    expect(alignTex("scaled_dot")).toContain("\\frac{(W_K h_i)^{\\top} (W_Q h_t)}{\\sqrt{d_k}}");
  });
});

describe("piece labels", () => {
  it("z blocks, A z + b and h_{t+1} are inline maths", () => {
    for (const m of [zBlockMath("h"), zBlockMath("x"), zBlockMath("c"), affineMath(), nextHiddenMath()]) {
      expectMathML(m);
      expect(m.hasAttribute("display")).toBe(false);
    }
    expect(shown(zBlockMath("x"))).toBe("xt+1");
    expect(shown(zBlockMath("c"))).toBe("ct");
    expect(shown(affineMath())).toBe("Az+b");
    expect(shown(nextHiddenMath())).toBe("ht+1");
    expect(zBlockMath("x").querySelector("annotation")!.textContent).toBe("x_{t+1}");
  });
});

describe("hostile strings", () => {
  it("never create elements: they stay text in mi / mtext / annotation", () => {
    const formulas = [
      updateMath(HOSTILE, [[HOSTILE, 2], ["h", 3]]),
      alignMath(HOSTILE),
      zBlockMath(HOSTILE),
    ];
    for (const m of formulas) {
      expectMathML(m);
      expect(m.querySelector("img, b, script")).toBeNull();
      const names = new Set(all(m).map((e) => e.localName));
      for (const n of names) {
        expect(["math", "semantics", "annotation", "mrow", "mi", "mo", "mn", "mtext", "mspace", "msub", "msup",
          "mfrac", "msqrt", "mtable", "mtr", "mtd", "munderover"]).toContain(n);
      }
    }
    const [update, , block] = formulas;
    expect(update.querySelector("mtext")!.textContent).toBe(`(${HOSTILE}: ${OWN_UPDATE_NOTE})`); // not a rule it knows
    expect(rows(update.querySelector("mtable")!)).toEqual([HOSTILE, "ht"]);
    expect(block.querySelector("mi")!.textContent).toBe(HOSTILE);
    expect(update.querySelector("annotation")!.textContent).toContain(HOSTILE);
  });

  it("typeset replaces the host's children and keeps the element as given", () => {
    const host = document.createElement("div");
    host.innerHTML = "<span>old</span>";
    const m = updateMath("eq4", [["h", 1]]);
    typeset(host, m);
    expect(host.children.length).toBe(1);
    expect(host.firstElementChild).toBe(m);
    expect(host.querySelector("span")).toBeNull();
  });
});

describe("splitZ", () => {
  it("splits z into subarrays by z_layout", () => {
    const z = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const parts = splitZ(z, [["h", 2], ["x", 1], ["c", 3]]);
    expect(parts.map((p) => p.name)).toEqual(["h", "x", "c"]);
    expect(parts.map((p) => [...p.values])).toEqual([[1, 2], [3], [4, 5, 6]]);
  });
});
