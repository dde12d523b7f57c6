// Measures the dashboard for the benchmark: time to the first full render and
// the bytes a load downloads. Prints one JSON line:
//
//   {"runs":N,"first_render_ms":[...],"median_first_render_ms":x,
//    "page_bytes":n,"asset_bytes":n,"api_bytes":n}
//
//   REPORTING_URL  API_KEY  [START_DATE END_DATE (YYYY-MM-DD)]  [RUNS=5]
//   [CACHE=cold|warm]  [CHROMIUM=/usr/bin/chromium]
//   node tests/dashboard/measure.mjs
//
// It signs in through the login form once, then opens /dashboard RUNS times,
// each in a fresh page of the same browser context (the session cookie is
// kept), with the dates in the URL hash (#start=…&end=…; never the key).
// first_render_ms runs from the navigation's start to body[data-state=ready]
// (summary, chart and table rendered). Bytes are response bodies as sent
// (the server does not compress): page_bytes is everything the load fetched,
// asset_bytes the document and its assets, api_bytes the session check and
// the reports. CACHE=cold (default) disables the HTTP cache so every run
// downloads everything; warm lets the browser revalidate its copies (304s).
import { chromium } from 'playwright-core';

const env = process.env;
for (const name of ['REPORTING_URL', 'API_KEY']) {
  if (!env[name]) {
    console.error(`measure: set ${name}`);
    process.exit(2);
  }
}
const BASE = env.REPORTING_URL.replace(/\/+$/, '');
const RUNS = Math.max(1, Number.parseInt(env.RUNS || '5', 10) || 5);
const COLD = (env.CACHE || 'cold') !== 'warm';
const TIMEOUT_MS = 15_000;

const hash = new URLSearchParams();
if (env.START_DATE) hash.set('start', env.START_DATE);
if (env.END_DATE) hash.set('end', env.END_DATE);
const PAGE_URL = `${BASE}/dashboard${hash.toString() ? `#${hash}` : ''}`;

// Records when body[data-state] first becomes "ready" (or "error"), in ms
// since the navigation started (performance.now()'s origin).
function watchState() {
  const observer = new MutationObserver(() => {
    const state = document.body && document.body.dataset.state;
    if ((state === 'ready' || state === 'error') && window.__renderedAt === undefined) {
      window.__renderedAt = performance.now();
      window.__renderedState = state;
      observer.disconnect();
    }
  });
  observer.observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
}

async function signIn(context) {
  const page = await context.newPage();
  await page.goto(`${BASE}/dashboard`);
  await page.waitForFunction(() => ['login', 'ready', 'error'].includes(document.body.dataset.state));
  if (await page.isVisible('#login-form')) {
    await page.fill('#key', env.API_KEY);
    await page.press('#key', 'Enter');
    await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state)
      || !document.getElementById('login-error').hidden);
    const refused = await page.$eval('#login-error', (element) => (element.hidden ? '' : element.textContent));
    if (refused) throw new Error(`sign-in refused: ${refused}`);
  }
  await page.close();
}

const kind = (url, resourceType) => {
  const path = new URL(url).pathname;
  if (resourceType === 'document' || path.startsWith('/dashboard/assets/')) return 'asset';
  return 'api';
};

async function measureOnce(context) {
  const page = await context.newPage();
  if (COLD) {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable'); // setCacheDisabled acts only with the domain on
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  }
  const pending = new Set();
  const bytes = { asset: 0, api: 0 };
  const settle = async (request) => {
    pending.delete(request);
    const sizes = await request.sizes().catch(() => null);
    if (sizes) bytes[kind(request.url(), request.resourceType())] += sizes.responseBodySize;
  };
  page.on('request', (request) => pending.add(request));
  page.on('requestfinished', settle);
  page.on('requestfailed', (request) => pending.delete(request));

  await page.goto(PAGE_URL);
  await page.waitForFunction(() => window.__renderedAt !== undefined, null, { timeout: TIMEOUT_MS });
  const { at, state } = await page.evaluate(() => ({ at: window.__renderedAt, state: window.__renderedState }));
  if (state !== 'ready') {
    const banner = await page.textContent('#error-banner');
    throw new Error(`the page showed an error: ${banner.trim()}`);
  }
  const deadline = Date.now() + TIMEOUT_MS;
  while (pending.size && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await new Promise((resolve) => setTimeout(resolve, 50)); // the last sizes() answers
  await page.close();
  return { ms: Math.round(at * 10) / 10, bytes };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

const browser = await chromium.launch({ executablePath: env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  context.setDefaultTimeout(TIMEOUT_MS);
  await context.addInitScript(watchState);
  await signIn(context);
  const runs = [];
  for (let run = 0; run < RUNS; run += 1) runs.push(await measureOnce(context));
  const last = runs[runs.length - 1].bytes;
  const times = runs.map((run) => run.ms);
  console.log(JSON.stringify({
    runs: RUNS,
    first_render_ms: times,
    median_first_render_ms: median(times),
    page_bytes: last.asset + last.api,
    asset_bytes: last.asset,
    api_bytes: last.api,
  }));
} finally {
  await browser.close();
}
