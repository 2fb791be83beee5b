// The replay in a real Chromium: the gateway serves the sessions page and the player (the bundled
// rrweb-player), fed by the replay API from ClickHouse 18.16. Recordings are seeded as stored chunks (gzip
// of rrweb events, base64, as the edge stores them): one whole, one with a chunk withheld.
//
// Needs the local stack's ClickHouse and broker (scripts/stack.sh up; CLICKHOUSE_HTTP_PORT and BROKER_PORT
// from scripts/env.sh) and a built gateway (cargo build -p ingest-gateway; GATEWAY_BIN to use another).
// Each run migrates a fresh database and starts its own `ingest-gateway serve` on a free port (tests/support/).
//
// Run: node --test tests/browser-replay/
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { launchChromium } from "../support/browser.mjs";
import { insertRows, startGateway } from "../support/gateway.mjs";

// The machine may be busy compiling; deadlines are generous, and only ever reached when a test fails.
const DEADLINE_MS = 30_000;

const DATABASE = `pathlight_replay_browser_${randomBytes(6).toString("hex")}`;
const USER = "analyst";
const PASSWORD = randomBytes(12).toString("hex");
const SITE = "shop.example";
const WHOLE = "WholeRecording01";
const GAPPY = "GappyRecording02";
const TAB = "TabOfTheVisitor1";
const T0 = Date.UTC(2026, 0, 15, 9, 30); // the recordings' first event
const BOX_RGB = [192, 57, 43]; // the recorded page's red box, looked for in the screenshot

let gateway;
let gatewayOrigin;
let browser;

// ---------------------------------------------------------------- seeded recordings

// rrweb-snapshot node types: 0 document, 1 doctype, 2 element, 3 text.
const element = (id, tagName, attributes, childNodes = []) => ({ type: 2, id, tagName, attributes, childNodes });
const text = (id, textContent) => ({ type: 3, id, textContent });

/** A meta event and a full snapshot of a page whose heading says `heading`. */
const snapshot = (at, heading, base = 1) => [
  { type: 4, timestamp: at, data: { href: `https://${SITE}/checkout`, width: 800, height: 500 } },
  {
    type: 2,
    timestamp: at + 1,
    data: {
      initialOffset: { left: 0, top: 0 },
      node: {
        type: 0,
        id: base,
        childNodes: [
          { type: 1, id: base + 1, name: "html", publicId: "", systemId: "" },
          element(base + 2, "html", {}, [
            element(base + 3, "head", {}, [
              element(base + 4, "style", { _cssText: "body { margin: 0; background: #f4f1e8; font: 24px sans-serif; }" }),
            ]),
            element(base + 5, "body", {}, [
              element(base + 6, "h1", { id: "greeting" }, [text(base + 7, heading)]),
              element(base + 8, "div", { id: "box", style: "width: 420px; height: 220px; background: rgb(192, 57, 43);" }),
              // What a recorded page's scripts could do, if the player ever let them run.
              element(base + 9, "script", {}, [text(base + 10, "window.parent.__replayedScriptRan = 'script';")]),
              element(base + 11, "img", { src: "data:,", onerror: "window.parent.__replayedScriptRan = 'onerror';" }),
            ]),
          ]),
        ],
      },
    },
  },
];

/** A mutation event that sets the text of node `id`. */
const setText = (at, id, value) => ({
  type: 3,
  timestamp: at,
  data: { source: 0, texts: [{ id, value }], attributes: [], removes: [], adds: [] },
});

const EMPTY = { schema_version: 1, dropped: "{}", visitor_id: "", region: "", city: "", browser: "Chrome", os: "Linux" };

/** The stored row of chunk `seq`: what the Kafka engine would have written. */
function chunkRow(sessionId, seq, events, { final = false } = {}) {
  const raw = Buffer.from(JSON.stringify(events));
  const compressed = gzipSync(raw);
  const times = events.map((e) => e.timestamp);
  const received = Math.max(...times) + 500;
  return {
    ...EMPTY,
    site: SITE,
    session_id: sessionId,
    tab_id: TAB,
    seq,
    part: 0,
    parts: 1,
    first_ts_ms: Math.min(...times),
    last_ts_ms: Math.max(...times),
    event_count: events.length,
    raw_bytes: raw.length,
    compressed_bytes: compressed.length,
    encoding: "gzip",
    full_snapshot: events.some((e) => e.type === 2) ? 1 : 0,
    is_final: final ? 1 : 0,
    url: `https://${SITE}/checkout`,
    pathname: "/checkout",
    timestamp: Math.floor(received / 1000),
    timestamp_ms: received,
    device: "pc",
    country: "NL",
    payload: compressed.toString("base64"),
  };
}

