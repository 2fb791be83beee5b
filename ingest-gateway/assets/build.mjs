// Builds dist/player.js and dist/player.css, the replay player the gateway embeds (src/replay/assets.rs):
// rrweb-player from the Node tool tree (scripts/node/package.json, pinned), bundled with esbuild; and
// dist/dashboard.js and dist/dashboard.css, the analytics dashboard (src/dashboard/assets.rs), with uPlot from
// the same tree. The options live here, exported, so the reproducibility tests rebuild with exactly these.
// Usage: node ingest-gateway/assets/build.mjs [outdir]   (default: ingest-gateway/assets/dist)
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { tool, toolTree } from "../../tracker-js/scripts/tools.mjs";

export const { build } = tool("esbuild");

export const root = fileURLToPath(new URL(".", import.meta.url));

export const options = {
  absWorkingDir: root,
  entryPoints: { player: "src/player.js" },
  outdir: "dist",
  bundle: true,
  format: "iife",
  minify: true,
  // The bare `rrweb-player` import resolves in the shared tool tree; this directory has no node_modules.
  nodePaths: [join(toolTree, "node_modules")],
  target: ["es2020"],
  charset: "utf8",
  legalComments: "none",
  sourcemap: false,
  logLevel: "warning",
};

// A build of its own, so that each bundle's test sees only its own files.
export const dashboardOptions = { ...options, entryPoints: { dashboard: "src/dashboard.js" } };

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const each of [options, dashboardOptions]) {
    await build(process.argv[2] ? { ...each, outdir: resolve(process.argv[2]) } : each);
  }
}
