// Local stand-in for Cloudflare's geolocation: turns a country code (or a JSON object of cf fields) into a
// full `request.cf` object from scripts/dev-cf.json. `wrangler dev` (scripts/worker-dev.sh) takes a request's
// cf from miniflare's `MF-CF-Blob` header, so the demo's local edge (demo/edge.mjs) and the worker tests set
// that header per request, and the worker itself only ever reads `request.cf`.
import { readFileSync } from 'node:fs';

export const CF_BLOB_HEADER = 'mf-cf-blob';
const DEFAULT_TABLE = new URL('./dev-cf.json', import.meta.url);

/** request.cf for a country code like "DE", or for a JSON object of fields over the default; null removes one. */
export function devCf(spec, table = JSON.parse(readFileSync(DEFAULT_TABLE, 'utf8'))) {
  const base = { ...table.default };
  if (!spec) return base;
  let overlay;
  if (spec.trim().startsWith('{')) {
    try {
      overlay = JSON.parse(spec);
    } catch {
      overlay = {};
      console.error(`warning: geo ${spec} is not valid JSON; using the default cf`);
    }
  } else {
    const code = spec.trim().toUpperCase();
    overlay = table.countries[code] ?? { country: code };
  }
  const cf = { ...base, ...overlay };
  for (const [key, value] of Object.entries(cf)) if (value === null) delete cf[key];
  return cf;
}

/** JSON with every non-ASCII character escaped: HTTP header values are bytes, and "São Paulo" must survive. */
export const asciiJson = (value) => JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
