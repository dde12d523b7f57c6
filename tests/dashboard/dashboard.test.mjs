// Browser test of the reports dashboard (crates/reporting-api/dashboard).
//
//   REPORTING_URL, INGEST_URL, WEBHOOK_KEY, API_KEY [, ARTIFACT_DIR, CHROMIUM]
//   node --test tests/dashboard/
//
// scripts/dashboard-test.sh starts ingest, worker and reporting-api on a
// database and stream of their own and runs this with those variables. The
// test posts a known set of clicks through ingest, waits for the worker to
// store them, then drives the page in headless Chromium and checks every
// number it shows against the API's own answer for the same query. Without
// the variables it is skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const env = process.env;
const REQUIRED = ['REPORTING_URL', 'INGEST_URL', 'WEBHOOK_KEY', 'API_KEY'];
const missing = REQUIRED.filter((name) => !env[name]);
const REPORTING_URL = (env.REPORTING_URL || '').replace(/\/+$/, '');
const INGEST_URL = (env.INGEST_URL || '').replace(/\/+$/, '');
const API_KEY = env.API_KEY || '';
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ARTIFACT_DIR = path.resolve(env.ARTIFACT_DIR || path.join(REPO_ROOT, 'target/artifacts/dashboard'));
const WAIT_MS = 10_000; // any one wait in the page
const STORE_TIMEOUT_MS = 30_000; // the worker storing the seeded clicks
const DESKTOP = { width: 1366, height: 900 };
const PHONE = { width: 390, height: 844 };

// ------------------------------------------------------------ test data

const OFFER_WEIGHTS = [9, 7, 6, 5, 5, 4, 4, 3, 3, 3, 3, 2, 2, 2]; // 14 offers, 58 clicks
const SOURCES = ['google', 'facebook', 'tiktok', 'bing', 'taboola', 'outbrain', 'reddit',
  'x_ads', 'snap', 'pinterest', 'linkedin', 'yahoo', 'native_net']; // 13 sources
const DUPLICATES = 4; // clicks sent twice with the same click_id

const pad = (n) => String(n).padStart(2, '0');

// A past month (1 to 10 years back) chosen at random, so a rerun against the
// same database does not count an earlier run's clicks.
function pickMonth() {
  const now = new Date();
  const back = 12 + crypto.randomInt(108);
  const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - back, 1));
  return `${month.getUTCFullYear()}-${pad(month.getUTCMonth() + 1)}`;
}

function makeClicks(month, run) {
  const dates = [`${month}-10`, `${month}-11`, `${month}-14`];
  const clicks = [];
  let i = 0;
  OFFER_WEIGHTS.forEach((weight, offer) => {
    for (let n = 0; n < weight; n += 1, i += 1) {
      clicks.push({
        click_id: `dash-${run}-${i}`,
        offer_id: 4100 + offer * 7,
        // pairs of an offer's clicks share a date and source: rows of 1 and 2 clicks
        source: SOURCES[(offer + Math.floor(n / 2)) % SOURCES.length],
        timestamp: `${dates[Math.floor(n / 2) % 3]}T${pad((i * 5) % 24)}:${pad((i * 7) % 60)}:00Z`,
        signature: `sender-signature-${i}`,
      });
    }
  });
  return { dates, clicks, resent: clicks.slice(0, DUPLICATES) };
}

// ------------------------------------------------------------ HTTP helpers

async function postClick(click) {
  const body = JSON.stringify(click);
  const signature = crypto.createHmac('sha256', env.WEBHOOK_KEY).update(body).digest('hex');
  const response = await fetch(`${INGEST_URL}/api/webhook/clicks`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Signature': `sha256=${signature}` },
    body,
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(response.status, 202, `ingest refused ${click.click_id}: ${await response.text()}`);
}

async function postAll(clicks, parallel = 8) {
  const queue = [...clicks];
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (queue.length) await postClick(queue.shift());
  }));
}

// GET a report with the bearer key, as an API client would.
async function api(pathAndQuery) {
  const response = await fetch(`${REPORTING_URL}${pathAndQuery}`, {
    headers: { Authorization: `Bearer ${API_KEY}`, Accept: 'application/json' },
    signal: AbortSignal.timeout(5_000),
  });
  const body = await response.json();
  assert.equal(response.status, 200, `${pathAndQuery}: ${JSON.stringify(body)}`);
  return body;
}

const query = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '' && v != null)).toString();

