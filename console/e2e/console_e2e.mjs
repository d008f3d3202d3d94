// The console in a real browser: the system Chromium driven by
// playwright-core (nothing downloaded), against `aisle serve --demo` with
// bearer tokens and the example A/B experiment
// (docs/experiments.example.json). Checks that every page loads without
// console errors, that a user lookup shows recommendations with reasons,
// that a test event changes the next list, that the exploration knob
// changes it, that a category filter keeps only that category, that the
// shopper's learned segment links to the Segments
// page, which charts every segment's size as the API answers it with a
// profile each and opens a member on the Shopper page without putting the
// user id in the URL, that the item page counts what was sent for the item, that
// the experiments page shows every arm with the impressions, clicks and
// purchases sent with the lists' recommendation ids, and that a model
// rollback works with an admin token and is refused with a read token.
// Writes a screenshot of each page to $AISLE_CONSOLE_SHOTS (default
// build/console-e2e).
//
// Environment: AISLE_BIN (the aisle binary, required), CHROMIUM (default
// /usr/bin/chromium), AISLE_CONSOLE_SHOTS.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const bin = process.env.AISLE_BIN;
const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';
const shots = path.resolve(process.env.AISLE_CONSOLE_SHOTS || 'build/console-e2e');
const STEP_TIMEOUT_MS = 30_000;
const START_TIMEOUT_MS = 300_000;

if (!bin || !fs.existsSync(bin)) {
  console.error('console e2e: set AISLE_BIN to the built aisle binary (e.g. build/aisle)');
  process.exit(2);
}
if (!fs.existsSync(browserPath)) {
  console.error(`console e2e: no Chromium at ${browserPath}; run scripts/setup.sh (apt-get install chromium) or set CHROMIUM`);
  process.exit(2);
}
fs.mkdirSync(shots, { recursive: true });

const started = Date.now();
const log = (message) => console.log(`[console e2e ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
let failures = 0;
function check(condition, what) {
  if (condition) {
    log(`ok: ${what}`);
  } else {
    failures++;
    log(`FAIL: ${what}`);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function until(what, timeoutMs, probe) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = String(error.message || error);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} ${last}`);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aisle-console-e2e-'));
const readToken = 'read-' + crypto.randomBytes(16).toString('hex');
const adminToken = 'admin-' + crypto.randomBytes(16).toString('hex');
fs.writeFileSync(path.join(dir, 'tokens'), `read ${readToken}\nadmin ${adminToken}\n`);
const grpcPort = await freePort();
const consolePort = await freePort();
const base = `http://127.0.0.1:${consolePort}`;
const serverLog = fs.openSync(path.join(shots, 'server.log'), 'w');
const data = path.join(dir, 'data');
log(`starting aisle serve --demo (console on ${base})`);
// --max-queue-delay: this test is about the console, not overload. On a
// busy 2-core CI machine a Recommend of the Shopper page's three parallel
// lists can wait past the 20 ms default and be shed (429, a console
// error); overload has its own tests (scripts/overload.sh).
const server = spawn(bin, ['serve', '--demo', '--data-dir', data, '--host', '127.0.0.1',
  '--port', String(grpcPort), '--metrics-port', '-1', '--console-port', String(consolePort),
  '--max-queue-delay', '5s',
  '--auth-tokens', path.join(dir, 'tokens'), '--model-poll-interval', '1s', '--log-level', 'warn',
  '--experiments', path.resolve('docs/experiments.example.json')],
{ stdio: ['ignore', serverLog, serverLog] });
let exited = null;
server.on('exit', (code, signal) => { exited = signal || code; });

async function api(method, route, bearer, body) {
  const headers = { Authorization: `Bearer ${bearer}` };
  if (method === 'POST') {
    if (!api.csrf) api.csrf = (await (await fetch(base + '/api/session')).json()).csrfToken;
    Object.assign(headers, { 'Content-Type': 'application/json', 'X-Aisle-Csrf': api.csrf });
  }
  const answer = await fetch(base + route, { method, headers, body: body && JSON.stringify(body) });
  return { status: answer.status, json: await answer.json().catch(() => ({})) };
}

