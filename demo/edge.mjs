// A local stand-in for Cloudflare's edge in front of the worker: every request that comes in here is passed
// to the worker with the `request.cf` of one chosen country (in miniflare's MF-CF-Blob header, which
// `wrangler dev` honours), as if the visitor had connected from there.
// The demo gives each visitor their own edge, so the browser needs no request interception: beacons sent
// while a page unloads travel exactly as they would in production.
import { createServer, request as httpRequest } from 'node:http';
import { asciiJson, CF_BLOB_HEADER, devCf } from '../scripts/dev-geo.mjs';

export function startEdge({ workerOrigin, country, host = '127.0.0.1' }) {
  const worker = new URL(workerOrigin);
  const cf = asciiJson(devCf(country));
  const server = createServer((req, res) => {
    const headers = { ...req.headers, host: worker.host, [CF_BLOB_HEADER]: cf };
    const upstream = httpRequest({ host: worker.hostname, port: worker.port, method: req.method, path: req.url, headers });
    upstream.on('response', (response) => {
      res.writeHead(response.statusCode, response.headers);
      response.pipe(res);
    });
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'worker_unreachable', message: String(error) }));
    });
    req.pipe(upstream);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve({ server, origin: `http://${host}:${server.address().port}` }));
  });
}
