// End to end for session recording: real Chromium records a visitor on the demo's recorded page (a secret
// typed into a form, a secret in the page text, a click, a second page view), the chunks travel worker ->
// queue -> gateway -> broker -> ClickHouse, and the gateway replays them in a real Chromium page.
// Needs the local stack (scripts/stack.sh up), whose gateway has replay credentials (user "demo").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import {
  launchBrowser, recordedVisit, recordingComplete, pollRows, sqlString, stack, RECORDED_SECRETS,
} from '../../demo/browser.mjs';
import { localUrl } from '../../scripts/ports.mjs';

const { workerOrigin, clickhouseUrl, database } = stack;
const root = fileURLToPath(new URL('../..', import.meta.url));
const gatewayOrigin = localUrl('GATEWAY_PORT');
const state = process.env.PATHLIGHT_STATE ?? join(root, '.stack');
const password = readFileSync(join(state, 'gateway', 'replay-password'), 'utf8').trim();
const authorization = `Basic ${Buffer.from(`demo:${password}`).toString('base64')}`;
const MAX_CHUNK_BYTES = 65_536;

test('a recorded visit arrives complete and in order, holds no secret, and replays in the gateway\'s player', async (t) => {
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const visit = await recordedVisit(browser, { workerOrigin, country: 'DE' });
  t.after(() => visit.close());
  const { sid, finalChunks } = visit;
  assert.match(sid ?? '', /^[A-Za-z0-9]{16}$/);
  assert.equal(finalChunks, 2, 'the visit left two pages, each with a final chunk');

  // Storage: wait for the whole recording (each page left sends a final chunk, so the first final chunk
  // stored is not the end), then hold every chunk to the envelope's promises.
  const sql = `SELECT tab_id, seq, part, parts, is_final, full_snapshot, compressed_bytes, encoding, payload, country
    FROM ${database}.recording_chunks FINAL WHERE site = 'demo' AND session_id = ${sqlString(sid)}
    ORDER BY tab_id, seq, part`;
  const rows = await pollRows(clickhouseUrl, sql, (r) => recordingComplete(r, finalChunks), { deadlineMs: 90_000 });
  const stored = rows.map((c) => `${c.seq}.${c.part}/${c.parts}${Number(c.is_final) ? ' final' : ''}`).join(', ');
  assert.ok(recordingComplete(rows, finalChunks), `all ${finalChunks} final chunks and every chunk before them arrived (stored: ${stored})`);
  assert.equal(new Set(rows.filter((c) => Number(c.is_final) === 1).map((c) => c.seq)).size, finalChunks, 'one final chunk per page left');
  assert.equal(new Set(rows.map((c) => c.tab_id)).size, 1, 'one tab');
  const chunks = rows;
  const seqs = [...new Set(chunks.map((c) => Number(c.seq)))];
  assert.deepEqual(seqs, seqs.map((_, i) => i), `sequence numbers without a gap: ${seqs}`);
  assert.equal(Number(chunks.at(-1).is_final), 1, 'the highest chunk is the final one');
  assert.equal(Number(chunks[0].full_snapshot), 1, 'playback can start at the first chunk');
  assert.ok(chunks.every((c) => Number(c.compressed_bytes) <= MAX_CHUNK_BYTES), 'no chunk over 64 KiB');
  assert.ok(chunks.every((c) => c.country === 'DE'), 'enriched with the edge\'s country');

  // Inflate every stored chunk (parts joined) and search all of it, and the page views, for the secrets.
  const events = [];
  for (const seq of seqs) {
    const parts = chunks.filter((c) => Number(c.seq) === seq);
    assert.equal(parts.length, Number(parts[0].parts), `every part of seq ${seq}`);
    const bytes = Buffer.concat(parts.map((c) => Buffer.from(c.payload, 'base64')));
    const json = parts[0].encoding === 'gzip' ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
    for (const secret of Object.values(RECORDED_SECRETS)) assert.ok(!json.includes(secret), `seq ${seq} holds ${secret}`);
    events.push(...JSON.parse(json));
  }
  assert.ok(events.some((e) => e.type === 2), 'a full snapshot was recorded');
  assert.ok(events.some((e) => e.type === 3 && e.data?.source === 5), 'the typing was recorded (masked)');
  assert.ok(JSON.stringify(events).includes('Join the coffee club'), 'text that opts in with data-pl-unmask is kept');
  const pageViews = await pollRows(clickhouseUrl,
    `SELECT * FROM ${database}.page_visits FINAL WHERE session_id = ${sqlString(sid)} AND kind = 'pageview'`,
    (r) => r.length >= 2);
  assert.ok(pageViews.length >= 2, 'the recorded page views were counted too');
  for (const secret of Object.values(RECORDED_SECRETS)) {
    assert.ok(!JSON.stringify(pageViews).includes(secret), `no page view holds ${secret}`);
  }

  // The replay API: authenticated, complete, the events in order.
  const unauthenticated = await fetch(`${gatewayOrigin}/replay/api/sessions/demo/${sid}`);
  assert.equal(unauthenticated.status, 401);
  const detail = await (await fetch(`${gatewayOrigin}/replay/api/sessions/demo/${sid}`, { headers: { authorization } })).json();
  assert.equal(detail.completeness, 'complete', JSON.stringify(detail));
  const replayed = await (await fetch(`${gatewayOrigin}/replay/api/sessions/demo/${sid}/events`, { headers: { authorization } })).json();
  assert.equal(replayed.length, events.length, 'every stored event is replayed');
  assert.deepEqual(replayed.map((e) => e.timestamp), [...replayed.map((e) => e.timestamp)].sort((a, b) => a - b), 'in time order');

  // The player, in a real browser page served by the gateway.
  const context = await browser.newContext({ httpCredentials: { username: 'demo', password } });
  t.after(() => context.close());
  const page = await context.newPage();
  const response = await page.goto(`${gatewayOrigin}/replay/sessions/demo/${sid}`);
  assert.equal(response.status(), 200);
  await page.waitForSelector('#player[data-state="ready"]', { timeout: 30_000 });
  await page.evaluate(() => window.pathlightPlayer.goto(window.pathlightPlayer.getMetaData().totalTime + 1, false));
  // The replayed document is the player's to build; poll for the heading rather than read it once.
  const heading = () => document.querySelector('.replayer-wrapper iframe')?.contentDocument?.querySelector('h1')?.textContent;
  await page.waitForFunction(() => document.querySelector('.replayer-wrapper iframe')?.contentDocument
    ?.querySelector('h1')?.textContent === 'Join the coffee club', null, { timeout: 30_000 }).catch(() => {});
  assert.equal(await page.evaluate(heading), 'Join the coffee club');
  const png = await page.locator('.rr-player').screenshot();
  assert.ok(png.length > 5_000, `a drawn player, not a blank one (${png.length} bytes of PNG)`);
});
