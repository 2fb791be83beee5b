// A single-page app through the whole pipeline: pushState navigation, a queued and a live custom event,
// an outbound click and engagement time must arrive in ClickHouse as exactly the expected rows.
// Needs the local stack (scripts/stack.sh up).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, startVisitor, pollRows, sqlString, stack } from '../../demo/browser.mjs';

const { workerOrigin, clickhouseUrl, database } = stack;

test('an SPA visit produces exactly its page views, custom events, outbound click and engagement', async (t) => {
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const visitor = await startVisitor(browser, { workerOrigin, country: 'FR' });
  t.after(() => visitor.close());
  const { context, siteOrigin: site } = visitor;
  // The outbound link leaves for a host this machine cannot reach; answer it locally.
  await context.route('https://partner.example.org/**', (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: '<title>partner</title>' }));
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e));

  await page.goto(`${site}/app/`);
  await page.waitForFunction(() => sessionStorage.getItem('pathlight_sid'));
  const sid = await page.evaluate(() => sessionStorage.getItem('pathlight_sid'));
  await page.click('text=Menu');
  await page.click('text=Menu'); // same URL again: no second page view
  await page.click('#subscribe');
  await page.click('text=Checkout');
  await Promise.all([page.waitForURL('https://partner.example.org/beans'), page.click('#partner')]);

  const expected = [
    ['pageview', `${site}/app/`, '', null],
    ['event', `${site}/app/`, 'app_opened', { source: 'demo' }],
    ['pageview', `${site}/app/menu`, '', null],
    ['event', `${site}/app/menu`, 'subscribe', { plan: 'monthly', price: 12 }],
    ['pageview', `${site}/app/checkout`, '', null],
    ['event', `${site}/app/checkout`, 'outbound_click', { url: 'https://partner.example.org/beans' }],
  ];
  const sql = `SELECT kind, url, event_name, props, country FROM ${database}.page_visits FINAL
    WHERE session_id = ${sqlString(sid)} AND kind IN ('pageview', 'event') ORDER BY timestamp_ms, event_id`;
  const rows = await pollRows(clickhouseUrl, sql, (r) => r.length >= expected.length, { deadlineMs: 90_000 });
  const key = ([kind, url, name, props]) => JSON.stringify([kind, url, name, props]);
  const got = rows.map((r) => key([r.kind, r.url, r.event_name, r.kind === 'event' ? JSON.parse(r.props) : null]));
  assert.deepEqual(got.sort(), expected.map(key).sort());
  assert.ok(rows.every((r) => r.country === 'FR'), 'every row carries the visitor country');

  // Each page view's visible time is reported once: before the next SPA navigation, or at pagehide.
  const engagement = await pollRows(clickhouseUrl,
    `SELECT url, engaged_ms FROM ${database}.page_visits FINAL WHERE session_id = ${sqlString(sid)} AND kind = 'engagement'`,
    (r) => r.length >= 3, { deadlineMs: 60_000 });
  assert.deepEqual(engagement.map((r) => r.url).sort(), [`${site}/app/`, `${site}/app/checkout`, `${site}/app/menu`]);
  assert.ok(engagement.every((r) => Number(r.engaged_ms) > 0), JSON.stringify(engagement));
  assert.deepEqual(pageErrors, [], 'the snippet never throws into the page');
});
