// Serves the demo site on its own origin, with the script tag pointing at the worker's origin.
// Usable as a module (tests start it on port 0) or from the command line (the demo).
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localUrl, ports } from '../scripts/ports.mjs';

const SITE_DIR = fileURLToPath(new URL('./site/', import.meta.url));
const TYPES = { '.html': 'text/html; charset=utf-8', '.css': 'text/css', '.js': 'application/javascript' };

export function startSiteServer({ port = 0, host = '127.0.0.1', workerOrigin }) {
  const server = createServer(async (req, res) => {
    let path = new URL(req.url, 'http://x').pathname;
    // The single-page app owns every path under /app/.
    if (path.startsWith('/app/')) path = '/app.html';
    const file = normalize(join(SITE_DIR, path.endsWith('/') ? `${path}index.html` : path));
    if (!file.startsWith(SITE_DIR)) return send(res, 403, 'forbidden');
    try {
      let body = await readFile(file, 'utf8');
      if (file.endsWith('.html')) body = body.replaceAll('{{WORKER_ORIGIN}}', workerOrigin);
      send(res, 200, body, TYPES[extname(file)] ?? 'application/octet-stream');
    } catch {
      send(res, 404, 'not found');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve({ server, port: server.address().port }));
  });
}

function send(res, status, body, type = 'text/plain') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const { port } = await startSiteServer({
    port: Number(arg('port', ports.DEMO_SITE_PORT)),
    workerOrigin: arg('worker-origin', localUrl('WORKER_PORT')),
  });
  console.log(`demo site listening on http://localhost:${port}`);
  process.on('SIGTERM', () => process.exit(0));
}