// Shoppers of the A/B experiment get a FOR_YOU list each, "see" it
// (IMPRESSION events with the list's recommendation id) and click or buy
// by a fixed pattern per arm. Returns what was sent per variant, and the
// purchases per item.
const PATTERN = { control: [1, 0], diverse: [2, 1], explore: [1, 1] };  // clicks, purchases per 2 users
async function runExperiment(users) {
  const sent = {};
  const bought = new Map();
  for (let u = 0; u < users; u++) {
    const userId = `u${300 + u}`;
    const list = await api('POST', '/api/recommend', adminToken, { userId, scenario: 'FOR_YOU', count: 4 });
    if (list.status !== 200) throw new Error(`recommend for ${userId}: ${JSON.stringify(list.json)}`);
    const { variant, recommendationId, items } = list.json.response;
    const arm = sent[variant] || (sent[variant] = { impressions: 0, clicks: 0, purchases: 0 });
    const [clicks, purchases] = PATTERN[variant] || [0, 0];
    const events = [];
    const add = (item, type) => events.push({ userId, itemId: item.itemId, type, recommendationId });
    items.forEach((item) => add(item, 'IMPRESSION'));
    arm.impressions += items.length;
    if (u % 2 === 0) {
      items.slice(0, clicks).forEach((item) => add(item, 'CLICK'));
      arm.clicks += Math.min(clicks, items.length);
      items.slice(0, purchases).forEach((item) => {
        add(item, 'PURCHASE');
        bought.set(item.itemId, (bought.get(item.itemId) || 0) + 1);
      });
      arm.purchases += Math.min(purchases, items.length);
    }
    const stored = await api('POST', '/api/feedback', adminToken, { events });
    if (stored.status !== 200) throw new Error(`feedback for ${userId}: ${JSON.stringify(stored.json)}`);
  }
  return { sent, bought };
}

// The shopper on the page has a learned segment (the demo model learns
// 6): its link opens the Segments page at that segment, which shows every
// segment with the size ListSegments answers, a chart and a profile; a
// member opens on the Shopper page with their segment and no user id in
// the URL.
async function checkSegments(page, bearer) {
  const shopper = await page.inputValue('#sh-user');
  await page.waitForSelector('#sh-segment');
  const segmentId = await page.getAttribute('#sh-segment', 'data-segment-id');
  const categories = await page.$$eval('#sh-profile ul.shares li', (li) => li.map((l) => l.dataset.category));
  check(segmentId !== null && categories.length > 0,
    `shopper ${shopper}: learned segment #${segmentId} "${await page.textContent('#sh-segment a')}", top categories ${categories}`);
  await page.click('#sh-segment a');
  await page.waitForSelector(`#sg-list .segment.focus[data-segment-id="${segmentId}"]`);
  const listed = await api('GET', '/api/segments', bearer);
  const expected = Object.fromEntries((listed.json.segments?.segments || []).map((s) => [s.id, Number(s.members)]));
  const shown = JSON.parse(await page.getAttribute('#sg-sizes', 'data-members'));
  const panels = await page.$$eval('#sg-list .segment', (list) => list.map((p) => ({
    id: Number(p.dataset.segmentId),
    members: Number(p.querySelector('dl.facts dd').textContent.replace(/\D/g, '')),
    categories: p.querySelectorAll('ul.shares li').length,
    items: p.querySelectorAll('.item-card .title').length,
  })));
  check(Object.keys(expected).length > 0 && JSON.stringify(shown) === JSON.stringify(expected),
    `segments: the chart's sizes are ListSegments' (${JSON.stringify(shown)})`);
  check(panels.length === Object.keys(expected).length &&
    panels.every((p) => p.members === expected[p.id] && p.categories > 0 && p.items > 0),
    `segments: one profile each with its size, top categories and item cards (${JSON.stringify(panels)})`);
  const bars = await page.$$eval('#sg-sizes svg rect.bar', (r) => r.length);
  check(bars === 2 * panels.length, `segments: members now and at training charted (${bars} bars)`);
  // The chart and the first two rows of profiles (the rest repeat them).
  const bottom = await page.$$eval('#sg-list .segment', (list) => {
    const last = list[Math.min(3, list.length - 1)];
    return last.getBoundingClientRect().bottom + window.scrollY;
  });
  await page.screenshot({ path: path.join(shots, 'segments.png'), fullPage: true,
    clip: { x: 0, y: 0, width: 1360, height: Math.ceil(bottom) + 16 } });
  // A member of the shopper's segment, opened on the Shopper page.
  const panel = `#sg-list .segment[data-segment-id="${segmentId}"]`;
  await page.click(`${panel} button.members-open`);
  await page.waitForSelector(`${panel} .members button[data-user-id]`);
  const members = await page.$$eval(`${panel} .members button`, (b) => b.map((x) => x.dataset.userId));
  const member = members.find((m) => m !== shopper) || members[0];
  await page.click(`${panel} .members button[data-user-id="${member}"]`);
  await page.waitForFunction((m) => {
    const p = document.querySelector('#sh-profile dd');
    return p && p.textContent === m && !document.getElementById('sh-go').disabled;
  }, member);
  const memberSegment = await page.getAttribute('#sh-segment', 'data-segment-id');
  check(memberSegment === segmentId && !page.url().includes(member),
    `segments: member ${member} of ${members.length} listed opens on the Shopper page in segment #${memberSegment}; URL ${page.url()}`);
}

