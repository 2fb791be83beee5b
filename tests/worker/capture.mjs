// A stand-in for the Redpanda HTTP Proxy that records every produce request and answers as Redpanda does:
// HTTP 200 with offsets, or, for records keyed "fail...", a 200 carrying a partition error_code.
import { once } from "node:events";
import { createServer } from "node:http";

export async function startCapture() {
  const requests = [];
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
    const fail = body.records?.some((r) => String(r.key).startsWith("fail"));
    const offsets = fail ? [{ partition: 0, error_code: 3, offset: -1 }] : [{ partition: 0, offset: (offset += body.records.length) }];
    res.writeHead(200, { "content-type": "application/vnd.kafka.v2+json" }).end(JSON.stringify({ offsets }));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    server,
    url: `http://127.0.0.1:${server.address().port}`,
    requestsFor: (sid) => requests.filter((r) => r.body.records?.some((record) => record.key === sid)),
  };
}
