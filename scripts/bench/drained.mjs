// Waits until ClickHouse has consumed everything produced so far: writes one marker record to each partition
// of page_visits through the gateway and polls until all of them are rows (each partition is consumed in
// order, so a partition's marker comes after its backlog). Prints drained_s=...; fails after DEADLINE_S.
//   node scripts/bench/drained.mjs GATEWAY_URL CLICKHOUSE_URL DATABASE [PARTITIONS]
import { storedEvent } from './bodies.mjs';

const [gateway, clickhouse, database, partitions = '4'] = process.argv.slice(2);
const deadlineMs = Number(process.env.DEADLINE_S ?? 300) * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const start = performance.now();
// 16 alphanumerics of this run's own: the one value written into the query below.
const sid = `D${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`.slice(0, 16).padEnd(16, '0');
const records = Array.from({ length: Number(partitions) }, (_, partition) => ({
  key: sid, partition, value: { ...storedEvent(partition), event_id: `${sid}-${partition}`, session_id: sid, site: 'bench-drain' },
}));
const res = await fetch(`${gateway}/topics/page_visits`, { method: 'POST', body: JSON.stringify({ records }),
  headers: { 'content-type': 'application/vnd.kafka.json.v2+json' } });
if (!res.ok) throw new Error(`marker produce answered ${res.status}: ${await res.text()}`);
const query = `SELECT count() FROM ${database}.page_visits WHERE session_id = '${sid}'`;
for (;;) {
  const q = await fetch(`${clickhouse}/`, { method: 'POST', body: query });
  if (!q.ok) throw new Error(`ClickHouse answered ${q.status}: ${await q.text()}`);
  if (Number((await q.text()).trim()) >= records.length) break;
  if (performance.now() - start > deadlineMs) throw new Error(`markers not all consumed after ${deadlineMs / 1000} s`);
  await sleep(200);
}
console.log(`drained_s=${((performance.now() - start) / 1000).toFixed(1)}`);
