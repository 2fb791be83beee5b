// Builds the two files the edge worker embeds: dist/pathlight.js (the page-view snippet, GET /js) and
// dist/record.js (the session recorder, GET /record.js). The options live here, exported, so the
// reproducibility test rebuilds with exactly what `npm run build` uses.
// Usage: node scripts/build.mjs [outdir]   (default: dist/)
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { tool, toolTree } from "./tools.mjs";

export const { build } = tool("esbuild");

export const root = fileURLToPath(new URL("..", import.meta.url));

const common = {
  absWorkingDir: root,
  minify: true,
  // Browsers from late 2020 on (Chrome/Edge 85, Firefox 79, Safari 14): keeps spread, for...of, arrow
  // functions, dynamic import() and logical assignment (a ||= b) untranspiled, which is smaller.
  target: ["es2021"],
  charset: "utf8",
  sourcemap: false,
  logLevel: "warning",
};

export const snippet = {
  ...common,
  entryPoints: ["src/pathlight.js"],
  outfile: "dist/pathlight.js",
  // No bundling and no module format: the source is already a self-contained IIFE.
  legalComments: "none",
};

// rrweb blocks an iframe element (only its size is kept) but still serializes, and then observes, the
// document inside it when that document is same-origin. Blocked must mean blocked: this one-line change to
// @rrweb/record 2.1.6 skips the inner document of a blocked iframe. The build fails if the line it changes
// is not there (another version), rather than silently recording frames again.
const IFRAME_LINE = 'if (serializedNode.type === NodeType.Element && serializedNode.tagName === "iframe") {';
export const blockFrameDocuments = {
  name: "block-frame-documents",
  setup(b) {
    b.onLoad({ filter: /@rrweb[\\/]record[\\/]dist[\\/]record\.js$/ }, async (args) => {
      const code = await readFile(args.path, "utf8");
      if (code.split(IFRAME_LINE).length !== 2) throw new Error(`${args.path}: rrweb's iframe line not found once`);
      const blocked = IFRAME_LINE.replace(") {", " && !_isBlockedElement(n, blockClass, blockSelector)) {");
      return { contents: code.replace(IFRAME_LINE, blocked), loader: "js" };
    });
  },
};

export const recorder = {
  ...common,
  entryPoints: ["src/record.js"],
  outfile: "dist/record.js",
  // @rrweb/record comes from the Node tool tree (pinned by scripts/node/package-lock.json) and is bundled
  // in: the browser loads nothing from anywhere but the worker.
  bundle: true,
  nodePaths: [join(toolTree, "node_modules")],
  plugins: [blockFrameDocuments],
  // The snippet loads it with import(), which runs it once per page; its location (import.meta.url) gives
  // the worker's origin.
  format: "esm",
  // The bundled libraries' MIT notice travels with the code, once, at the top.
  legalComments: "none",
  banner: { js: `/*!\n${readFileSync(join(root, "src/record-notice.txt"), "utf8")}*/` },
};

export const builds = [snippet, recorder];

// The same builds written into another directory (tests use a scratch one).
export const into = (outdir) => builds.map((b) => ({ ...b, outfile: join(outdir, b.outfile.replace(/^dist\//, "")) }));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const b of process.argv[2] ? into(resolve(process.argv[2])) : builds) await build(b);
}
