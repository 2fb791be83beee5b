// Drives real headless Chromium through the demo site as visitors from chosen countries.
// Shared by the demo (scripts/demo.sh) and the end-to-end test, so both exercise the same path.
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { localUrl } from '../scripts/ports.mjs';
import { startEdge } from './edge.mjs';
import { startSiteServer } from './serve.mjs';

const toolsDir = process.env.PATHLIGHT_TOOLS ?? join(homedir(), '.cache', 'pathlight-tools');
const { chromium } = createRequire(join(toolsDir, 'node', 'package.json'))('playwright-core');

// Where the local stack listens: scripts/ports.env, or a private stack's ports (scripts/env.sh).
export const stack = {
  workerOrigin: localUrl('WORKER_PORT'),
  clickhouseUrl: localUrl('CLICKHOUSE_HTTP_PORT'),
  database: process.env.CLICKHOUSE_DATABASE ?? 'pathlight',
};

// Headless Chromium announces itself as "HeadlessChrome", which the worker rightly drops as automation.
// Demo visitors present an ordinary desktop Chrome user agent instead.
export const DESKTOP_CHROME_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';


export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
      // Beacons sent while a page unloads do not carry a context's user-agent override; without this they
      // would say HeadlessChrome and be dropped as automation.
      `--user-agent=${DESKTOP_CHROME_UA}`,
    ], // playwright gives every launch a fresh, empty profile directory of its own

  });
}

/**
 * One visitor in the given country: their own local edge in front of the worker (see edge.mjs), their own
 * copy of the demo site whose script tag points at that edge (another origin than the worker's), and a fresh
 * browser context (so a fresh per-tab session). `close()` tears all three down.
 */
export async function startVisitor(browser, { workerOrigin, country, userAgent = DESKTOP_CHROME_UA }) {
  const edge = await startEdge({ workerOrigin, country });
  const site = await startSiteServer({ workerOrigin: edge.origin });
  const context = await browser.newContext({ userAgent });
  return {
    context,
    siteOrigin: `http://localhost:${site.port}`,
    trackUrl: `${edge.origin}/track`,
    async close() {
      await context.close();
      site.server.close();
      edge.server.close();
    },
  };
}

/**
 * A visitor's walk through `paths` on the demo site. Each step resolves only once the worker accepted (202)
 * the request carrying that page's page view, so the caller knows exactly what was sent. Returns the
 * session id read back from the page and the site origin the pages were served from.
 */
export async function visit(browser, { workerOrigin, country, paths, userAgent }) {
  const visitor = await startVisitor(browser, { workerOrigin, country, userAgent });
  try {
    const page = await visitor.context.newPage();
    for (const path of paths) {
      const url = `${visitor.siteOrigin}${path}`;
      const tracked = page.waitForResponse((r) => r.url() === visitor.trackUrl && carriesPageview(r.request(), url),
        { timeout: 15_000 });
      await page.goto(url);
      const response = await tracked;
      if (response.status() !== 202) {
        throw new Error(`worker answered ${response.status()} for ${url}: ${await response.text()}`);
      }
    }
    const sid = await page.evaluate(() => sessionStorage.getItem('pathlight_sid'));
    return { sid, siteOrigin: visitor.siteOrigin, pageviews: paths.length };
  } finally {
    await visitor.close();
  }
}

function carriesPageview(request, url) {
  try {
    return request.method() === 'POST' && JSON.parse(request.postData() ?? '{}').events
      .some((e) => e.kind === 'pageview' && e.url === url);
  } catch {
    return false;
  }
}

/** Runs a ClickHouse query over HTTP and returns the parsed JSON rows. */
export async function clickhouseRows(clickhouseUrl, sql) {
  // A connection per request: ClickHouse closes idle keep-alive connections after 3 s, and a caller that
  // blocked its event loop longer would reuse a closed socket and fail with "fetch failed".
  const response = await fetch(`${clickhouseUrl}/?default_format=JSON`,
    { method: 'POST', body: sql, headers: { connection: 'close' } });
  const text = await response.text();
  if (!response.ok) throw new Error(`ClickHouse answered ${response.status}: ${text}`);
  return JSON.parse(text).data;
}

