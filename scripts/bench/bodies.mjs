// Writes the request bodies the benchmarks send: a produce request of N StoredEvent records (the shape the
// worker forwards) and a one-page-view /track body (the shape the snippet sends).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A complete StoredEvent, as the worker forwards it; the gateway refuses anything less on page_visits. */
export const storedEvent = (i, now = Math.floor(Date.now() / 1000)) => ({
  event_id: `0190a1b2-c3d4-7e5f-8a9b-${String(i).padStart(12, '0')}`, schema_version: 1, kind: 'pageview',
  site: 'bench', session_id: `benchsession${i % 100}`, visitor_id: '0123456789abcdef0123456789abcdef',
  timestamp: now, timestamp_ms: now * 1000, url: `https://bench.example/page/${i}`, hostname: 'bench.example',
  pathname: `/page/${i}`, referrer: '', referrer_host: '', title: 'Bench', screen_width: 1280, language: 'en-US',
  utm_source: '', utm_medium: '', utm_campaign: '', utm_term: '', utm_content: '', event_name: '', props: '{}',
  engaged_ms: 0, browser: 'Chrome', browser_version: '131.0.0.0', os: 'Linux', os_version: 'UNKNOWN', device: 'pc',
  vendor: 'Google', ip: '203.0.113.0', country: 'DE', region: '', region_code: '', city: '', continent: 'EU',
  timezone: '', asn: 0, colo: '',
});

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dir, records = '10'] = process.argv.slice(2);
  const events = Array.from({ length: Number(records) }, (_, i) => storedEvent(i));
  writeFileSync(`${dir}/produce.json`, JSON.stringify({ records: events.map((e) => ({ key: e.session_id, value: e })) }));
  writeFileSync(`${dir}/track.json`, JSON.stringify({
    site: 'demo', sid: 'BenchSession0001',
    events: [{ kind: 'pageview', url: 'http://localhost/bench', referrer: '', title: 'Bench', screen_width: 1280, language: 'en-US', ts: Date.now() }],
  }));
}
