// End to end: real Chromium loads demo pages that carry the script tag, served from another origin than
// the worker; the page views travel worker -> gateway -> broker -> ClickHouse Kafka engine -> MergeTree.
// Needs the local stack (scripts/stack.sh up).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, visit, pollRows, sqlString, stack } from '../../demo/browser.mjs';

const { workerOrigin, clickhouseUrl, database } = stack;

test('page views from two countries arrive in ClickHouse exactly once, with url, country and browser', async (t) => {
  const browser = await launchBrowser();
  t.after(() => browser.close());

  const visitors = [
    { country: 'DE', paths: ['/', '/menu.html', '/pricing.html'] },
    { country: 'JP', paths: ['/about.html', '/'] },
  ];
  const expected = [];
  const sids = [];
  for (const visitor of visitors) {
    const { sid, siteOrigin } = await visit(browser, { workerOrigin, ...visitor });
    assert.match(sid ?? '', /^[A-Za-z0-9]{16}$/, 'the snippet keeps a per-tab session id');
    sids.push(sid);
    for (const path of visitor.paths) expected.push([`${siteOrigin}${path}`, visitor.country, 'Chrome'].join(' '));
  }

  const sql = `SELECT url, country, browser FROM ${database}.page_visits FINAL
    WHERE kind = 'pageview' AND session_id IN (${sids.map(sqlString).join(',')})`;
  const rows = await pollRows(clickhouseUrl, sql, (r) => r.length >= expected.length, { deadlineMs: 90_000 });
  const got = rows.map((r) => [r.url, r.country, r.browser].join(' ')).sort();
  assert.deepEqual(got, expected.sort());
});
