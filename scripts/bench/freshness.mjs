// Event-to-row freshness: produces one uniquely marked record through the gateway, then polls ClickHouse
// until the row is queryable, N times in a row. Prints p50 and max in milliseconds.
import { storedEvent } from './bodies.mjs';

const [gateway, clickhouse, database, topic, rounds = '10'] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint() / 1000000n);
const times = [];
for (let i = 0; i < Number(rounds); i++) {
  const id = `fresh-${Date.now()}-${i}`;
  const t = Math.floor(Date.now() / 1000);
  const value = { ...storedEvent(i, t), event_id: id, site: 'bench-freshness', session_id: id };
  const start = now();
  const res = await fetch(`${gateway}/topics/${topic}`, {
    method: 'POST', headers: { 'content-type': 'application/vnd.kafka.json.v2+json' },
    body: JSON.stringify({ records: [{ key: id, value }] }),
  });
  if (!res.ok) throw new Error(`produce answered ${res.status}: ${await res.text()}`);
  for (;;) {
    const q = await fetch(`${clickhouse}/?query=${encodeURIComponent(`SELECT count() FROM ${database}.page_visits WHERE event_id = '${id}'`)}`);
    if ((await q.text()).trim() === '1') break;
    if (now() - start > 60_000) throw new Error(`row ${id} not visible after 60 s`);
    await sleep(20);
  }
  times.push(now() - start);
}
times.sort((a, b) => a - b);
console.log(`freshness_p50_ms=${times[Math.floor(times.length / 2)]} freshness_max_ms=${times.at(-1)} rounds=${times.length}`);
