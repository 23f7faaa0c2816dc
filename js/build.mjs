// Bundles src/index.ts into ../attn_widget/static/widget.js and widget.css (the
// anywidget module, ESM), and src/standalone.ts into standalone.js (an IIFE that
// attn_widget/export.py inlines into an exported page, with widget.css).
// The equations are MathML Core built by src/equation.ts, which the browser
// renders itself: the bundle ships no maths library and no fonts, and the widget
// never fetches anything from the network.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import * as esbuild from "esbuild";

// A hash of the sources: index.ts keeps the first module instance of a build on a
// page global under it, so a page that loads a newer build does not reuse an older one.
const sources = createHash("sha256");
for (const name of readdirSync("src", { recursive: true }).map(String).sort()) {
  if (/\.(ts|css)$/.test(name)) sources.update(name).update(readFileSync(`src/${name}`));
}
const BUILD = sources.digest("hex").slice(0, 16);

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
  { ...common, entryPoints: { widget: "src/index.ts" }, format: "esm", define: { __AW_BUILD__: JSON.stringify(BUILD) } },
  // A classic script: an inline <script type="module"> would work too, but a
  // classic one runs the same from file:// in every browser.
  { ...common, entryPoints: { standalone: "src/standalone.ts" }, format: "iife" },
];

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