// A whole recording: a snapshot, then two text changes, the last chunk final.
const wholeRecording = [
  chunkRow(WHOLE, 0, snapshot(T0, "Your basket")),
  chunkRow(WHOLE, 1, [setText(T0 + 2_000, 8, "Paying…")]),
  chunkRow(WHOLE, 2, [setText(T0 + 4_000, 8, "Thank you for your order")], { final: true }),
];

// Chunk 1 is withheld; chunk 2 holds the next full snapshot (new node ids, as after an rrweb checkout).
const gappyStart = T0 + 3_600_000;
const gappyRecording = [
  chunkRow(GAPPY, 0, snapshot(gappyStart, "Before the gap")),
  // seq 1 (a text change) never arrived
  chunkRow(GAPPY, 2, snapshot(gappyStart + 4_000, "After the gap", 101)),
  chunkRow(GAPPY, 3, [setText(gappyStart + 6_000, 108, "Resumed after the gap")], { final: true }),
];

// ---------------------------------------------------------------- harness

before(async () => {
  gateway = await startGateway(DATABASE, { REPLAY_USERNAME: USER, REPLAY_PASSWORD: PASSWORD }, DEADLINE_MS);
  gatewayOrigin = gateway.origin;
  await insertRows(DATABASE, "recording_chunks", [...wholeRecording, ...gappyRecording]);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await gateway?.stop(); // its database stays, retired, until the stack is purged (tests/support/gateway.mjs)
});

const authorization = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;

/** What a page shows once it stops navigating: a cancelled Basic prompt moves on to Chromium's error page. */
async function settledContent(page) {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    try {
      return await page.content();
    } catch (error) {
      if (!/navigating/.test(error.message) || Date.now() > deadline) throw error;
      await page.waitForLoadState("load").catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** A browser page of a context that answers the gateway's Basic challenge, as a person would. */
async function signedInPage(t) {
  const context = await browser.newContext({ httpCredentials: { username: USER, password: PASSWORD } });
  t.after(() => context.close());
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
  });
  return { page, problems };
}

/**
 * Opens the player on `sessionId`, waits for it to load, seeks to the end, and returns the heading text once
 * it reads `expected` (polled: the replayed document is the player's to build), or as it reads at the deadline.
 */
async function playToTheEnd(page, sessionId, expected) {
  const response = await page.goto(`${gatewayOrigin}/replay/sessions/${SITE}/${sessionId}`);
  assert.equal(response.status(), 200);
  await page.waitForSelector('#player[data-state="ready"]', { timeout: DEADLINE_MS });
  await page.evaluate(() => {
    const player = window.pathlightPlayer;
    // Events exactly at an offset are applied only once the clock passes it, hence the last millisecond.
    player.goto(player.getMetaData().totalTime + 1, false);
  });
  const replayed = () =>
    document.querySelector(".replayer-wrapper iframe")?.contentDocument?.querySelector("#greeting")?.textContent;
  await page
    .waitForFunction(
      (text) => document.querySelector(".replayer-wrapper iframe")?.contentDocument?.querySelector("#greeting")
        ?.textContent === text,
      expected,
      { timeout: DEADLINE_MS },
    )
    .catch(() => {});
  return page.evaluate(replayed);
}

/** Distinct colours in a PNG, and whether `rgb` is one of them, read by the browser itself. */
async function pngColours(png, rgb) {
  const page = await browser.newPage();
  try {
    return await page.evaluate(
      async ([base64, [r, g, b]]) => {
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
        let hasColour = false;
        for (let i = 0; i < data.length; i += 4) {
          colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
          if (data[i] === r && data[i + 1] === g && data[i + 2] === b) hasColour = true;
        }
        return { distinct: colours.size, hasColour };
      },
      [png.toString("base64"), rgb],
    );
  } finally {
    await page.close();
  }
}

// ---------------------------------------------------------------- tests

