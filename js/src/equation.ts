// The active update rule and align function, typeset with the bundled KaTeX,
// with the current step's pieces drawn under the symbols.

import katex from "katex";

const Z_TEX: Record<string, string> = { h: "h_t", x: "x_{t+1}", c: "c_t" };

export function updateTex(update: string, layout: [string, number][]): string {
  const blocks = layout.map(([name]) => Z_TEX[name] ?? name).join(" \\\\ ");
  return `h_{t+1} = \\tanh\\!\\left(A \\begin{bmatrix} ${blocks} \\end{bmatrix} + b\\right)` +
    (update === "eq1" ? "\\qquad\\text{(eq1: plain SimpleRNN, no attention)}" : `\\qquad\\text{(${update})}`);
}

export function alignTex(align: string): string {
  const score: Record<string, string> = {
    dot: "(W_K h_i)^{\\top} (W_Q h_t)",
    scaled_dot: "\\frac{(W_K h_i)^{\\top} (W_Q h_t)}{\\sqrt{d_k}}",
    additive: "v^{\\top} \\tanh\\!\\left(W \\begin{bmatrix} h_i \\\\ h_t \\end{bmatrix}\\right)",
  };
  const s = score[align] ?? `\\operatorname{align}(h_i, h_t)`;
  return `\\alpha_{t,i} = \\operatorname{softmax}_i\\!\\left(${s}\\right),\\; i = 0 \\ldots t \\qquad c_t = \\sum_{i=0}^{t} \\alpha_{t,i}\\, h_i`;
}

export function typeset(el: HTMLElement, tex: string, displayMode = true): void {
  try {
    katex.render(tex, el, { throwOnError: false, displayMode, output: "htmlAndMathml" });
  } catch {
    el.textContent = tex; // never lose the maths, even if KaTeX fails
  }
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
