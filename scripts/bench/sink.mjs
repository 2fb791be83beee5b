// A produce endpoint that answers at once, so the worker's own cost can be measured without the gateway and
// the broker behind it: every `POST /topics/{topic}` gets HTTP 200 with one successful `offsets` entry per
// partition its records name (partition 0 for records without one), as the Redpanda HTTP Proxy answers.
// Counts the records it took; `GET /count` returns that number.
//   node scripts/bench/sink.mjs PORT
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
let records = 0;
let offset = 0;
createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/count') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end(String(records));
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (error) {
      res.writeHead(422, { 'content-type': 'application/json' }).end(JSON.stringify({ error_code: 422, message: `parse error: ${error.message}` }));
      return;
    }
    const list = Array.isArray(body?.records) ? body.records : [];
    records += list.length;
    const partitions = [...new Set(list.map((r) => r.partition ?? 0))].sort((a, b) => a - b);
    const offsets = partitions.map((partition) => ({ partition, offset: offset }));
    offset += list.length;
    res.writeHead(200, { 'content-type': 'application/vnd.kafka.v2+json' }).end(JSON.stringify({ offsets }));
  });
}).listen(port, '127.0.0.1', () => console.log(`sink listening on 127.0.0.1:${port}`));
