// The committed dashboard bundle (dist/dashboard.js, dist/dashboard.css) is what the sources build to: the
// gateway embeds the committed files, so a stale one would serve a dashboard nobody reviewed.
// Run: node --test ingest-gateway/assets/test/
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { build, dashboardOptions, root } from "../build.mjs";

const rebuild = async () => {
  const result = await build({ ...dashboardOptions, write: false });
  return new Map(result.outputFiles.map((file) => [basename(file.path), Buffer.from(file.contents)]));
};

test("rebuilding gives byte-identical dashboard.js and dashboard.css to the committed ones", async () => {
  const first = await rebuild();
  const second = await rebuild();
  assert.deepEqual([...first.keys()].sort(), ["dashboard.css", "dashboard.js"]);
  for (const [name, bytes] of first) {
    assert.ok(bytes.equals(second.get(name)), `two builds of ${name} differ`);
    assert.ok(
      bytes.equals(readFileSync(join(root, "dist", name))),
      `dist/${name} is stale: run \`node ingest-gateway/assets/build.mjs\` and commit the result`,
    );
  }
});

test("the dashboard bundle holds uPlot and its styles, and its source never writes markup", () => {
  const bundle = readFileSync(join(root, "dist/dashboard.js"), "utf8");
  assert.ok(bundle.includes("uplot"), "uPlot is bundled");
  assert.ok(readFileSync(join(root, "dist/dashboard.css"), "utf8").includes(".uplot"), "uPlot's styles are bundled");
  const code = readFileSync(join(root, "src/dashboard.js"), "utf8").replace(/\/\/.*$/gm, "");
  // Visitor-controlled values (paths, referrers, event names) must only ever be text.
  for (const sink of ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"]) {
    assert.ok(!code.includes(sink), `the source uses ${sink}`);
  }
  assert.ok(!/setAttribute\(\s*["']style/.test(code), "inline style attributes would be refused by the policy");
  assert.ok(!/\/\/# sourceMappingURL=[^\n]*\n?$/.test(bundle), "no source map reference");
});

test("the dashboard shows every dimension of the reporting model in exactly one tab, and nothing else", () => {
  const contract = JSON.parse(readFileSync(join(root, "../../analytics-model/contracts/dimensions.json"), "utf8"));
  const layout = readFileSync(join(root, "src/dashboard-layout.js"), "utf8");
  const order = JSON.parse(layout.match(/PANEL_ORDER = (\[[^\]]*\])/)[1]);
  for (const d of contract.dimensions) assert.ok(order.includes(d.panel), `${d.name}'s panel ${d.panel} is on the page`);
  // Filters, labels, tabs and what each breakdown counts are read from the model, not restated in the source.
  for (const file of ["src/dashboard.js", "src/dashboard-layout.js"]) {
    const code = readFileSync(join(root, file), "utf8");
    assert.match(code, /from "\.\.\/\.\.\/\.\.\/analytics-model\/contracts\/dimensions\.json"/, file);
    for (const d of contract.dimensions) {
      for (const words of [d.label, d.tab]) assert.ok(!code.includes(`"${words}"`), `${file} restates "${words}"`);
    }
  }
});