test("without credentials the pages and the API answer 401 and ask the browser for them", async () => {
  for (const path of ["/replay", `/replay/sessions/${SITE}/${WHOLE}`, "/replay/assets/player.js",
    `/replay/api/sessions/${SITE}/${WHOLE}/events`]) {
    const response = await fetch(`${gatewayOrigin}${path}`);
    assert.equal(response.status, 401, path);
    assert.match(response.headers.get("www-authenticate"), /^Basic realm="Pathlight replay"/, path);
    assert.equal((await response.json()).error, "missing_credentials", path);
  }
  // A browser without the credentials, or with wrong ones: headless Chromium cancels the prompt, which
  // fails the navigation (ERR_INVALID_AUTH_CREDENTIALS) rather than showing the 401 body.
  for (const httpCredentials of [undefined, { username: USER, password: "guess" }]) {
    const context = await browser.newContext({ httpCredentials });
    try {
      const page = await context.newPage();
      const outcome = await page.goto(`${gatewayOrigin}/replay`).then((r) => r.status(), (e) => e.message);
      assert.ok(outcome === 401 || /ERR_INVALID_AUTH_CREDENTIALS/.test(outcome), String(outcome));
      assert.doesNotMatch(await settledContent(page), /WholeRecording01/);
    } finally {
      await context.close();
    }
  }
});

test("the sessions page lists both recordings newest first with their completeness", async (t) => {
  const { page, problems } = await signedInPage(t);
  const response = await page.goto(`${gatewayOrigin}/replay?site=${SITE}`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()["content-security-policy"], /^default-src 'none'/);
  const rows = await page.$$eval("tbody tr", (trs) =>
    trs.map((tr) => ({ link: tr.querySelector("a").getAttribute("href"), status: tr.lastElementChild.textContent })));
  assert.deepEqual(rows, [
    { link: `/replay/sessions/${SITE}/${GAPPY}`, status: "gaps (1 missing)" },
    { link: `/replay/sessions/${SITE}/${WHOLE}`, status: "complete" },
  ]);
  const filtered = await page.goto(`${gatewayOrigin}/replay?completeness=complete`);
  assert.equal(filtered.status(), 200);
  assert.equal(await page.locator("tbody tr").count(), 1);
  assert.deepEqual(problems, []);
});

test("the player replays a recording in a sandboxed frame and its screenshot shows the recorded page", async (t) => {
  const { page, problems } = await signedInPage(t);
  const heading = await playToTheEnd(page, WHOLE, "Thank you for your order");
  assert.equal(heading, "Thank you for your order", "the last mutation was replayed");

  const frame = await page.evaluate(() => {
    const iframe = document.querySelector(".replayer-wrapper iframe");
    return {
      sandbox: iframe.getAttribute("sandbox"),
      box: Boolean(iframe.contentDocument.querySelector("#box")),
      scriptRanInParent: window.__replayedScriptRan ?? null,
      scriptRanInFrame: iframe.contentWindow.__replayedScriptRan ?? null,
    };
  });
  assert.deepEqual(frame, { sandbox: "allow-same-origin", box: true, scriptRanInParent: null, scriptRanInFrame: null });

  const png = await page.locator(".rr-player").screenshot();
  const shots = mkdtempSync(join(tmpdir(), "pathlight-replay-"));
  writeFileSync(join(shots, "player.png"), png);
  t.diagnostic(`screenshot: ${join(shots, "player.png")}`);
  const colours = await pngColours(png, BOX_RGB);
  assert.ok(colours.distinct > 10, `the player is drawn (${colours.distinct} colours)`);
  assert.ok(colours.hasColour, "the recorded page's red box is on screen");
  assert.deepEqual(problems, [], "no script error and nothing refused by the Content-Security-Policy");
});

test("a recording with a chunk withheld is reported as a gap and still plays from the next full snapshot",
  async (t) => {
    const detail = await (await fetch(`${gatewayOrigin}/replay/api/sessions/${SITE}/${GAPPY}`,
      { headers: { authorization } })).json();
    assert.equal(detail.completeness, "gaps");
    assert.deepEqual(detail.tabs.map((tab) => [tab.tab_id, tab.missing_seqs, tab.final_received]), [[TAB, [1], true]]);

    const { page, problems } = await signedInPage(t);
    const heading = await playToTheEnd(page, GAPPY, "Resumed after the gap");
    assert.equal(heading, "Resumed after the gap");
    assert.match(await page.locator("#gaps").textContent(), /sequence numbers\): 1\./);
    assert.match(await page.locator("#completeness").textContent(), /^gaps \(1 missing\)$/);
    assert.deepEqual(problems, []);
  });
