// The demo's visitors: walks headless Chromium through the demo site (its pages carry the script tag) as
// visitors from several countries, and waits until ClickHouse holds every accepted page view.
// scripts/demo.sh then prints the visits-by-country table.
import { launchBrowser, visit, recordedVisit, recordingComplete, pollRows, sqlString, stack } from './browser.mjs';

const { workerOrigin, clickhouseUrl, database } = stack;

// Distinct devices, so the cookieless visitor hash (IP + user agent + site + day) tells the visitors apart
// even though every one of them connects from 127.0.0.1 here.
const UA = {
  windowsChrome: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  macSafari: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  iphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  android: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
  linuxFirefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
};
const VISITORS = [
  { country: 'US', paths: ['/', '/menu.html', '/pricing.html'], userAgent: UA.windowsChrome },
  { country: 'DE', paths: ['/', '/about.html'], userAgent: UA.linuxFirefox },
  { country: 'US', paths: ['/pricing.html'], userAgent: UA.iphone },
  { country: 'JP', paths: ['/', '/menu.html'], userAgent: UA.android },
  { country: 'BR', paths: ['/'], userAgent: UA.macSafari },
];

const browser = await launchBrowser();
try {
  const sids = [];
  let accepted = 0;
  for (const visitor of VISITORS) {
    const result = await visit(browser, { workerOrigin, ...visitor });
    console.log(`visitor from ${visitor.country}: ${visitor.paths.join(' -> ')} (session ${result.sid})`);
    sids.push(result.sid);
    accepted += result.pageviews;
  }
  const sql = `SELECT count() AS n FROM ${database}.page_visits FINAL
    WHERE kind = 'pageview' AND session_id IN (${sids.map(sqlString).join(',')})`;
  const rows = await pollRows(clickhouseUrl, sql, (r) => Number(r[0]?.n) >= accepted);
  const stored = Number(rows[0]?.n ?? 0);
  console.log(`${accepted} page views accepted by the worker, ${stored} stored in ClickHouse`);
  if (stored !== accepted) process.exitCode = 1;

  // One more visitor, on the recorded page (signup.html carries data-record): a masked session recording.
  const recorded = await recordedVisit(browser, { workerOrigin, country: 'FR' });
  try {
    // Each page the visitor left sent a final chunk: the recording is whole once all of them and every
    // chunk before them are stored.
    const chunks = await pollRows(clickhouseUrl, `SELECT tab_id, seq, part, parts, is_final FROM ${database}.recording_chunks FINAL
      WHERE site = 'demo' AND session_id = ${sqlString(recorded.sid)}`, (r) => recordingComplete(r, recorded.finalChunks));
    const complete = recordingComplete(chunks, recorded.finalChunks);
    console.log(`recorded visitor from FR (session ${recorded.sid}): ${chunks.length} chunk parts stored${complete ? `, complete with its ${recorded.finalChunks} final chunks` : ', NOT complete'}`);
    if (!complete) process.exitCode = 1;
    console.log(`REPLAY_SESSION=${recorded.sid}`);
  } finally {
    await recorded.close();
  }
} finally {
  await browser.close();
}
