// The committed player bundle (dist/player.js, dist/player.css) is what the sources build to: the gateway
// embeds the committed files, so a stale one would serve a player nobody reviewed.
// Run: node --test ingest-gateway/assets/test/
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { build, options, root } from "../build.mjs";

const rebuild = async () => {
  const result = await build({ ...options, write: false });
  return new Map(result.outputFiles.map((file) => [basename(file.path), Buffer.from(file.contents)]));
};

test("rebuilding gives byte-identical player.js and player.css to the committed ones", async () => {
  const first = await rebuild();
  const second = await rebuild();
  assert.deepEqual([...first.keys()].sort(), ["player.css", "player.js"]);
  for (const [name, bytes] of first) {
    assert.ok(bytes.equals(second.get(name)), `two builds of ${name} differ`);
    assert.ok(
      bytes.equals(readFileSync(join(root, "dist", name))),
      `dist/${name} is stale: run \`node ingest-gateway/assets/build.mjs\` and commit the result`,
    );
  }
});

test("the bundle holds rrweb-player and never asks rrweb to let replayed scripts run", () => {
  const bundle = readFileSync(join(root, "dist/player.js"), "utf8");
  // assert.ok rather than assert.match: a failing match would print the whole 200 KB bundle.
  assert.ok(bundle.includes("replayer-wrapper"), "the rrweb replayer is bundled");
  assert.ok(bundle.includes('setAttribute("sandbox","allow-same-origin")'), "rrweb's sandboxed iframe is bundled");
  const code = readFileSync(join(root, "src/player.js"), "utf8").replace(/\/\/.*$/gm, "");
  assert.ok(!code.includes("UNSAFE_replayCanvas"), "the player must not ask for allow-scripts");
  // (rrweb embeds a worker's source that carries one; the bundle's own last line must not.)
  assert.ok(!/\/\/# sourceMappingURL=[^\n]*\n?$/.test(bundle), "no source map reference");
});
