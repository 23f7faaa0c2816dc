// Bundles src/index.ts into ../attn_widget/static/widget.js and widget.css (the
// anywidget module, ESM), and src/standalone.ts into standalone.js (an IIFE that
// attn_widget/export.py inlines into an exported page, with widget.css).
// The equations are MathML Core built by src/equation.ts, which the browser
// renders itself: the bundle ships no maths library and no fonts, and the widget
// never fetches anything from the network.
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");
const common = {
  bundle: true,
  target: ["es2020"],
  outdir: "../attn_widget/static",
  minify: !watch && !process.env.AW_NO_MINIFY,
  sourcemap: false,
  logLevel: "info",
};
const builds = [
  { ...common, entryPoints: { widget: "src/index.ts" }, format: "esm" },
  // A classic script: an inline <script type="module"> would work too, but a
  // classic one runs the same from file:// in every browser.
  { ...common, entryPoints: { standalone: "src/standalone.ts" }, format: "iife" },
];

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
