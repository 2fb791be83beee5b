// Builds dist/pathlight.js, the file the edge worker embeds. The options live here, exported, so the
// reproducibility test rebuilds with exactly what `npm run build` uses.
// Usage: node scripts/build.mjs [outfile]   (default: dist/pathlight.js)
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { tool } from "./tools.mjs";

export const { build } = tool("esbuild");

export const root = fileURLToPath(new URL("..", import.meta.url));

export const options = {
  absWorkingDir: root,
  entryPoints: ["src/pathlight.js"],
  outfile: "dist/pathlight.js",
  // No bundling and no module format: the source is already a self-contained IIFE.
  minify: true,
  // Browsers from late 2020 on (Chrome/Edge 85, Firefox 79, Safari 14): keeps spread, for...of, arrow
  // functions, dynamic import() and logical assignment (a ||= b) untranspiled, which is smaller.
  target: ["es2021"],
  charset: "utf8",
  legalComments: "none",
  sourcemap: false,
  logLevel: "warning",
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await build(process.argv[2] ? { ...options, outfile: resolve(process.argv[2]) } : options);
}
