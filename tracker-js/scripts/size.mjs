// Prints the gzip size of the built snippet and exits non-zero over budget. Level 9 is close to what the
// worker's and CDNs' compressed responses achieve; the number is a budget, not a promise about a transport.
// Usage: node scripts/size.mjs [file]   (default: dist/pathlight.js)
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

export const BUDGET = 1536;

export const gzipSize = (path) => gzipSync(readFileSync(path), { level: 9 }).length;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2]
    ? resolve(process.argv[2])
    : fileURLToPath(new URL("../dist/pathlight.js", import.meta.url));
  const size = gzipSize(file);
  console.log(`tracker-js: ${size} bytes gzip (budget ${BUDGET})`);
  if (size > BUDGET) {
    console.error(`tracker-js: ${size - BUDGET} bytes over budget`);
    process.exit(1);
  }
}
