// Bundles src/index.ts into ../attn_widget/static/widget.js and widget.css.
// The equations are MathML Core built by src/equation.ts, which the browser
// renders itself: the bundle ships no maths library and no fonts, and the widget
// never fetches anything from the network.
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");
const options = {
  entryPoints: { widget: "src/index.ts" },
  bundle: true,
  format: "esm",
  target: ["es2020"],
  outdir: "../attn_widget/static",
  minify: !watch && !process.env.AW_NO_MINIFY,
  sourcemap: false,
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
