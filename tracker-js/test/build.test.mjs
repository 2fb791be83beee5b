import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { build, builds, recorder, root, snippet } from "../scripts/build.mjs";
import { BUDGET, RECORDER_BUDGET } from "../scripts/size.mjs";

const dist = join(root, "dist/pathlight.js");
const recorderDist = join(root, "dist/record.js");
const sizeScript = join(root, "scripts/size.mjs");

const rebuild = async (options) => {
  const result = await build({ ...options, write: false });
  assert.equal(result.outputFiles.length, 1);
  return Buffer.from(result.outputFiles[0].contents);
};

for (const options of builds) {
  test(`rebuilding gives byte-identical output to the committed ${options.outfile}`, async () => {
    const committed = readFileSync(join(root, options.outfile));
    const first = await rebuild(options);
    const second = await rebuild(options);
    assert.ok(first.equals(second), "two builds of the same source differ");
    assert.ok(
      first.equals(committed),
      `${options.outfile} is stale: run \`npm run build\` in tracker-js and commit the result`,
    );
  });
}

test("npm run build writes the same bytes as the committed files", () => {
  const out = mkdtempSync(join(tmpdir(), "pathlight-build-"));
  try {
    // The script `npm run build` runs, pointed at a scratch directory so the committed files stay untouched.
    execFileSync(process.execPath, [join(root, "scripts/build.mjs"), out], { cwd: root, stdio: "pipe" });
    for (const name of ["pathlight.js", "record.js"])
      assert.ok(readFileSync(join(out, name)).equals(readFileSync(join(root, "dist", name))), name);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("the recorder is one ES module with rrweb bundled in, its licence notice on top, and no imports", () => {
  assert.equal(recorder.outfile, "dist/record.js");
  assert.equal(snippet.outfile, "dist/pathlight.js");
  const code = readFileSync(recorderDist, "utf8");
  assert.match(code, /^\/\*!\nPathlight session recorder\. Bundles @rrweb\/record 2\.1\.6/);
  assert.match(code, /Permission is hereby granted/);
  // Nothing fetched from anywhere else: no static or dynamic import, no CDN.
  assert.doesNotMatch(code, /(^|[;}\n])import[\s{*"']/);
  assert.doesNotMatch(code, /\bimport\(/);
  assert.doesNotMatch(code, /cdn|unpkg|jsdelivr/i);
  // The only source map reference is inside rrweb's canvas worker, which is a string (never started: canvas
  // is not recorded); the bundle itself points at none.
  assert.doesNotMatch(code.split("\n").slice(-2).join("\n"), /sourceMappingURL/);
  assert.match(code, /import\.meta\.url/);
  assert.match(code, /takeFullSnapshot/, "rrweb's record is bundled");
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

  const r = run.stdout.match(/^tracker-js recorder: (\d+) bytes gzip \(budget (\d+)\)$/m);
  assert.ok(r, `no recorder line in: ${run.stdout}`);
  assert.equal(Number(r[2]), RECORDER_BUDGET);
  assert.equal(Number(r[1]), gzipSync(readFileSync(recorderDist), { level: 9 }).length);
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
