// Writes the request bodies the benchmarks send: a produce request of N StoredEvent records (the shape the
// worker forwards) and /track bodies of one and of ten page views (the shape the snippet sends).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const columns = JSON.parse(readFileSync(new URL('../../event-schema/contracts/page_visits.columns.json', import.meta.url)));

/** A complete StoredEvent, as the worker forwards it (the gateway refuses anything less on page_visits): every
 * column of the generated contract, empty or zero, then the values the benchmarks care about. */
export const storedEvent = (i, now = Math.floor(Date.now() / 1000)) => ({
  ...Object.fromEntries(columns.map(([name, type]) => [name, type === 'String' ? '' : 0])),
  event_id: `0190a1b2-c3d4-7e5f-8a9b-${String(i).padStart(12, '0')}`, schema_version: 1, kind: 'pageview',
  site: 'bench', session_id: `benchsession${i % 100}`, visitor_id: '0123456789abcdef0123456789abcdef',
  timestamp: now, timestamp_ms: now * 1000, url: `https://bench.example/page/${i}`, hostname: 'bench.example',
  pathname: `/page/${i}`, title: 'Bench', screen_width: 1280, language: 'en-US', props: '{}',
  browser: 'Chrome', browser_version: '131.0.0.0', os: 'Linux', os_version: 'UNKNOWN', device: 'pc',
  vendor: 'Google', ip: '203.0.113.0', country: 'DE', continent: 'EU',
});

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dir, records = '10'] = process.argv.slice(2);
  const events = Array.from({ length: Number(records) }, (_, i) => storedEvent(i));
  writeFileSync(`${dir}/produce.json`, JSON.stringify({ records: events.map((e) => ({ key: e.session_id, value: e })) }));
  // track.json: one page view; track-10.json: a batch of ten, as the snippet sends after a busy page.
  for (const [file, count] of [['track.json', 1], ['track-10.json', 10]]) {
    writeFileSync(`${dir}/${file}`, JSON.stringify({
      site: 'demo', sid: 'BenchSession0001',
      // No per-event `id`: wrk repeats this one body, and each repeat must be a distinct stored event (the worker
      // mints a fresh id for events without one, as for snippets cached before ids existed).
      events: Array.from({ length: count }, (_, i) => (
        { kind: 'pageview', url: `http://localhost/bench/${i}`, referrer: '', title: 'Bench', screen_width: 1280, language: 'en-US' })),
    }));
  }
}