/** Polls until `check(rows)` is true or the deadline passes; returns the last rows either way. */
export async function pollRows(clickhouseUrl, sql, check, { deadlineMs = 60_000, intervalMs = 250 } = {}) {
  const until = Date.now() + deadlineMs;
  let rows = [];
  while (Date.now() < until) {
    rows = await clickhouseRows(clickhouseUrl, sql);
    if (check(rows)) return rows;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return rows;
}

export const sqlString = (s) => `'${String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The secrets a recorded visit types and reads; none of them may ever reach storage. */
export const RECORDED_SECRETS = { typed: 'secret.person@example.com', shown: 'MEMBERCODE-7731' };

/**
 * A visitor on the recorded demo page (signup.html, `data-record`): types a secret e-mail address into the
 * form, submits it, follows a link to another page view of the same recorded page, types it again, then
 * leaves, which sends the recorder's final chunk with a keepalive request the browser finishes on its own.
 * Resolves with the session id, `finalChunks` and `close()`, which the caller calls once it has seen what it
 * needs in storage (closing earlier would take down this visitor's edge under the final chunk). Every chunk
 * the browser saw answered was accepted (202), or this throws.
 *
 * Every page the tab leaves with something recorded sends one chunk marked final, so the first final chunk
 * in storage is not the end of the recording: `finalChunks` is how many the visit sent (one per page left,
 * each page waited for until its recorder runs), the number `recordingComplete` waits for.
 */
export async function recordedVisit(browser, { workerOrigin, country }) {
  const visitor = await startVisitor(browser, { workerOrigin, country });
  const edgeOrigin = new URL(visitor.trackUrl).origin;
  const recordUrl = `${edgeOrigin}/record`;
  const answers = [];
  visitor.context.on('response', (response) => {
    if (response.url().startsWith(`${recordUrl}?`)) answers.push(response.status());
  });
  // The recorder module the snippet imports while the page loads; importing it again resolves once that
  // one evaluation has run, i.e. once this page records (its Meta and full snapshot are taken at start).
  const recording = (page) =>
    page.evaluate((url) => import(url).then(() => true), `${edgeOrigin}/record.js`);
  let pagesLeft = 0;
  try {
    const page = await visitor.context.newPage();
    await page.goto(`${visitor.siteOrigin}/signup.html`);
    await page.waitForFunction(() => sessionStorage.getItem('pathlight_sid'), null, { timeout: 15_000 });
    // The first chunk (with the full snapshot) goes out within the recorder's batch time.
    await waitUntil(() => answers.length >= 1, 'the first recording chunk', 30_000);
    await page.fill('#email', RECORDED_SECRETS.typed);
    await page.click('#join');
    // The link loads the same page again: its URL does not change, so wait for the new document's load
    // event (the first page has long fired its own) rather than for a URL.
    await Promise.all([page.waitForEvent('load', { timeout: 30_000 }), page.click('#signup-link')]);
    pagesLeft += 1;
    await recording(page);
    await page.fill('#email', RECORDED_SECRETS.typed);
    const sid = await page.evaluate(() => sessionStorage.getItem('pathlight_sid'));
    await page.close({ runBeforeUnload: true });
    pagesLeft += 1;
    if (answers.some((status) => status !== 202)) throw new Error(`the worker refused a chunk: ${answers}`);
    return { sid, siteOrigin: visitor.siteOrigin, finalChunks: pagesLeft, close: () => visitor.close() };
  } catch (error) {
    await visitor.close();
    throw error;
  }
}

/**
 * Whether the stored chunks of one session (rows with tab_id, seq, part, parts, is_final) are the whole
 * recording of a visit that sent `finalChunks` final chunks: that many distinct final chunks, each tab's
 * sequence numbers without a gap from 0, and every part of every chunk. Only then can nothing more arrive.
 */
export function recordingComplete(rows, finalChunks) {
  const tabs = new Map(); // tab -> seq -> { parts, seen: Set of part numbers }
  let finals = 0;
  for (const row of rows) {
    if (!tabs.has(row.tab_id)) tabs.set(row.tab_id, new Map());
    const seqs = tabs.get(row.tab_id);
    const seq = Number(row.seq);
    if (!seqs.has(seq)) {
      seqs.set(seq, { parts: Number(row.parts), seen: new Set() });
      if (Number(row.is_final) === 1) finals += 1;
    }
    seqs.get(seq).seen.add(Number(row.part));
  }
  if (finals < finalChunks) return false;
  for (const seqs of tabs.values()) {
    for (let seq = 0; seq < seqs.size; seq++) {
      const chunk = seqs.get(seq);
      if (!chunk || chunk.seen.size !== chunk.parts) return false;
    }
  }
  return true;
}

async function waitUntil(check, what, deadlineMs) {
  const until = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
