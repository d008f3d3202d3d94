// The console's pages (docs/console.md): Overview, Shopper, Item, Models,
// Segments, Experiments. Each page asks the JSON API and draws what it
// answers; nothing is computed here that the server did not say.
import { ApiError, get, loadSession, post, session, setToken, token } from './api.js';
import { barChart, intervalChart, lineChart } from './charts.js';
import { focusSegment, segments } from './segments.js';
import {
  age, banner, confirmAction, el, explain, facts, price, recommendationList, shareList, time,
} from './widgets.js';

const PAGES = ['overview', 'shopper', 'item', 'models', 'segments', 'experiments'];
const REFRESH_MS = 2000;
let refreshTimer = null;

function showError(error) {
  if (error instanceof ApiError) banner(explain(error));
  else banner(String(error && error.message ? error.message : error));
}

// --- Overview -------------------------------------------------------------

function card(label, value) {
  return el('div', { class: 'card' },
    el('div', { class: 'label', text: label }), el('div', { class: 'value', text: value }));
}

function fixed(v, digits) {
  return typeof v === 'number' && isFinite(v) ? v.toFixed(digits) : '—';
}

async function overview() {
  const o = await get('/api/overview');
  const m = o.model;
  const last = o.points.length ? o.points[o.points.length - 1] : null;
  document.getElementById('ov-cards').replaceChildren(
    card('Catalog items', Number(m.catalogItems).toLocaleString()),
    card('Known users', Number(m.knownUsers).toLocaleString()),
    card('Events stored', Number(m.events).toLocaleString()),
    card('Events / s', last ? fixed(last.events_per_s, 1) : '—'),
    card('Recommend / s', last ? fixed(last.recommend_per_s, 1) : '—'),
    card('Feedback / s', last ? fixed(last.feedback_per_s, 1) : '—'),
    // No call finished in the last interval: no latency to show.
    card('Recommend p99', last && last.recommend_per_s > 0 ? fixed(last.recommend_p99_ms, 1) + ' ms' : '—'),
    card('Shed / s', last ? fixed(last.shed_per_s, 2) : '—'),
    // Calls refused by admission control since the server started.
    card('Calls shed', o.totals && 'shed_total' in o.totals ? Number(o.totals.shed_total).toLocaleString() : '—'),
  );
  const series = (key) => o.points.map((p) => [p.t_ms, p[key]]);
  lineChart(document.getElementById('ov-rates'), [
    { name: 'Recommend', points: series('recommend_per_s') },
    { name: 'Feedback', points: series('feedback_per_s') },
    { name: 'Events', points: series('events_per_s') },
    { name: 'Shed', points: series('shed_per_s') },
  ]);
  lineChart(document.getElementById('ov-latency'), [
    { name: 'Recommend p50', points: series('recommend_p50_ms') },
    { name: 'Recommend p99', points: series('recommend_p99_ms') },
    { name: 'Feedback p50', points: series('feedback_p50_ms') },
    { name: 'Feedback p99', points: series('feedback_p99_ms') },
  ]);
  const box = document.getElementById('ov-model');
  if (!m.version) {
    box.replaceChildren(el('p', { class: 'muted', text: 'No model is serving: lists come from popularity, co-occurrence and content.' }));
    return;
  }
  const pairs = [
    ['Version', m.version],
    ['Trained', `${time(m.trainedAtMs)} (${age(m.trainedAtMs)} ago)`],
    ['Factors', m.factors],
    ['Trained on', `${Number(m.users).toLocaleString()} users × ${Number(m.items).toLocaleString()} items, ${Number(m.interactions).toLocaleString()} interactions`],
  ];
  for (const [k, v] of Object.entries(m.metrics || {}).sort()) pairs.push([k, fixed(v, 4)]);
  box.replaceChildren(facts(pairs));
}

// --- Shopper --------------------------------------------------------------

const SCENARIOS = [
  ['FOR_YOU', 'For you'],
  ['RECENTLY_VIEWED', 'Recently viewed'],
  ['TRENDING', 'Trending'],
];
let lastLists = {};  // scenario -> item ids of the last answer
let lastUser = '';

