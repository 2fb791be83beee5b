// Prints the gzip size of the built snippet and recorder and exits non-zero when one is over its budget.
// Level 9 is close to what the worker's and CDNs' compressed responses achieve; the numbers are budgets,
// not promises about a transport. The snippet's is tight because every page view of every site pays it;
// the recorder's only catches growth, since only recorded sessions load it (once, then from cache).
// Usage: node scripts/size.mjs [file]   (default: both files in dist/; a file is held to the snippet's budget)
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

export const BUDGET = 1536;
export const RECORDER_BUDGET = 32768;

export const gzipSize = (path) => gzipSync(readFileSync(path), { level: 9 }).length;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dist = (name) => fileURLToPath(new URL(`../dist/${name}`, import.meta.url));
  const checks = process.argv[2]
    ? [["tracker-js", resolve(process.argv[2]), BUDGET]]
    : [
        ["tracker-js", dist("pathlight.js"), BUDGET],
        ["tracker-js recorder", dist("record.js"), RECORDER_BUDGET],
      ];
  for (const [name, file, budget] of checks) {
    const size = gzipSize(file);
    console.log(`${name}: ${size} bytes gzip (budget ${budget})`);
    if (size > budget) {
      console.error(`${name}: ${size - budget} bytes over budget`);
      process.exitCode = 1;
    }
  }
}
