// Resolves the Node tools (esbuild, playwright-core, ajv) from the one cached tool tree that
// scripts/install.sh installs from scripts/node/package-lock.json, so tracker-js keeps no node_modules or
// lock of its own. An absolute require rather than bare imports: ESM ignores NODE_PATH, and a bare import
// would need a node_modules link that some command has to create first.
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";

// Same default as scripts/env.sh: $PATHLIGHT_TOOLS/node.
export const toolTree = join(process.env.PATHLIGHT_TOOLS || join(homedir(), ".cache", "pathlight-tools"), "node");

const requireTool = createRequire(join(toolTree, "package.json"));

export const tool = (name) => {
  try {
    return requireTool(name);
  } catch (e) {
    if (e.code !== "MODULE_NOT_FOUND") throw e;
    throw new Error(`${name} is not in the Node tool tree ${toolTree}: run scripts/install.sh`, { cause: e });
  }
};
