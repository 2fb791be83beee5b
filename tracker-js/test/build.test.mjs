import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { build, options, root } from "../scripts/build.mjs";
import { BUDGET } from "../scripts/size.mjs";

const dist = join(root, "dist/pathlight.js");
const sizeScript = join(root, "scripts/size.mjs");

const rebuild = async () => {
  const result = await build({ ...options, write: false });
  assert.equal(result.outputFiles.length, 1);
  return Buffer.from(result.outputFiles[0].contents);
};

test("rebuilding gives byte-identical output to the committed dist/pathlight.js", async () => {
  const committed = readFileSync(dist);
  const first = await rebuild();
  const second = await rebuild();
  assert.ok(first.equals(second), "two builds of the same source differ");
  assert.ok(
    first.equals(committed),
    "dist/pathlight.js is stale: run `npm run build` in tracker-js and commit the result",
  );
});

test("npm run build writes the same bytes as the committed file", () => {
  const committed = readFileSync(dist);
  const out = mkdtempSync(join(tmpdir(), "pathlight-build-"));
  try {
    // The script `npm run build` runs, pointed at a scratch file so the committed one stays untouched.
    const outfile = join(out, "pathlight.js");
    execFileSync(process.execPath, [join(root, "scripts/build.mjs"), outfile], { cwd: root, stdio: "pipe" });
    assert.ok(readFileSync(outfile).equals(committed));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("the built snippet is a single minified script without a source map reference", () => {
  const code = readFileSync(dist, "utf8");
  assert.match(code, /^\(\(.*\)\(window,document\);\n$/s);
  assert.doesNotMatch(code, /sourceMappingURL/);
  assert.ok(!code.slice(0, -1).includes("\n"), "minified output should be one line");
});

test(`size script reports the gzip size and passes within ${BUDGET} bytes`, () => {
  const run = spawnSync(process.execPath, [sizeScript], { cwd: root, encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  const m = run.stdout.match(/^tracker-js: (\d+) bytes gzip \(budget (\d+)\)$/m);
  assert.ok(m, `unexpected output: ${run.stdout}`);
  const reported = Number(m[1]);
  assert.equal(Number(m[2]), BUDGET);
  assert.equal(reported, gzipSync(readFileSync(dist), { level: 9 }).length);
  assert.ok(reported <= BUDGET, `${reported} bytes gzip is over the ${BUDGET} byte budget`);
});

test("size script fails when a file is over budget", () => {
  const out = mkdtempSync(join(tmpdir(), "pathlight-size-"));
  try {
    // Random bytes do not compress, so 4 KiB is certainly over a 1.5 KiB budget.
    const big = join(out, "big.js");
    writeFileSync(big, randomBytes(4096).toString("base64"));
    const run = spawnSync(process.execPath, [sizeScript, big], { cwd: root, encoding: "utf8" });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /over budget/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
