// Bundles src/index.ts into ../attn_widget/static/widget.js and widget.css.
// KaTeX and its fonts are bundled (fonts inlined as data: URLs) so the widget
// never fetches anything from the network.
import * as esbuild from "esbuild";
import { readFile } from "node:fs/promises";

// KaTeX's CSS offers each font as woff2, woff and ttf; every browser JupyterLab
// supports reads woff2, so inlining the other two would only triple the size.
const woff2Only = {
  name: "katex-woff2-only",
  setup(build) {
    build.onLoad({ filter: /katex(\.min)?\.css$/ }, async (args) => {
      const css = await readFile(args.path, "utf8");
      const trimmed = css.replace(/,\s*url\([^)]*\.(woff|ttf)\)\s*format\("(woff|truetype)"\)/g, "");
      return { contents: trimmed, loader: "css" };
    });
  },
};

const watch = process.argv.includes("--watch");
const options = {
  entryPoints: { widget: "src/index.ts" },
  bundle: true,
  format: "esm",
  target: ["es2020"],
  outdir: "../attn_widget/static",
  minify: !watch,
  sourcemap: false,
  loader: { ".woff2": "dataurl", ".woff": "dataurl", ".ttf": "dataurl" },
  plugins: [woff2Only],
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