function splitList(value) {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

function shopperRequest(userId, scenario) {
  const v = (id) => document.getElementById(id);
  const filter = {
    includeCategories: splitList(v('sh-include').value),
    excludeCategories: splitList(v('sh-exclude').value),
    availableOnly: v('sh-available').checked,
  };
  if (v('sh-min').value !== '') filter.minPrice = Number(v('sh-min').value);
  if (v('sh-max').value !== '') filter.maxPrice = Number(v('sh-max').value);
  const request = {
    userId,
    scenario,
    count: Number(v('sh-count').value) || 8,
    diversity: Number(v('sh-diversity').value),
    includeSeen: v('sh-seen').checked,
    filter,
  };
  if (session.exploration) request.exploration = Number(v('sh-exploration').value);
  return request;
}

async function showProfile(userId) {
  const box = document.getElementById('sh-profile');
  const counts = document.getElementById('sh-counts');
  const timeline = document.getElementById('sh-timeline');
  try {
    const u = await post('/api/user', { userId });
    const p = u.profile;
    // With shares when the server has them (categoryWeights), else the
    // plain list older servers answer.
    const weights = (p.categoryWeights || []).length ? p.categoryWeights
      : (p.topCategories || []).map((category) => ({ category }));
    const attributes = (p.preferredAttributes || []).map((a) => `${a.key}: ${a.value}`).join(', ');
    box.replaceChildren(el('h3', { text: 'Profile' }), facts([
      ['User', p.userId],
      ['Activity', p.activityLevel || p.segment || '—'],
      ['Price band', p.priceBand || '—'],
      ['Preferred', attributes || '—'],
      ['First seen', time(p.firstSeenMs)],
      ['Last seen', `${time(p.lastSeenMs)} (${age(p.lastSeenMs)} ago)`],
      ['Personalised by the model', p.hasVector ? 'yes' : 'no'],
    ]), learnedSegment(p), el('h3', { class: 'sub', text: 'Top categories' }),
    p.categoryWeights && p.categoryWeights.length ? shareList(weights)
      : el('p', { text: weights.map((w) => w.category).join(', ') || '—' }));
    const byType = (p.eventCounts || []).filter((c) => c.type !== 'IMPRESSION');
    barChart(counts, byType.map((c) => c.type.toLowerCase()),
      [{ name: 'events', values: byType.map((c) => Number(c.count)) }], 'No events.');
    const cards = new Map((u.recentItems || []).map((i) => [i.itemId, i]));
    // The timeline: each of the latest events with its type and time
    // (recentEvents), or the distinct recent items older servers answer.
    const steps = (p.recentEvents || []).length
      ? p.recentEvents.map((e) => ({ id: e.itemId || '', type: e.type, ms: e.timestampMs, query: e.query }))
      : (p.recentItemIds || []).map((id) => ({ id }));
    timeline.replaceChildren(...steps.map((s, k) => {
      const item = cards.get(s.id);
      const when = s.type ? `${s.type.toLowerCase().replace(/_/g, ' ')} · ${age(s.ms)} ago` : `#${k + 1}`;
      return el('div', { class: 'step', 'data-item-id': s.id, 'data-type': s.type || '', title: s.ms ? time(s.ms) : '' },
        el('div', { class: 'title', text: item ? item.title : s.query ? `Search "${s.query}"` : s.id }),
        el('div', { class: 'meta', text: `${when} · ${s.id}${item && item.categories.length ? ' · ' + item.categories[0] : ''}${item ? ' · ' + price(item.price) : ''}` }));
    }));
    if (!timeline.children.length) timeline.append(el('p', { class: 'muted', text: 'No recent events.' }));
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    // GetUser is personal data: the gRPC API gives it to admin only.
    const text = error.status === 404 ? 'No events for this user yet: lists fall back to popular items.'
      : `Profile not shown: ${explain(error)}`;
    box.replaceChildren(el('h3', { text: 'Profile' }), el('p', { class: 'muted', text }));
    counts.replaceChildren();
    timeline.replaceChildren();
  }
}

// The user's learned segment (segmentId is absent when the serving model
// has none or the user has no vector yet), linked to its profile on the
// Segments page.
function learnedSegment(p) {
  const line = el('p', { id: 'sh-segment' }, el('span', { class: 'muted', text: 'Learned segment: ' }));
  if (p.segmentId === undefined) {
    line.append(p.hasVector ? 'none (the serving model has no segments)' : 'none yet (no vector: no positive events, or no model)');
    return line;
  }
  line.dataset.segmentId = String(p.segmentId);
  const link = el('a', { href: '#segments', text: `#${p.segmentId} · ${p.segmentLabel}` });
  link.addEventListener('click', () => focusSegment(p.segmentId));
  line.append(link);
  return line;
}

async function showLists(userId) {
  const box = document.getElementById('sh-lists');
  const answers = await Promise.all(
    SCENARIOS.map(([scenario]) => post('/api/recommend', shopperRequest(userId, scenario))));
  const previous = userId === lastUser ? lastLists : {};
  box.replaceChildren(...answers.map((answer, i) =>
    recommendationList(SCENARIOS[i][1], answer, previous[SCENARIOS[i][0]])));
  lastLists = {};
  answers.forEach((answer, i) => {
    lastLists[SCENARIOS[i][0]] = answer.response.items.map((r) => r.itemId);
  });
  lastUser = userId;
  const first = answers[0].response.items[0];
  const eventItem = document.getElementById('ev-item');
  if (first && !eventItem.value) eventItem.value = first.itemId;
}

async function lookUp() {
  const userId = document.getElementById('sh-user').value.trim();
  if (!userId) return;
  document.getElementById('sh-result').hidden = false;
  await Promise.all([showProfile(userId), showLists(userId)]);
}

async function sendEvent() {
  const userId = document.getElementById('sh-user').value.trim();
  const itemId = document.getElementById('ev-item').value.trim();
  const type = document.getElementById('ev-type').value;
  const result = document.getElementById('ev-result');
  const answer = await post('/api/feedback', { events: [{ userId, itemId, type }] });
  result.textContent = `stored: ${answer.accepted} new, ${answer.duplicates} duplicate; the lists below are the next answers (new items marked)`;
  await Promise.all([showProfile(userId), showLists(userId)]);
}

// --- Item -----------------------------------------------------------------

async function showItem() {
  const itemId = document.getElementById('it-id').value.trim();
  if (!itemId) return;
  const answer = await post('/api/item', { itemId });
  const item = answer.item;
  document.getElementById('it-result').hidden = false;
  const attributes = Object.entries(item.attributes || {}).map(([k, v]) => `${k}: ${v}`).join(', ');
  document.getElementById('it-details').replaceChildren(
    el('h3', { text: item.title || item.itemId }),
    facts([
      ['Item id', item.itemId],
      ['Categories', (item.categories || []).join(', ') || '—'],
      ['Tags', (item.tags || []).join(', ') || '—'],
      ['Price', price(item.price)],
      ['Available', item.available ? 'yes' : 'no'],
      ['Attributes', attributes || '—'],
      ['Updated', time(item.updatedAtMs)],
    ]));
  const activity = answer.activity;
  const chart = document.getElementById('it-activity');
  if (!activity) {
    document.getElementById('it-since').textContent = '';
    chart.replaceChildren(el('p', { class: 'muted', text: 'This server does not count items.' }));
  } else {
    document.getElementById('it-since').textContent =
      `(this server, since ${time(activity.sinceMs)}${activity.partial ? '; it stopped counting new items at its limit' : ''})`;
    const counts = [['recommended', activity.recommended], ['viewed', activity.views],
      ['clicked', activity.clicks], ['added to cart', activity.addToCarts], ['bought', activity.purchases]];
    barChart(chart, counts.map(([name]) => name), [{ name: 'times', values: counts.map(([, v]) => v) }]);
    chart.dataset.counts = JSON.stringify(Object.fromEntries(counts));
  }
  document.getElementById('it-lists').replaceChildren(
    recommendationList('Similar items', answer.similar),
    recommendationList('Frequently bought together', answer.boughtTogether));
}

// --- Models ---------------------------------------------------------------

async function activate(request, what) {
  if (!(await confirmAction(`${what}? Every Recommend call will use it at once.`))) return;
  try {
    const info = await post('/api/models/activate', request);
    banner(`Now serving ${info.version}.`, 'info');
  } catch (error) {
    showError(error);
  }
  await models();
}

async function models() {
  const list = await get('/api/models');
  const versions = list.models || [];
  const metricNames = [...new Set(versions.flatMap((m) => Object.keys(m.metrics || {})))].sort();
  const paramNames = [...new Set(versions.flatMap((m) => Object.keys(m.parameters || {})))].sort();
  const oldestFirst = [...versions].reverse();
  // The chart is for the holdout figures (fractions, one axis): the
  // segments' own figures (segments_inertia is in the thousands) would
  // flatten them, so they are in the table only.
  const holdout = metricNames.filter((k) => !k.startsWith('segments_'));
  barChart(document.getElementById('md-chart'), holdout,
    oldestFirst.map((m) => ({ name: m.version, values: holdout.map((k) => (m.metrics || {})[k] || 0) })),
    'No holdout figures: models trained without a validation split have none.');
  const table = el('table');
  const head = el('tr', {}, el('th', { text: 'Version' }), el('th', { text: 'Trained' }),
    el('th', { text: 'Factors' }), el('th', { text: 'Users × items' }),
    // Short headers keep the parameters on screen; the full name is the
    // header's tooltip.
    ...metricNames.map((k) => el('th', { title: k, text: k.replace(/^holdout_/, 'holdout ').replace(/^segments_/, 'segments ') })),
    el('th', { text: 'Parameters' }), el('th'));
  table.append(head);
  for (const m of versions) {
    const active = m.version === list.activeVersion;
    const row = el('tr', { class: active ? 'active-model' : '', 'data-version': m.version });
    const name = el('td', {}, m.version);
    if (active) name.append(' ', el('span', { class: 'badge active', text: 'active' }));
    const action = el('td');
    if (!active) {
      const button = el('button', { type: 'button', class: 'secondary', text: 'Activate' });
      button.addEventListener('click', () => activate({ version: m.version }, `Activate ${m.version}`));
      action.append(button);
    }
    row.append(name, el('td', { text: `${time(m.trainedAtMs)} (${age(m.trainedAtMs)} ago)` }),
      el('td', { text: String(m.factors) }),
      el('td', { text: `${Number(m.users).toLocaleString()} × ${Number(m.items).toLocaleString()}` }),
      ...metricNames.map((k) => el('td', { text: k in (m.metrics || {}) ? m.metrics[k].toFixed(4) : '—' })),
      el('td', { text: paramNames.filter((k) => k in (m.parameters || {})).map((k) => `${k}=${m.parameters[k]}`).join(', ') }),
      action);
    table.append(row);
  }
  if (!versions.length) table.append(el('tr', {}, el('td', { text: 'No model versions stored.' })));
  document.getElementById('md-table').replaceChildren(table);
  document.getElementById('md-rollback').disabled = versions.length < 2;
}

// --- Experiments ----------------------------------------------------------

function percent(v) {
  return `${(100 * (Number(v) || 0)).toFixed(2)}%`;
}

function proportion(p) {
  return `${percent(p.value)} [${percent(p.low)}, ${percent(p.high)}]`;
}

// An arm against the control: the lift, the p-value and the verdict.
function versus(comparison, level) {
  if (!comparison) return el('td', { class: 'muted', text: '(control)' });
  const sign = (v) => (v >= 0 ? '+' : '');
  const points = `${sign(comparison.difference)}${(100 * comparison.difference).toFixed(2)} pts`;
  // The relative lift is 0 when the control's rate is 0: show points only.
  const lift = comparison.relativeLift === 0 && comparison.difference !== 0 ? points
    : `${sign(comparison.relativeLift)}${(100 * comparison.relativeLift).toFixed(1)}% (${points})`;
  const p = Number(comparison.pValue);
  const verdict = comparison.significant
    ? el('span', { class: 'significant', text: `significant at ${level}` })
    : el('span', { class: 'not-significant', text: `not significant at ${level}` });
  return el('td', {}, `${lift} p=${p < 0.001 ? p.toExponential(1) : p.toFixed(3)} · `, verdict);
}

function experimentPanel(x, level) {
  const box = el('div', { class: 'panel experiment', 'data-experiment': x.name });
  const head = el('h3', { text: `${x.name} ` });
  head.append(el('span', { class: 'muted', text: `· scenarios ${(x.scenarios || []).join(', ') || 'all'} · control arm "${x.control}"` }));
  box.append(head, el('p', { class: 'summary', text: x.summary }));
  const arms = x.arms || [];
  const ctr = el('div', { class: 'chart' });
  const conversion = el('div', { class: 'chart' });
  box.append(el('div', { class: 'row' },
    el('div', { class: 'grow' }, el('h3', { text: `CTR (clicks / impressions), ${level} interval` }), ctr),
    el('div', { class: 'grow' }, el('h3', { text: `Conversion (purchases / impressions), ${level} interval` }), conversion)));
  const table = el('table');
  table.append(el('tr', {}, ...['Variant', 'Share', 'Impressions', 'Clicks', 'Add to cart', 'Purchases',
    'CTR', 'CTR vs control', 'Conversion', 'Conversion vs control'].map((t) => el('th', { text: t }))));
  for (const a of arms) {
    const count = (v) => el('td', { class: 'num', text: Number(v).toLocaleString() });
    table.append(el('tr', { 'data-variant': a.variant },
      el('td', { text: a.variant }), el('td', { class: 'num', text: percent(a.share) }),
      count(a.impressions), count(a.clicks), count(a.addToCarts), count(a.purchases),
      el('td', { text: proportion(a.ctr) }), versus(a.ctrVsControl, level),
      el('td', { text: proportion(a.conversion) }), versus(a.conversionVsControl, level)));
  }
  box.append(table);
  // Drawn once in the page, so that the charts take the panel's width.
  return [box, () => {
    const rows = (key) => arms.map((a) => ({ name: a.variant, value: a[key].value, low: a[key].low, high: a[key].high }));
    intervalChart(ctr, rows('ctr'));
    intervalChart(conversion, rows('conversion'));
  }];
}

async function experiments() {
  const confidence = Number(document.getElementById('ex-confidence').value);
  const report = await post('/api/experiments', { confidence });
  const level = `${+(100 * report.confidence).toFixed(1)}%`;
  const list = document.getElementById('ex-list');
  const found = report.experiments || [];
  if (!found.length) {
    list.replaceChildren(el('div', { class: 'panel unavailable', id: 'ex-none' },
      el('h3', { text: 'No A/B experiments' }),
      el('p', { text: 'This server runs none: start it with --experiments FILE (docs/experiments.md).' })));
    return;
  }
  const panels = found.map((x) => experimentPanel(x, level));
  list.replaceChildren(...panels.map(([box]) => box));
  for (const [, draw] of panels) draw();
}

// --- Shell ----------------------------------------------------------------

function currentPage() {
  const name = location.hash.replace('#', '');
  return PAGES.includes(name) ? name : 'overview';
}

async function render() {
  const page = currentPage();
  for (const name of PAGES) document.getElementById('page-' + name).hidden = name !== page;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === page);
  clearTimeout(refreshTimer);
  banner('');
  if (session.authRequired && !token()) {
    banner('Enter a bearer token above: read to view, admin for shopper profiles and model changes.', 'info');
    return;
  }
  try {
    if (page === 'overview') {
      await overview();
      refreshTimer = setTimeout(() => { if (currentPage() === 'overview') render(); }, REFRESH_MS);
    } else if (page === 'models') {
      await models();
    } else if (page === 'segments') {
      await segments(showError, openShopper);
    } else if (page === 'experiments') {
      await experiments();
    }
  } catch (error) {
    showError(error);
  }
}

