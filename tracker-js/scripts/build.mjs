// Builds dist/pathlight.js, the file the edge worker embeds. The options live here, exported, so the
// reproducibility test rebuilds with exactly what `npm run build` uses.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("..", import.meta.url));

export const options = {
  absWorkingDir: root,
  entryPoints: ["src/pathlight.js"],
  outfile: "dist/pathlight.js",
  // No bundling and no module format: the source is already a self-contained IIFE.
  minify: true,
  // Browsers from 2020 on; keeps spread, for...of and arrow functions untranspiled (smaller).
  target: ["es2020"],
  charset: "utf8",
  legalComments: "none",
  sourcemap: false,
  logLevel: "warning",
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await build(options);
}
