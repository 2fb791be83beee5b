// What the browser test suites share: headless Chromium launched the way this machine runs it (Debian's
// /usr/bin/chromium through playwright-core, which downloads no browser; see /work/shared/PLATFORM.md for
// why each flag), polling with a deadline instead of sleeping, and reading a screenshot's colours to tell a
// drawn page from a blank one. Ports for a gateway of a suite's own: ports.mjs.
import { tool } from "../../tracker-js/scripts/tools.mjs";

const { chromium } = tool("playwright-core");

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** Flags the suites run Chromium with: no sandbox (root in a container), no GPU, nothing phoning home. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A headless Chromium; playwright-core gives each launch a fresh profile directory. */
export function launchChromium(options = {}) {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, ...options });
}

/** Calls `check` until it returns something truthy (errors count as not yet), or fails after `deadlineMs`. */
export async function poll(what, check, deadlineMs = 30_000) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The distinct colours of a PNG, counted by the browser itself (no image library needed), and whether each
 * of `wanted` ([r, g, b] triples) is among them.
 */
export async function pngColours(browser, png, wanted = []) {
  const page = await browser.newPage();
  try {
    return await page.evaluate(
      async ([base64, wanted]) => {
        const image = new Image();
        image.src = `data:image/png;base64,${base64}`;
        await image.decode();
        const canvas = document.createElement("canvas");
        canvas.width = image.width;
        canvas.height = image.height;
        const context = canvas.getContext("2d");
        context.drawImage(image, 0, 0);
        const { data } = context.getImageData(0, 0, image.width, image.height);
        const colours = new Set();
        for (let i = 0; i < data.length; i += 4) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        return {
          distinct: colours.size,
          found: wanted.map(([r, g, b]) => colours.has((r << 16) | (g << 8) | b)),
        };
      },
      [png.toString("base64"), wanted],
    );
  } finally {
    await page.close();
  }
}