// Shows `userId` on the Shopper page (from a segment's members): the id
// goes into the form, not into the URL.
function openShopper(userId) {
  document.getElementById('sh-user').value = userId;
  location.hash = 'shopper';
  document.getElementById('shopper-form').requestSubmit();
}

function handle(form, action) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    banner('');
    try {
      await action();
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = false;
    }
  });
}

function showTokenState() {
  const state = document.getElementById('token-state');
  if (!session.authRequired) state.textContent = 'server has no credentials';
  else state.textContent = token() ? 'token set' : 'no token';
}

async function start() {
  await loadSession();
  showTokenState();
  document.getElementById('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = document.getElementById('token');
    setToken(input.value.trim());
    input.value = '';
    showTokenState();
    render();
  });
  for (const knob of ['diversity', 'exploration']) {
    const input = document.getElementById('sh-' + knob);
    input.addEventListener('input', () => {
      document.getElementById(`sh-${knob}-out`).textContent = input.value;
    });
  }
  document.getElementById('sh-exploration-box').hidden = !session.exploration;
  document.getElementById('sh-exploration-none').hidden = session.exploration;
  handle(document.getElementById('shopper-form'), lookUp);
  handle(document.getElementById('event-form'), sendEvent);
  handle(document.getElementById('item-form'), showItem);
  handle(document.getElementById('ex-form'), experiments);
  document.getElementById('md-rollback').addEventListener('click', () =>
    activate({ rollback: true }, 'Roll back to the previously active version'));
  window.addEventListener('hashchange', render);
  await render();
  document.body.dataset.ready = 'true';
}

start().catch(showError);