async function waitForTotal(range, expected) {
  const deadline = Date.now() + STORE_TIMEOUT_MS;
  let total = -1;
  while (Date.now() < deadline) {
    ({ summary: { total_clicks: total } } = await api(`/api/reports/summary?${query(range)}`));
    if (total === expected) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail(`the worker stored ${total} of ${expected} clicks within ${STORE_TIMEOUT_MS / 1000} s`);
}

// ------------------------------------------------------------ page helpers

const digits = (text) => Number(String(text).replace(/[^\d]/g, ''));

async function waitState(page, state) {
  await page.waitForFunction((s) => document.body.dataset.state === s, state, { timeout: WAIT_MS });
}

async function totals(page) {
  return {
    total_clicks: digits(await page.textContent('#total-clicks')),
    unique_offers: digits(await page.textContent('#unique-offers')),
    unique_sources: digits(await page.textContent('#unique-sources')),
  };
}

const apiTotals = ({ summary }) => ({
  total_clicks: summary.total_clicks,
  unique_offers: summary.unique_offers,
  unique_sources: summary.unique_sources,
});

async function topRows(page, id) {
  return page.$$eval(`#${id} tbody tr[data-row]`, (rows) => rows.map((row) => [row.cells[0].textContent, row.cells[1].textContent]));
}

// The aggregated table as [column names, rows of cell texts].
async function tableRows(page) {
  return page.evaluate(() => {
    const table = document.getElementById('rows');
    const columns = [...table.tHead.rows[0].cells].map((th) => th.dataset.column);
    const rows = [...table.tBodies[0].rows].filter((row) => !row.classList.contains('empty'))
      .map((row) => [...row.cells].map((td) => td.textContent));
    return [columns, rows];
  });
}

// The query behind the table, read from the "Download CSV" link.
async function csvQuery(page) {
  const href = await page.getAttribute('#csv-link', 'href');
  const url = new URL(href, REPORTING_URL);
  assert.equal(url.pathname, '/api/reports/aggregated');
  assert.equal(url.searchParams.get('format'), 'csv');
  return url.searchParams;
}

// The table equals the API's JSON answer for the CSV link's query.
async function assertTableMatchesApi(page, expect = {}) {
  const params = await csvQuery(page);
  for (const [name, value] of Object.entries(expect)) assert.equal(params.get(name), value, `the link's ${name}`);
  params.delete('format');
  const answer = await api(`/api/reports/aggregated?${params}`);
  const [columns, rows] = await tableRows(page);
  assert.deepEqual(columns, [...params.get('group_by').split(','), 'clicks_count']);
  assert.deepEqual(
    rows.map((row) => row.map((text, i) => (columns[i] === 'clicks_count' ? digits(text) : text))),
    answer.data.map((item) => columns.map((c) => (c === 'clicks_count' ? item[c] : String(item[c])))),
  );
  const { current_page: current, last_page: last } = answer.pagination;
  assert.equal(await page.textContent('#page-info'), `Page ${current} of ${Math.max(last, 1)}`);
  return answer;
}

async function assertSummaryMatchesApi(page, params) {
  const answer = await api(`/api/reports/summary?${query(params)}`);
  assert.deepEqual(await totals(page), apiTotals(answer));
  assert.deepEqual(await topRows(page, 'top-offers'), answer.top_offers.map((o) => [String(o.offer_id), String(o.clicks_count)]));
  assert.deepEqual(await topRows(page, 'top-sources'), answer.top_sources.map((s) => [s.source, String(s.clicks_count)]));
  return answer;
}

// Applies a text filter the way a person does: type, then Enter.
async function setField(page, selector, value) {
  await page.fill(selector, value);
  await page.press(selector, 'Enter');
  await waitState(page, 'ready');
}

// ------------------------------------------------------------ the test

test('reports dashboard', { skip: missing.length ? `set ${missing.join(', ')}` : false, timeout: 60_000 }, async (t) => {
  await fs.mkdir(ARTIFACT_DIR, { recursive: true });
  await fs.rm(path.join(ARTIFACT_DIR, 'failure.png'), { force: true });

  // Seed: a month with no clicks yet, then the clicks and a few resent ones.
  let seed;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    seed = makeClicks(pickMonth(), crypto.randomBytes(4).toString('hex'));
    const empty = await api(`/api/reports/summary?${query({ start_date: seed.dates[0], end_date: seed.dates[2] })}`);
    if (empty.summary.total_clicks === 0) break;
  }
  const range = { start_date: seed.dates[0], end_date: seed.dates[2] };
  await postAll([...seed.clicks, ...seed.resent]);
  await waitForTotal(range, seed.clicks.length);

  const browser = await chromium.launch({ executablePath: env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US', timezoneId: 'UTC' });
  context.setDefaultTimeout(WAIT_MS);

  // Everything the page does that must not happen is collected here.
  const violations = [];
  const consoleErrors = [];
  const failedResponses = [];
  const requestedUrls = [];
  await context.exposeBinding('__reportViolation', (_source, violation) => violations.push(violation));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__reportViolation({ directive: event.violatedDirective, blocked: event.blockedURI, sample: event.sample });
    });
  });
  context.on('request', (request) => requestedUrls.push(request.url()));
  context.on('response', (response) => {
    if (response.status() >= 400) {
      const url = new URL(response.url());
      failedResponses.push({ method: response.request().method(), path: url.pathname, query: url.search, status: response.status() });
    }
  });
  const page = await context.newPage();
  page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
  page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));

  let failed = false;
  const step = (name, fn) => t.test(name, { skip: failed && 'an earlier step failed', timeout: 30_000 }, async () => {
    try {
      await fn();
    } catch (error) {
      failed = true;
      await page.screenshot({ path: path.join(ARTIFACT_DIR, 'failure.png'), fullPage: true }).catch(() => {});
      throw error;
    }
  });

  await step('a wrong key is refused and leaves no session', async () => {
    await page.goto(`${REPORTING_URL}/dashboard`);
    await waitState(page, 'login');
    assert.ok(await page.isVisible('#login-form'));
    await page.fill('#key', `not-the-key-${crypto.randomBytes(6).toString('hex')}`);
    await page.click('#login-submit');
    await page.waitForSelector('#login-error:not([hidden])');
    assert.match(await page.textContent('#login-error'), /That reporting key is not valid|Invalid reporting key/);
    assert.equal(await page.inputValue('#key'), '');
    assert.deepEqual(await context.cookies(), []);
    assert.equal(await page.isVisible('#dashboard-view'), false);
  });

  await step('the right key opens the dashboard and is kept nowhere', async () => {
    await page.fill('#key', API_KEY);
    await page.press('#key', 'Enter');
    await waitState(page, 'ready');
    assert.equal(await page.inputValue('#key'), '');
    assert.ok(await page.isVisible('#dashboard-view'));
    assert.ok(await page.isVisible('#logout'));
    const cookies = await context.cookies();
    assert.ok(cookies.length > 0, 'the server set a session cookie');
    for (const cookie of cookies) {
      assert.equal(cookie.httpOnly, true, `${cookie.name} is HttpOnly`);
      assert.equal(cookie.sameSite, 'Strict', `${cookie.name} is SameSite=Strict`);
      assert.ok(!cookie.value.includes(API_KEY), `${cookie.name} does not hold the key`);
    }
    const stored = await page.evaluate(async () => ({
      cookie: document.cookie,
      local: JSON.stringify({ ...localStorage }),
      session: JSON.stringify({ ...sessionStorage }),
      databases: indexedDB.databases ? (await indexedDB.databases()).length : 0,
    }));
    assert.equal(stored.cookie, '', 'document.cookie exposes nothing');
    assert.equal(stored.local, '{}');
    assert.equal(stored.session, '{}');
    assert.equal(stored.databases, 0);
  });

  await step('the quick picks set the range', async () => {
    const today = new Date().toISOString().slice(0, 10); // the page's zone is UTC
    const daysAgo = (n) => new Date(Date.parse(`${today}T00:00:00Z`) - n * 86_400_000).toISOString().slice(0, 10);
    for (const [label, start, end] of [['Yesterday', daysAgo(1), daysAgo(1)], ['Last 30 days', daysAgo(29), today]]) {
      await page.click(`.quick-picks button:text-is("${label}")`);
      await waitState(page, 'ready');
      assert.deepEqual([await page.inputValue('#start-date'), await page.inputValue('#end-date')], [start, end], label);
      await assertSummaryMatchesApi(page, { start_date: start, end_date: end, timezone: 'UTC' });
    }
  });

  await step('the totals, top lists and chart equal the API for the seeded dates', async () => {
    await page.fill('#start-date', range.start_date);
    await page.fill('#end-date', range.end_date);
    await page.click('#apply');
    await waitState(page, 'ready');
    assert.equal(await page.inputValue('#timezone'), 'UTC');
    const answer = await assertSummaryMatchesApi(page, { ...range, timezone: 'UTC' });
    assert.equal(answer.summary.total_clicks, seed.clicks.length);
    assert.ok(answer.summary.unique_offers >= 12 && answer.summary.unique_sources >= 12);
    assert.equal(await page.locator('#top-offers tbody tr[data-row]').count(), 10);
    assert.ok(await page.locator('#chart canvas').count() > 0, 'the chart has a canvas');
    assert.equal(await page.textContent('#chart-title'), 'Clicks per day');
    await assertTableMatchesApi(page, { start_date: range.start_date, end_date: range.end_date });
    assert.match(page.url(), new RegExp(`#.*start=${range.start_date}.*end=${range.end_date}`));
    await page.screenshot({ path: path.join(ARTIFACT_DIR, 'dashboard.png'), fullPage: true });
  });

  await step('the page fits a phone and the chart follows its width', async () => {
    await page.setViewportSize(PHONE);
    await page.waitForFunction((width) => {
      const plot = document.querySelector('#chart .uplot');
      return plot && plot.getBoundingClientRect().width <= width;
    }, PHONE.width, { timeout: WAIT_MS });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px too wide)`);
    await page.screenshot({ path: path.join(ARTIFACT_DIR, 'dashboard-phone.png'), fullPage: true });
    await page.setViewportSize(DESKTOP);
    await page.waitForFunction((width) => document.querySelector('#chart .uplot').getBoundingClientRect().width > width, PHONE.width);
  });

  await step('a short range is charted per hour', async () => {
    await page.fill('#end-date', seed.dates[1]);
    await page.click('#apply');
    await waitState(page, 'ready');
    assert.equal(await page.textContent('#chart-title'), 'Clicks per hour');
    assert.ok(requestedUrls.some((url) => url.includes('/api/reports/summary?') && url.includes('interval=hour')
      && url.includes(`end_date=${seed.dates[1]}`)));
    await assertSummaryMatchesApi(page, { start_date: range.start_date, end_date: seed.dates[1], timezone: 'UTC' });
    await page.fill('#end-date', range.end_date);
    await page.click('#apply');
    await waitState(page, 'ready');
  });

  await step('the source and offer filters change the totals as the API does', async () => {
    const full = await api(`/api/reports/summary?${query(range)}`);
    const source = full.top_sources[0].source;
    await setField(page, '#source', source);
    await assertSummaryMatchesApi(page, { ...range, source, timezone: 'UTC' });
    assert.ok(digits(await page.textContent('#total-clicks')) < seed.clicks.length);
    await assertTableMatchesApi(page, { source });

    const offer = String(full.top_offers[0].offer_id);
    await page.fill('#source', '');
    await setField(page, '#offer-id', offer);
    await assertSummaryMatchesApi(page, { ...range, offer_id: offer, timezone: 'UTC' });
    assert.equal(digits(await page.textContent('#total-clicks')), OFFER_WEIGHTS[0]);
    await assertTableMatchesApi(page, { offer_id: offer });
    assert.equal((await csvQuery(page)).has('source'), false, 'an empty filter is left out of the query');

    await setField(page, '#offer-id', '');
    assert.deepEqual(await totals(page), apiTotals(full));
  });

  await step('sorting and paging show the rows the API returns', async () => {
    await page.selectOption('#per-page', '25');
    await waitState(page, 'ready');
    const first = await assertTableMatchesApi(page, { limit: '25', page: '1', sort_by: 'clicks_count', sort_direction: 'desc' });
    assert.ok(first.pagination.last_page >= 2, 'the seeded rows fill more than one page of 25');

    await page.click('[data-testid="sort-clicks_count"]');
    await waitState(page, 'ready');
    await assertTableMatchesApi(page, { sort_by: 'clicks_count', sort_direction: 'asc' });

    await page.click('[data-testid="sort-offer_id"]');
    await waitState(page, 'ready');
    await assertTableMatchesApi(page, { sort_by: 'offer_id', sort_direction: 'asc', page: '1' });
    await page.click('[data-testid="sort-offer_id"]');
    await waitState(page, 'ready');
    await assertTableMatchesApi(page, { sort_by: 'offer_id', sort_direction: 'desc' });
    assert.equal(await page.getAttribute('th[data-column="offer_id"]', 'aria-sort'), 'descending');

    await page.click('#next-page');
    await waitState(page, 'ready');
    const second = await assertTableMatchesApi(page, { sort_by: 'offer_id', sort_direction: 'desc', limit: '25', page: '2' });
    assert.equal(await page.isDisabled('#prev-page'), false);
    assert.equal(second.pagination.current_page, 2);

    // The CSV link, fetched as the browser would follow it, is the same page.
    const csv = await page.evaluate(async () => {
      const response = await fetch(document.getElementById('csv-link').href, { credentials: 'same-origin' });
      return { status: response.status, type: response.headers.get('Content-Type'), text: await response.text() };
    });
    assert.equal(csv.status, 200);
    assert.match(csv.type, /text\/csv/);
    const lines = csv.text.split(/\r?\n/).filter((line) => line !== '');
    assert.equal(lines.length, second.data.length + 1, 'a header line and the page of rows');

    await page.click('#prev-page');
    await waitState(page, 'ready');
    await assertTableMatchesApi(page, { page: '1' });
  });

  await step('group_by changes the columns and keeps at least one', async () => {
    await page.uncheck('#group-source');
    await waitState(page, 'ready');
    await assertTableMatchesApi(page, { group_by: 'date,offer_id' });
    await page.uncheck('#group-date');
    await waitState(page, 'ready');
    // offer_id is the sort column and the last group: it cannot be unchecked.
    await assertTableMatchesApi(page, { group_by: 'offer_id' });
    assert.equal(await page.isDisabled('#group-offer_id'), true);
    await page.check('#group-date');
    await waitState(page, 'ready');
    await page.check('#group-source');
    await waitState(page, 'ready');
    await assertTableMatchesApi(page, { group_by: 'date,offer_id,source' });
  });

  await step('a query the API refuses shows the error banner with its details', async () => {
    await page.fill('#timezone', 'Mars/Olympus_Mons');
    await page.press('#timezone', 'Enter');
    await waitState(page, 'error');
    assert.ok(await page.isVisible('#error-banner'));
    const banner = await page.textContent('#error-banner');
    assert.match(banner, /Validation failed/);
    assert.match(banner, /timezone/);
    await setField(page, '#timezone', 'UTC');
    assert.equal(await page.isVisible('#error-banner'), false);
  });

  await step('a reload keeps the session and the filters in the URL hash', async () => {
    await page.reload();
    await waitState(page, 'ready');
    assert.equal(await page.isVisible('#login-form'), false);
    assert.equal(await page.inputValue('#start-date'), range.start_date);
    assert.equal(await page.inputValue('#end-date'), range.end_date);
    await assertSummaryMatchesApi(page, { ...range, timezone: 'UTC' });
    await assertTableMatchesApi(page, { start_date: range.start_date, end_date: range.end_date, limit: '25' });
  });

  await step('an ended session asks for the key again', async () => {
    await context.clearCookies(); // as if the session had expired
    await page.click('#next-page');
    await waitState(page, 'login');
    assert.equal(await page.textContent('#login-error'), 'Your session has ended; enter the key again.');
    assert.equal(await page.isVisible('#dashboard-view'), false);
    await page.fill('#key', API_KEY);
    await page.press('#key', 'Enter');
    await waitState(page, 'ready');
    assert.equal(await page.inputValue('#key'), '');
    await assertTableMatchesApi(page, { page: '2' });
  });

  await step('logout ends the session, also after a reload', async () => {
    await page.click('#logout');
    await waitState(page, 'login');
    assert.ok(await page.isVisible('#login-form'));
    assert.equal(await page.isVisible('#dashboard-view'), false);
    assert.equal(await page.textContent('#total-clicks'), '–', 'no report is left on the page');
    await page.reload();
    await waitState(page, 'login');
    assert.ok(await page.isVisible('#login-form'));
    const status = await page.evaluate(async (url) => (await fetch(url, { credentials: 'same-origin' })).status,
      `/api/reports/summary?${query(range)}`);
    assert.equal(status, 401, 'the old cookie no longer opens the reports');
  });

  await step('no CSP violation, console error, unexpected failure or key in a URL', async () => {
    // A refused fetch is logged by Chromium as "Failed to load resource";
    // the refusals themselves are checked one by one (unexpected) instead.
    const refusal = /^Failed to load resource: the server responded with a status of 40[01]/;
    const unexpected = failedResponses.filter(({ method, path: p, query: q, status }) => !(
      (p === '/dashboard/session' && status === 401 && ['GET', 'POST'].includes(method))
      || (p.startsWith('/api/reports/') && status === 400 && q.includes('Mars'))
      // signed out: the reports the page fetches alongside its session check, and the check after logout
      || (p.startsWith('/api/reports/') && status === 401 && method === 'GET')
    ));
    const keyed = [API_KEY, encodeURIComponent(API_KEY)];
    const problems = {
      violations,
      consoleErrors: consoleErrors.filter((text) => !refusal.test(text)),
      unexpected,
      urlsWithKey: [...requestedUrls, page.url()].filter((url) => keyed.some((key) => url.includes(key))),
    };
    assert.deepEqual(problems, { violations: [], consoleErrors: [], unexpected: [], urlsWithKey: [] });
    assert.ok(failedResponses.some((r) => r.method === 'POST' && r.status === 401), 'the wrong key was refused by the server');
  });
});
