// Produces N page-visit records through the gateway's Redpanda-compatible API (POST /topics/{topic}) in
// requests of BATCH records, CONCURRENCY requests at a time, and prints how long the broker took to acknowledge
// them all: the produce rate of docs/CAPACITY.md. The gateway answers one offsets entry per partition a request
// wrote to; an entry with an error_code, or a request answered otherwise than 200, fails the run.
// Run: node docs/capacity/produce.mjs GATEWAY_URL TOPIC N [BATCH=500] [CONCURRENCY=4] [FIRST_ID=0]
import { storedEvent } from '../../scripts/bench/bodies.mjs';

const [gateway, topic, total, batch = '500', concurrency = '4', firstId = '0'] = process.argv.slice(2);
if (!gateway || !topic || !total) {
  console.error('usage: node docs/capacity/produce.mjs GATEWAY_URL TOPIC N [BATCH] [CONCURRENCY] [FIRST_ID]');
  process.exit(2);
}
const n = Number(total), size = Number(batch), first = Number(firstId);
const bodies = [];
for (let start = 0; start < n; start += size) {
  const records = [];
  for (let i = start; i < Math.min(n, start + size); i++) {
    const event = storedEvent(first + i);
    records.push({ key: event.session_id, value: event });
  }
  bodies.push(JSON.stringify({ records }));
}
const partitionsWritten = new Set();
let next = 0, acknowledged = 0;
const started = performance.now();
async function lane() {
  while (next < bodies.length) {
    const body = bodies[next++];
    const answer = await fetch(`${gateway}/topics/${topic}`, {
      method: 'POST', body, headers: { 'content-type': 'application/vnd.kafka.json.v2+json' } });
    const text = await answer.text();
    if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${text}`);
    for (const offset of JSON.parse(text).offsets) {
      if (offset.error_code) throw new Error(`partition failed: ${JSON.stringify(offset)}`);
      partitionsWritten.add(offset.partition);
    }
    acknowledged += JSON.parse(body).records.length;
  }
}
await Promise.all(Array.from({ length: Number(concurrency) }, lane));
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ topic, records: acknowledged, seconds: Number(seconds.toFixed(2)),
  records_per_s: Math.round(acknowledged / seconds), partitions_written: [...partitionsWritten].sort() }));
