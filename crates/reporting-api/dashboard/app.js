// The reports dashboard of reporting-api: plain browser JavaScript, no build step.
//
// The reporting key is typed once into the login form, sent to
// POST /dashboard/session and forgotten: the session lives in an HttpOnly
// cookie the page never sees, so no URL, variable or browser storage holds
// the key. Reports are fetched from /api/reports/* with that cookie.
//
// document.body.dataset.state says what the page is doing, for people and
// tests alike: starting → login | loading → ready | error.
'use strict';

(() => {
  const DIMENSIONS = ['date', 'offer_id', 'source'];
  const LABELS = { date: 'Date', offer_id: 'Offer ID', source: 'Source', clicks_count: 'Clicks' };
  const PER_PAGE = [25, 100, 500];
  const HOURLY_MAX_DAYS = 3; // ranges of at most this many days are charted per hour
  const DAY_SECONDS = 86400;
  const MESSAGES = {
    invalidKey: 'That reporting key is not valid.',
    sessionEnded: 'Your session has ended; enter the key again.',
    emptyKey: 'Enter the reporting key.',
  };
  // Tick steps of the y axis: clicks are whole numbers.
  const COUNT_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500]
    .flatMap((step) => [step, step * 1e3, step * 1e6, step * 1e9]).sort((a, b) => a - b);

  const $ = (id) => document.getElementById(id);
  const numbers = new Intl.NumberFormat();
  const fmt = (n) => (typeof n === 'number' ? numbers.format(n) : String(n ?? '–'));

  // What is on screen, enough to rebuild every query (never the key).
  const state = {
    start: '', end: '', timezone: 'UTC', offerId: '', source: '', groupBy: [...DIMENSIONS],
    sortBy: 'clicks_count', sortDirection: 'desc', limit: PER_PAGE[0], page: 1,
  };

  let chart = null; // the uPlot instance
  let loading = null; // AbortController of the load in flight
  let summaryStale = true; // filters changed since the summary was last shown
  let signedIn = false;

  const setPageState = (name) => { document.body.dataset.state = name; };

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, message, details) {
      super(message);
      this.status = status;
      this.details = details && typeof details === 'object' ? details : null;
    }
  }

  // fetch with the session cookie; JSON in and out; a non-2xx answer throws
  // an ApiError with the server's {"error", "details"}.
  async function api(path, { method = 'GET', body, signal } = {}) {
    const init = { method, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' }, signal };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const isJson = (response.headers.get('Content-Type') || '').includes('json');
    const payload = response.status === 204 ? null : isJson ? await response.json().catch(() => null) : await response.text();
    if (!response.ok) {
      const message = (payload && payload.error) || `${response.status} ${response.statusText}`.trim();
      throw new ApiError(response.status, message, payload && payload.details);
    }
    return payload;
  }

  const describe = (error) => (error instanceof ApiError ? error.message : `The request failed: ${error.message}`);

  // -------------------------------------------------------------- dates

  // Today's date (YYYY-MM-DD) in an IANA zone; UTC when the zone is unknown.
  function todayIn(timeZone) {
    try {
      const parts = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
        .formatToParts(new Date());
      const part = (type) => parts.find((p) => p.type === type).value;
      return `${part('year')}-${part('month')}-${part('day')}`;
    } catch {
      return new Date().toISOString().slice(0, 10);
    }
  }

  const isDate = (text) => /^\d{4}-\d{2}-\d{2}$/.test(text || '') && text >= '1000-01-01';
  const toEpoch = (date) => Date.parse(`${date}T00:00:00Z`) / 1000;
  const addDays = (date, days) => new Date((toEpoch(date) + days * DAY_SECONDS) * 1000).toISOString().slice(0, 10);
  const daysIn = (start, end) => Math.round((toEpoch(end) - toEpoch(start)) / DAY_SECONDS) + 1;

  // A quick pick ('today', 'yesterday', '7', '30') → [start, end].
  function quickRange(name, timeZone) {
    const today = todayIn(timeZone || 'UTC');
    if (name === 'today') return [today, today];
    if (name === 'yesterday') return [addDays(today, -1), addDays(today, -1)];
    return [addDays(today, 1 - Number(name)), today];
  }

  const isHourly = () => isDate(state.start) && isDate(state.end)
    && state.start <= state.end && daysIn(state.start, state.end) <= HOURLY_MAX_DAYS;

  // ------------------------------------------------- state ↔ form ↔ URL

  // The hash holds the filters (not the key), so a link can be shared:
  // #start=2025-03-01&end=2025-03-31&tz=UTC&offer=..&source=..&group=date,source&sort=..&dir=..&limit=..&page=..
  function readHash() {
    const hash = new URLSearchParams(location.hash.slice(1));
    const get = (name) => hash.get(name);
    if (isDate(get('start'))) state.start = get('start');
    if (isDate(get('end'))) state.end = get('end');
    if (get('tz')) state.timezone = get('tz');
    if (get('offer') !== null) state.offerId = get('offer');
    if (get('source') !== null) state.source = get('source');
    const group = DIMENSIONS.filter((d) => (get('group') || '').split(',').includes(d));
    if (group.length) state.groupBy = group;
    if ([...state.groupBy, 'clicks_count'].includes(get('sort'))) state.sortBy = get('sort');
    if (['asc', 'desc'].includes(get('dir'))) state.sortDirection = get('dir');
    if (![...state.groupBy, 'clicks_count'].includes(state.sortBy)) state.sortBy = 'clicks_count';
    if (PER_PAGE.includes(Number(get('limit')))) state.limit = Number(get('limit'));
    if (/^[1-9]\d{0,6}$/.test(get('page') || '')) state.page = Number(get('page'));
  }

  function writeHash() {
    const hash = new URLSearchParams({ start: state.start, end: state.end, tz: state.timezone });
    if (state.offerId) hash.set('offer', state.offerId);
    if (state.source) hash.set('source', state.source);
    hash.set('group', state.groupBy.join(','));
    hash.set('sort', state.sortBy);
    hash.set('dir', state.sortDirection);
    hash.set('limit', String(state.limit));
    hash.set('page', String(state.page));
    history.replaceState(null, '', `${location.pathname}${location.search}#${hash}`);
  }

  const groupBoxes = () => [...document.querySelectorAll('#group-by input[name="group_by"]')];

  function writeForm() {
    $('start-date').value = state.start;
    $('end-date').value = state.end;
    $('timezone').value = state.timezone;
    $('offer-id').value = state.offerId;
    $('source').value = state.source;
    for (const box of groupBoxes()) box.checked = state.groupBy.includes(box.value);
    $('per-page').value = String(state.limit);
    lockLastGroup();
  }

  function readForm() {
    state.start = $('start-date').value;
    state.end = $('end-date').value;
    state.timezone = $('timezone').value.trim() || 'UTC';
    state.offerId = $('offer-id').value.trim();
    state.source = $('source').value; // exact: the API compares sources byte for byte
    const checked = groupBoxes().filter((box) => box.checked).map((box) => box.value);
    state.groupBy = DIMENSIONS.filter((d) => checked.includes(d));
    if (!state.groupBy.includes(state.sortBy)) {
      state.sortBy = 'clicks_count';
      state.sortDirection = 'desc';
    }
  }

  // group_by must stay non-empty: the last checked box cannot be unchecked.
  function lockLastGroup() {
    const boxes = groupBoxes();
    const checked = boxes.filter((box) => box.checked);
    for (const box of boxes) box.disabled = checked.length === 1 && box.checked;
  }

  // ------------------------------------------------------------- queries

  function scopeQuery() {
    const query = new URLSearchParams({ start_date: state.start, end_date: state.end });
    if (state.offerId) query.set('offer_id', state.offerId);
    if (state.source) query.set('source', state.source);
    if (state.timezone) query.set('timezone', state.timezone);
    return query;
  }

  function summaryQuery() {
    const query = scopeQuery();
    if (isHourly()) query.set('interval', 'hour');
    return query;
  }

  function tableQuery() {
    const query = scopeQuery();
    query.set('group_by', state.groupBy.join(','));
    query.set('sort_by', state.sortBy);
    query.set('sort_direction', state.sortDirection);
    query.set('limit', String(state.limit));
    query.set('page', String(state.page));
    return query;
  }

  // ------------------------------------------------------------- loading

  // Fetches the table, and the summary when the filters changed since it was shown.
  function fetchReports(signal) {
    return Promise.all([
      summaryStale ? api(`/api/reports/summary?${summaryQuery()}`, { signal }) : null,
      api(`/api/reports/aggregated?${tableQuery()}`, { signal }),
    ]);
  }

  // Fetches and renders the reports of `state`; a newer load aborts an older
  // one. `prefetch` ({controller, reports}) is a fetch start() began already.
  async function load(prefetch) {
    if (!signedIn) return;
    if (loading && (!prefetch || loading !== prefetch.controller)) loading.abort();
    if (!isDate(state.start) || !isDate(state.end)) {
      if (prefetch) prefetch.controller.abort();
      loading = null;
      showError(new ApiError(0, 'Choose a start and an end date.'));
      setPageState('error');
      return;
    }
    const controller = prefetch ? prefetch.controller : new AbortController();
    loading = controller;
    setPageState('loading');
    hideError();
    writeHash();
    try {
      const [summary, table] = await (prefetch ? prefetch.reports : fetchReports(controller.signal));
      if (loading !== controller) return;
      if (summary) {
        renderSummary(summary);
        summaryStale = false;
      }
      renderTable(table);
      loading = null;
      setPageState('ready');
    } catch (error) {
      if (loading !== controller || error.name === 'AbortError') return;
      loading = null;
      if (error instanceof ApiError && error.status === 401) {
        showLogin(MESSAGES.sessionEnded);
        return;
      }
      showError(error);
      setPageState('error');
    }
  }

  function reloadAll() {
    state.page = 1;
    summaryStale = true;
    load();
  }

  // ------------------------------------------------------------ rendering

  function renderSummary(report) {
    const totals = report.summary || {};
    $('total-clicks').textContent = fmt(totals.total_clicks);
    $('unique-offers').textContent = fmt(totals.unique_offers);
    $('unique-sources').textContent = fmt(totals.unique_sources);
    renderTop($('top-offers'), report.top_offers || [], 'offer_id', 'offers');
    renderTop($('top-sources'), report.top_sources || [], 'source', 'sources');
    renderChart(report);
  }

  function cell(tag, text, className) {
    const element = document.createElement(tag);
    element.textContent = text;
    if (className) element.className = className;
    return element;
  }

  function emptyRow(columns, text) {
    const row = cell('tr', '', 'empty');
    row.append(Object.assign(cell('td', text), { colSpan: columns }));
    return row;
  }

  // A top-10 list: name, clicks, and a bar relative to the first (largest).
  function renderTop(table, items, key, noun) {
    const body = table.tBodies[0];
    if (!items.length) {
      body.replaceChildren(emptyRow(3, `No ${noun} in this range.`));
      return;
    }
    const max = Math.max(1, ...items.map((item) => item.clicks_count));
    body.replaceChildren(...items.map((item) => {
      const row = document.createElement('tr');
      row.dataset.row = String(item[key]);
      const bar = cell('span', '', 'bar');
      bar.style.width = `${(100 * item.clicks_count) / max}%`; // CSSOM, allowed by the CSP
      const share = cell('td', '', 'share');
      share.append(bar);
      row.append(cell('td', String(item[key]), 'name'), cell('td', fmt(item.clicks_count), 'num'), share);
      return row;
    }));
  }

  // [[x…], [clicks…]] in seconds; local times are drawn as if they were UTC
  // (the axis uses UTC too), so the labels read in the report's time zone.
  // An hour repeated by a daylight-saving change is summed into one point.
  function chartSeries(report) {
    const points = new Map();
    const items = Array.isArray(report.hourly) ? report.hourly : report.daily || [];
    for (const item of items) {
      const x = item.hour ? Date.parse(`${item.hour}Z`) / 1000 : toEpoch(item.date);
      points.set(x, (points.get(x) || 0) + item.clicks_count);
    }
    const xs = [...points.keys()].sort((a, b) => a - b);
    return [xs, xs.map((x) => points.get(x))];
  }

  const chartHeight = () => (window.innerWidth < 640 ? 200 : 260);

  // x-axis ticks: whole hours or whole days, labelled 24-hour / "Mar 10".
  const HOUR = 3600;
  const DAY_INCRS = [1, 2, 3, 4, 5, 7, 10, 15, 30, 60, 91, 182, 365].map((days) => days * DAY_SECONDS);
  const HOUR_INCRS = [1, 2, 3, 4, 6, 8, 12].map((hours) => hours * HOUR).concat(DAY_INCRS);
  const TIME_LABELS = [
    // tick step, label, label when the year / month / day / hour / minute / second rolls over, mode
    [365 * DAY_SECONDS, '{YYYY}', null, null, null, null, null, null, 1],
    [28 * DAY_SECONDS, '{MMM}', '\n{YYYY}', null, null, null, null, null, 1],
    [DAY_SECONDS, '{MMM} {D}', '\n{YYYY}', null, null, null, null, null, 1],
    [HOUR, '{HH}:00', '\n{MMM} {D} {YYYY}', null, '\n{MMM} {D}', null, null, null, 1],
  ];

  function chartOptions(hourly, width) {
    const label = (v) => (v == null ? '–' : new Date(v * 1000).toISOString().slice(0, hourly ? 16 : 10).replace('T', ' '));
    const axis = { stroke: '#64748b', grid: { stroke: '#edf0f4', width: 1 }, ticks: { stroke: '#e2e8f0', width: 1 } };
    const pad = hourly ? 0 : DAY_SECONDS / 2; // room for the first and last bar
    const clicks = hourly
      ? { stroke: '#2563eb', width: 2, fill: 'rgba(37, 99, 235, 0.12)' }
      : { stroke: 'rgba(0, 0, 0, 0)', width: 0, fill: '#5b8def', paths: uPlot.paths.bars({ size: [0.7, 48] }) };
    return {
      width,
      height: chartHeight(),
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      scales: {
        x: { time: true, range: (u, min, max) => [min - pad, max + pad] },
        y: { range: (u, min, max) => [0, max > 0 ? Math.ceil(max * 1.1) : 1] },
      },
      series: [
        { label: hourly ? 'Hour' : 'Date', value: (u, v) => label(v) },
        { label: 'Clicks', points: { show: false }, value: (u, v) => (v == null ? '–' : fmt(v)), ...clicks },
      ],
      axes: [
        { ...axis, space: 64, incrs: hourly ? HOUR_INCRS : DAY_INCRS, values: TIME_LABELS },
        { ...axis, size: 56, incrs: COUNT_INCRS, values: (u, splits) => splits.map(fmt) },
      ],
    };
  }

  function renderChart(report) {
    const hourly = Array.isArray(report.hourly);
    const container = $('chart');
    $('chart-title').textContent = hourly ? 'Clicks per hour' : 'Clicks per day';
    $('chart-note').textContent = `Local times in ${state.timezone}`;
    destroyChart();
    if (typeof window.uPlot !== 'function') {
      container.textContent = 'The chart library did not load.';
      return;
    }
    chart = new uPlot(chartOptions(hourly, Math.max(container.clientWidth, 200)), chartSeries(report), container);
  }

  function destroyChart() {
    if (chart) chart.destroy();
    chart = null;
    $('chart').replaceChildren();
  }

  // The chart follows its container's width (and the viewport's height class).
  const resizer = new ResizeObserver(() => {
    const width = $('chart').clientWidth;
    if (chart && width > 0 && (width !== chart.width || chartHeight() !== chart.height)) {
      chart.setSize({ width, height: chartHeight() });
    }
  });

  function renderTable(table) {
    const columns = [...state.groupBy, 'clicks_count'];
    renderHeader(columns);
    const rows = table.data || [];
    const body = $('rows').tBodies[0];
    if (!rows.length) {
      body.replaceChildren(emptyRow(columns.length, 'No clicks for these filters.'));
    } else {
      body.replaceChildren(...rows.map((item) => {
        const row = document.createElement('tr');
        for (const column of columns) {
          const numeric = column === 'clicks_count' || column === 'offer_id';
          row.append(cell('td', column === 'clicks_count' ? fmt(item[column]) : String(item[column] ?? ''), numeric ? 'num' : ''));
        }
        return row;
      }));
    }
    renderPager(table.pagination || {});
    renderCsvLink();
  }

  // Header cells are buttons: a click sorts by that column, again toggles asc/desc.
  function renderHeader(columns) {
    const row = $('rows').tHead.rows[0];
    row.replaceChildren(...columns.map((column) => {
      const th = document.createElement('th');
      th.scope = 'col';
      th.dataset.column = column;
      if (column === 'clicks_count' || column === 'offer_id') th.className = 'num';
      const sorted = state.sortBy === column;
      th.setAttribute('aria-sort', sorted ? (state.sortDirection === 'asc' ? 'ascending' : 'descending') : 'none');
      const button = cell('button', LABELS[column], 'sort');
      button.type = 'button';
      button.dataset.sort = column;
      button.dataset.testid = `sort-${column}`;
      button.append(cell('span', sorted ? (state.sortDirection === 'asc' ? '▲' : '▼') : '↕', sorted ? 'arrow on' : 'arrow'));
      th.append(button);
      return th;
    }));
  }

  function renderPager(pagination) {
    const current = pagination.current_page || state.page;
    const last = Math.max(pagination.last_page || 1, 1);
    $('page-info').textContent = `Page ${current} of ${last}`;
    $('row-range').textContent = pagination.total
      ? `Rows ${fmt(pagination.from ?? 0)}–${fmt(pagination.to ?? 0)} of ${fmt(pagination.total)}`
      : 'No rows';
    $('prev-page').disabled = current <= 1;
    $('next-page').disabled = current >= last;
  }

  // The CSV of exactly what the table shows: same query, format=csv.
  function renderCsvLink() {
    const query = tableQuery();
    query.set('format', 'csv');
    const link = $('csv-link');
    link.href = `/api/reports/aggregated?${query}`;
    link.download = `clicks-${state.start}-to-${state.end}-page-${state.page}.csv`;
  }

  function clearReports() {
    for (const id of ['total-clicks', 'unique-offers', 'unique-sources']) $(id).textContent = '–';
    for (const id of ['top-offers', 'top-sources', 'rows']) $(id).tBodies[0].replaceChildren();
    $('rows').tHead.rows[0].replaceChildren();
    destroyChart();
  }

  // --------------------------------------------------------------- errors

  function showError(error) {
    const status = error instanceof ApiError && error.status ? ` (HTTP ${error.status})` : '';
    $('error-message').textContent = `${describe(error)}${status}`;
    const items = [];
    for (const [field, reasons] of Object.entries((error && error.details) || {})) {
      for (const reason of [].concat(reasons)) items.push(cell('li', `${field}: ${reason}`));
    }
    $('error-details').replaceChildren(...items);
    $('error-banner').hidden = false;
  }

  const hideError = () => { $('error-banner').hidden = true; };

  // --------------------------------------------------------------- session

  function showLogin(message) {
    signedIn = false;
    if (loading) loading.abort();
    loading = null;
    clearReports();
    hideError();
    $('dashboard-view').hidden = true;
    $('logout').hidden = true;
    $('session-info').hidden = true;
    $('login-view').hidden = false;
    showLoginMessage(message);
    $('key').focus();
    setPageState('login');
  }

  function showLoginMessage(message) {
    Object.assign($('login-error'), { textContent: message || '', hidden: !message });
  }

  function showDashboard(session, prefetch) {
    signedIn = true;
    $('login-view').hidden = true;
    showLoginMessage('');
    $('dashboard-view').hidden = false;
    $('logout').hidden = false;
    const expires = session && Date.parse(session.expires_at);
    $('session-info').textContent = expires
      ? `Session until ${new Date(expires).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`
      : '';
    $('session-info').hidden = !expires;
    writeForm();
    if (!prefetch) summaryStale = true;
    load(prefetch);
  }

  // The key is read, cleared from the input and sent; nothing keeps it.
  async function onLogin(event) {
    event.preventDefault();
    const input = $('key');
    const key = input.value;
    input.value = '';
    if (!key) {
      showLoginMessage(MESSAGES.emptyKey);
      return;
    }
    $('login-submit').disabled = true;
    setPageState('loading');
    try {
      showDashboard(await api('/dashboard/session', { method: 'POST', body: { key } }));
    } catch (error) {
      showLoginMessage(error instanceof ApiError && error.status === 401 ? MESSAGES.invalidKey : describe(error));
      setPageState('login');
      input.focus();
    } finally {
      $('login-submit').disabled = false;
    }
  }

  async function onLogout() {
    try {
      await api('/dashboard/session', { method: 'DELETE' });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) {
        showError(error);
        setPageState('error');
        return;
      }
    }
    showLogin('');
  }

  // --------------------------------------------------------------- events

  // Checkboxes apply at once; dates and text fields wait for Apply (or Enter),
  // so a half-typed range is never sent.
  function onFilterChange(event) {
    if (event.target.name !== 'group_by') return;
    lockLastGroup();
    readForm();
    state.page = 1;
    load(); // the summary does not depend on group_by
  }

  function onQuickPick(event) {
    const button = event.target.closest('button[data-range]');
    if (!button) return;
    readForm();
    [state.start, state.end] = quickRange(button.dataset.range, state.timezone);
    writeForm();
    reloadAll();
  }

  function onSort(event) {
    const button = event.target.closest('button[data-sort]');
    if (!button) return;
    const column = button.dataset.sort;
    if (state.sortBy === column) {
      state.sortDirection = state.sortDirection === 'asc' ? 'desc' : 'asc';
    } else {
      state.sortBy = column;
      state.sortDirection = column === 'clicks_count' ? 'desc' : 'asc';
    }
    state.page = 1;
    load();
  }

  const goToPage = (delta) => { state.page = Math.max(1, state.page + delta); load(); };

  function bind() {
    $('login-form').addEventListener('submit', onLogin);
    $('logout').addEventListener('click', onLogout);
    $('filters').addEventListener('submit', (event) => {
      event.preventDefault();
      readForm();
      reloadAll();
    });
    $('filters').addEventListener('change', onFilterChange);
    document.querySelector('.quick-picks').addEventListener('click', onQuickPick);
    $('rows').tHead.addEventListener('click', onSort);
    $('per-page').addEventListener('change', () => {
      state.limit = Number($('per-page').value);
      state.page = 1;
      load();
    });
    $('prev-page').addEventListener('click', () => goToPage(-1));
    $('next-page').addEventListener('click', () => goToPage(1));
    $('error-dismiss').addEventListener('click', hideError);
    window.addEventListener('hashchange', () => {
      readHash();
      writeForm();
      summaryStale = true;
      load();
    });
    resizer.observe($('chart'));
  }

  // The browser's own zone joins the suggestions when it is not there yet.
  function suggestLocalZone() {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    const list = $('timezones');
    if (zone && ![...list.options].some((option) => option.value === zone)) list.prepend(new Option('', zone));
  }

  async function start() {
    [state.start, state.end] = quickRange('7', 'UTC');
    readHash();
    writeForm();
    suggestLocalZone();
    bind();
    // The reports are fetched while the session is checked (one round trip
    // less); without a session they are refused, and dropped.
    let prefetch = null;
    if (isDate(state.start) && isDate(state.end)) {
      const controller = new AbortController();
      prefetch = { controller, reports: fetchReports(controller.signal) };
      prefetch.reports.catch(() => {});
    }
    try {
      showDashboard(await api('/dashboard/session'), prefetch);
    } catch (error) {
      if (prefetch) prefetch.controller.abort();
      showLogin(error instanceof ApiError && error.status === 401 ? '' : `Could not check the session: ${describe(error)}`);
    }
  }

  start();
})();
