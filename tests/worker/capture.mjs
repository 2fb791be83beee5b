// A stand-in for the Redpanda HTTP Proxy that records every produce request and answers as Redpanda does:
// HTTP 200 with one offsets entry per partition the records went to (their explicit partition, else 0),
// and, for a partition holding a record keyed "fail..." or a key in `failing`, that entry's error_code.
import { once } from "node:events";
import { createServer } from "node:http";

export async function startCapture() {
  const requests = [];
  const failing = new Set();
  let offset = 0;
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      res.writeHead(400, { "content-type": "application/json" }).end('{"error_code":40002,"message":"bad JSON"}');
      return;
    }
    requests.push({ path: req.url, headers: req.headers, body });
    const records = body.records ?? [];
    const partitions = [...new Set(records.map((r) => r.partition ?? 0))].sort((a, b) => a - b);
    const fails = (r) => String(r.key).startsWith("fail") || failing.has(r.key);
    const offsets = partitions.map((partition) => {
      const here = records.filter((r) => (r.partition ?? 0) === partition);
      if (here.some(fails)) return { partition, error_code: 3, offset: -1 };
      const base = offset;
      offset += here.length;
      return { partition, offset: base };
    });
    res.writeHead(200, { "content-type": "application/vnd.kafka.v2+json" }).end(JSON.stringify({ offsets }));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    server,
    url: `http://127.0.0.1:${server.address().port}`,
    /** Keys whose partition answers with an error until removed. */
    failing,
    requestsFor: (sid) => requests.filter((r) => r.body.records?.some((record) => record.key === sid)),
  };
}
