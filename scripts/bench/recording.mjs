// Bytes per recorded minute: one visitor on the demo's recorded page (signup.html, `data-record`) for a fixed
// time, typing into the form and clicking about every two seconds, then leaving; prints what the recorder
// produced (raw JSON), sent (gzip) and what ClickHouse stores, scaled to a minute.
// Needs a running stack (scripts/stack.sh up, or scripts/demo.sh). Run: node scripts/bench/recording.mjs [seconds]
import { launchBrowser, startVisitor, pollRows, sqlString, stack } from '../../demo/browser.mjs';

const seconds = Number(process.argv[2] ?? 60);
const { workerOrigin, clickhouseUrl, database } = stack;

const browser = await launchBrowser();
const visitor = await startVisitor(browser, { workerOrigin, country: 'NL' });
try {
  const page = await visitor.context.newPage();
  await page.goto(`${visitor.siteOrigin}/signup.html`);
  await page.waitForFunction(() => sessionStorage.getItem('pathlight_sid'), null, { timeout: 15_000 });
  const sid = await page.evaluate(() => sessionStorage.getItem('pathlight_sid'));
  const until = Date.now() + seconds * 1000;
  for (let round = 0; Date.now() < until; round++) {
    await page.fill('#email', `visitor${round}@example.com`);
    await page.click('#join');
    await page.mouse.move(100 + (round % 7) * 40, 200 + (round % 5) * 30);
    await page.waitForTimeout(2000); // the visitor's pace, not synchronisation
  }
  await page.close({ runBeforeUnload: true });
  const rows = await pollRows(clickhouseUrl, `SELECT count() AS chunks, sum(raw_bytes) AS raw, sum(compressed_bytes) AS sent,
      sum(length(payload)) AS stored, max(last_ts_ms) - min(first_ts_ms) AS span_ms, sum(event_count) AS events,
      max(is_final) AS final FROM ${database}.recording_chunks FINAL WHERE session_id = ${sqlString(sid)}`,
  (r) => Number(r[0]?.final) === 1, { deadlineMs: 90_000 });
  const { chunks, raw, sent, stored, span_ms: spanMs, events, final } = rows[0];
  const perMinute = (bytes) => Math.round((Number(bytes) * 60_000) / Number(spanMs));
  console.log(`session ${sid}: ${chunks} chunks, ${events} events over ${(Number(spanMs) / 1000).toFixed(1)} s, final ${final === 1 || final === '1'}`);
  console.log('| per recorded minute | raw JSON | sent (gzip) | stored (base64 on the topic and in the table) | ratio raw/sent |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(`| ${seconds} s session | ${perMinute(raw)} B | ${perMinute(sent)} B | ${perMinute(stored)} B | ${(Number(raw) / Number(sent)).toFixed(2)} |`);
} finally {
  await visitor.close();
  await browser.close();
}