let browser = null;
try {
  await until('the demo server to load', START_TIMEOUT_MS, async () => {
    if (exited !== null) throw new Error(`the server exited (${exited}); see ${shots}/server.log`);
    return (await api('GET', '/api/overview', readToken)).status === 200;
  });
  log('server ready; training a second model version for the rollback');
  const train = spawnSync(bin, ['train', '--data-dir', data, '--iterations', '3', '--factors', '16'],
    { encoding: 'utf8', timeout: 240_000 });
  check(train.status === 0, `aisle train exits 0 ${train.status === 0 ? '' : train.stderr}`);
  const models = await until('two model versions', 120_000, async () => {
    const answer = await api('GET', '/api/models', readToken);
    return answer.json.models && answer.json.models.length >= 2 ? answer.json : null;
  });
  log(`model versions: ${models.models.map((m) => m.version).join(', ')}; active ${models.activeVersion}`);
  const experiment = await runExperiment(90);
  log(`experiment events sent: ${JSON.stringify(experiment.sent)}`);

  browser = await chromium.launch({ executablePath: browserPath, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  // Which call a "Failed to load resource" error was, and what it said.
  page.on('response', async (r) => {
    if (r.status() >= 400) log(`HTTP ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}: ${await r.text().catch(() => '')}`);
  });

  await page.goto(base + '/');
  await page.waitForSelector('body[data-ready=true]');
  await page.fill('#token', adminToken);
  await page.click('#token-form button');
  check((await page.textContent('#token-state')) === 'token set', 'the token is taken');
  check(!page.url().includes(adminToken), 'the token is not in the URL');

  // Overview: cards, and charts once two samples exist.
  await page.waitForSelector('#ov-cards .card');
  await page.waitForSelector('#ov-rates svg', { timeout: 20_000 });
  const catalog = await page.textContent('#ov-cards .card .value');
  check(Number(catalog.replace(/\D/g, '')) > 0, `overview shows the catalog size (${catalog})`);
  const model = await page.textContent('#ov-model dl');
  check(/holdout_ndcg@10/.test(model) && / ago\)/.test(model),
    'overview shows the active model with its holdout figures and age');
  const cards = await page.$$eval('#ov-cards .card .label', (labels) => labels.map((l) => l.textContent));
  check(['Shed / s', 'Calls shed', 'Recommend / s', 'Feedback / s', 'Events / s'].every((c) => cards.includes(c)),
    `overview shows rates and load shedding (${cards})`);

  // Shopper: lists with reasons, then a test event changes the next list.
  await page.click('a[data-page=shopper]');
  await page.fill('#sh-user', 'u42');
  await page.click('#sh-go');
  await page.waitForSelector('#sh-lists .item-card');
  await page.waitForSelector('#sh-profile dl');
  const forYou = () => page.$$eval('#sh-lists .list:first-child .item-card', (cards) => cards.map((c) => c.dataset.itemId));
  const before = await forYou();
  const reasons = await page.$$eval('#sh-lists .list:first-child .reasons li', (items) => items.map((i) => i.textContent));
  check(before.length > 0, `u42 gets ${before.length} "for you" items`);
  check(reasons.length > 0 && reasons.every((r) => r.trim().length > 0), `each with reasons (e.g. "${reasons[0]}")`);
  await page.screenshot({ path: path.join(shots, 'shopper.png'), fullPage: true });
  // Buying the top item: a bought item is not recommended again, so the
  // next list must differ.
  await page.fill('#ev-item', before[0]);
  await page.selectOption('#ev-type', 'PURCHASE');
  await page.click('#ev-send');
  await page.waitForFunction(() => document.getElementById('ev-result').textContent.startsWith('stored'));
  await page.waitForFunction(() => !document.getElementById('ev-send').disabled);
  const after = await forYou();
  check(JSON.stringify(after) !== JSON.stringify(before) && !after.includes(before[0]),
    `the test event changed the next list (${before[0]} gone; ${before.slice(0, 3)} -> ${after.slice(0, 3)})`);
  const timelineFirst = await page.getAttribute('#sh-timeline .step', 'data-item-id');
  check(timelineFirst === before[0], 'the event is first on the timeline');
  const timelineType = await page.getAttribute('#sh-timeline .step', 'data-type');
  check(timelineType === 'PURCHASE', `the timeline names the event's type (${timelineType})`);
  // The exploration knob: full exploration re-ranks the list (u42's arm,
  // "control", sets no exploration of its own, so the knob is used).
  const arm = await page.textContent('#sh-lists .list:first-child .arm');
  await page.$eval('#sh-exploration', (knob) => {
    knob.value = '1';
    knob.dispatchEvent(new Event('input'));
  });
  await page.click('#sh-go');
  await page.waitForFunction(() => !document.getElementById('sh-go').disabled);
  const explored = await forYou();
  check(JSON.stringify(explored) !== JSON.stringify(after),
    `exploration 1 changes the list (${arm}: ${after.slice(0, 3)} -> ${explored.slice(0, 3)})`);
  await page.$eval('#sh-exploration', (knob) => {
    knob.value = '0';
    knob.dispatchEvent(new Event('input'));
  });
  // A filter: only the top-level category of the list's first item.
  const unfiltered = await forYou();
  const top = (await page.getAttribute('#sh-lists .list:first-child .item-card', 'data-categories')).split('/')[0];
  await page.fill('#sh-include', top);
  await page.click('#sh-go');
  await page.waitForFunction(() => !document.getElementById('sh-go').disabled);
  const filtered = await page.$$eval('#sh-lists .list:first-child .item-card', (cards) => cards.map((c) => c.dataset.categories));
  check(filtered.length > 0 && filtered.every((c) => c.split('|').some((path) => path === top || path.startsWith(top + '/'))) &&
    JSON.stringify(await forYou()) !== JSON.stringify(unfiltered),
    `the "only categories ${top}" filter changes the list to ${filtered.length} items all in ${top}`);
  await page.fill('#sh-include', '');
  await checkSegments(page, readToken);

  // Item page.
  await page.click('a[data-page=item]');
  await page.fill('#it-id', before[0]);
  await page.click('#it-go');
  await page.waitForSelector('#it-lists .item-card');
  check((await page.textContent('#it-details h3')).length > 0, 'the item page shows the item');
  // Bought once by the test event, and by the experiment's shoppers; shown
  // on the shopper's list at least once.
  const counts = JSON.parse(await page.getAttribute('#it-activity', 'data-counts'));
  const boughtSent = 1 + (experiment.bought.get(before[0]) || 0);
  check(counts.bought === boughtSent && counts.recommended >= 1 && await page.isVisible('#it-activity svg'),
    `the item page counts ${before[0]}: ${JSON.stringify(counts)} (bought ${boughtSent} times by this test)`);
  await page.screenshot({ path: path.join(shots, 'item.png'), fullPage: true });

  // Models: roll back with the admin token.
  await page.click('a[data-page=models]');
  await page.waitForSelector('#md-table tr[data-version]');
  const active = () => page.getAttribute('#md-table tr.active-model', 'data-version');
  const activeBefore = await active();
  // The holdout figures side by side: a visible bar per figure and version.
  const chart = await page.$$eval('#md-chart svg rect.bar', (bars) => bars.map((b) => Number(b.getAttribute('height'))));
  const figures = Object.keys(models.models[0].metrics || {}).filter((k) => k.startsWith('holdout_')).length;
  check(figures > 0 && chart.length === figures * models.models.length && chart.every((h) => h > 1),
    `models: ${figures} holdout figures charted for ${models.models.length} versions, every bar visible (heights ${chart.map((h) => h.toFixed(0))})`);
  await page.screenshot({ path: path.join(shots, 'models.png'), fullPage: true });
  await page.click('#md-rollback');
  await page.click('#confirm-ok');
  await page.waitForFunction((v) => {
    const row = document.querySelector('#md-table tr.active-model');
    return row && row.dataset.version !== v;
  }, activeBefore);
  const activeAfter = await active();
  const server1 = await api('GET', '/api/models', readToken);
  check(activeAfter !== activeBefore && server1.json.activeVersion === activeAfter,
    `rollback with admin: ${activeBefore} -> ${activeAfter}`);

  // Experiments: every arm with what was sent, interval charts, verdicts.
  await page.click('a[data-page=experiments]');
  await page.waitForSelector('#ex-list .experiment tr[data-variant]');
  const arms = await page.$$eval('#ex-list .experiment tr[data-variant]', (rows) => rows.map((r) => {
    const n = (i) => Number(r.children[i].textContent.replace(/\D/g, ''));
    return { variant: r.dataset.variant, impressions: n(2), clicks: n(3), purchases: n(5), verdict: r.children[7].textContent };
  }));
  const variants = Object.keys(experiment.sent).sort();
  check(variants.length >= 2 && JSON.stringify(arms.map((a) => a.variant).sort()) === JSON.stringify(variants),
    `experiments: one row per arm (${arms.map((a) => a.variant)})`);
  check(arms.every((a) => { const s = experiment.sent[a.variant]; return s && s.impressions > 0 && a.impressions === s.impressions && a.clicks === s.clicks && a.purchases === s.purchases; }),
    `experiments: the counts sent per arm (${JSON.stringify(arms)})`);
  check(arms.slice(1).every((a) => /significant at 95%/.test(a.verdict)),
    'experiments: each arm against the control, significant at 95% or not');
  const intervals = await page.$$eval('#ex-list .experiment g.interval', (g) => g.length);
  check(intervals === 2 * arms.length, `experiments: CTR and conversion intervals charted (${intervals} bars)`);
  await page.screenshot({ path: path.join(shots, 'experiments.png'), fullPage: true });
  // The overview again, once it has redrawn with the calls made above.
  await page.click('a[data-page=overview]');
  await page.waitForSelector('#ov-rates svg');
  await page.evaluate(() => { window.drawnBefore = document.querySelector('#ov-rates svg'); });
  await page.waitForFunction(() => document.querySelector('#ov-rates svg') !== window.drawnBefore);
  await page.screenshot({ path: path.join(shots, 'overview.png'), fullPage: true });
  check(errors.length === 0, `no console errors on any page ${errors.join(' | ')}`);

  // A read token: the same rollback is refused and nothing changes.
  const readContext = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
  const reader = await readContext.newPage();
  reader.setDefaultTimeout(STEP_TIMEOUT_MS);
  await reader.goto(base + '/#models');
  await reader.waitForSelector('body[data-ready=true]');
  check((await reader.textContent('#token-state')) === 'no token', 'a new tab starts without the token');
  await reader.fill('#token', readToken);
  await reader.click('#token-form button');
  await reader.waitForSelector('#md-table tr[data-version]');
  await reader.click('#md-rollback');
  await reader.click('#confirm-ok');
  await reader.waitForFunction(() => document.getElementById('banner').textContent.startsWith('Refused'));
  const server2 = await api('GET', '/api/models', readToken);
  check(server2.json.activeVersion === activeAfter,
    `rollback with a read token refused: "${await reader.textContent('#banner')}"`);
  await readContext.close();
  await context.close();
} catch (error) {
  failures++;
  log(`FAIL: ${error.message}`);
} finally {
  if (browser) await browser.close();
  if (exited === null) {
    server.kill('SIGTERM');
    await until('the server to stop', 30_000, async () => exited !== null).catch(() => server.kill('SIGKILL'));
  }
  fs.rmSync(dir, { recursive: true, force: true });
}
log(`${failures === 0 ? 'PASSED' : `FAILED (${failures})`}; screenshots in ${shots}`);
process.exit(failures === 0 ? 0 : 1);
