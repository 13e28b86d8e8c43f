// The business console in headless Chromium against a `serve --demo`
// server: sign in with a key, open every page, screenshot it, and check
// that each number shown equals what the JSON API returns.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';

const { BASE, ADMIN, ANALYST, SHOTS = 'target/browser-screenshots', TOUR } = process.env;
const results = [];
await mkdir(SHOTS, { recursive: true });
// Screenshots for docs/tour.md: the visible viewport only, to keep them small.
const tour = (name) => (TOUR ? page.screenshot({ path: `${TOUR}/${name}.png` }) : null);

async function test(name, fn) {
  try {
    await fn();
    results.push([name, true]);
    console.log(`  ok   ${name}`);
  } catch (e) {
    results.push([name, false]);
    console.log(`  FAIL ${name}\n${e.stack || e}`);
  }
}

async function get(path, key = ADMIN) {
  const r = await fetch(`${BASE}${path}`, { headers: { Authorization: `Bearer ${key}` } });
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return r.json();
}

// The console's own formatting (app.js `fmt`).
const int = (n) => Number(n).toLocaleString('en-US');
const pct = (x) => `${(x * 100).toFixed(1)}%`;

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const external = [];
const consoleErrors = [];
page.on('request', (r) => { if (!r.url().startsWith(BASE)) external.push(r.url()); });
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push(String(e)));
const failed = [];
page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${new URL(r.url()).pathname}`); });

const shown = (key) => page.locator(`[data-key="${key}"]`).textContent();
const ready = (name) => page.locator(`#page[data-ready="${name}"]`).waitFor();

await test('sign in with the keyboard; a wrong key is refused', async () => {
  await page.goto(`${BASE}/console`);
  await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
  await page.getByLabel('API key').fill('fl_admin_wrong');
  await page.keyboard.press('Enter');
  await page.getByRole('alert').filter({ hasText: 'That key is not valid.' }).waitFor();
  await page.getByLabel('API key').fill(ADMIN);
  await page.keyboard.press('Enter');
  await ready('overview');
  const nav = page.getByRole('navigation', { name: 'Console pages' });
  for (const name of ['Overview', 'Insights', 'Foot traffic', 'Recommendations']) {
    assert.ok(await nav.getByRole('link', { name }).isVisible(), name);
  }
  assert.equal(await nav.getByRole('link', { name: 'Overview' }).getAttribute('aria-current'), 'page');
});

await test('overview shows the API\'s consent, event and policy figures', async () => {
  const from = await page.getByLabel('From (UTC)').inputValue();
  const to = await page.getByLabel('To (UTC)').inputValue();
  const o = await get(`/v1/console/overview?from=${from}&to=${to}`);
  const last = o.consent[o.consent.length - 1];
  assert.ok(last.subjects > 100, 'the demo shop has customers');
  assert.equal(await shown('consent-subjects'), int(last.subjects));
  for (const p of Object.keys(last.given)) {
    assert.equal(await shown(`consent-given-${p}`), int(last.given[p]), p);
    assert.equal(await shown(`consent-rate-${p}`), pct(last.rate[p]), p);
  }
  assert.ok(o.events.since_start.accepted > 0);
  assert.equal(await shown('events-accepted'), int(o.events.since_start.accepted));
  for (const [reason, n] of Object.entries(o.events.since_start.rejected)) {
    assert.equal(await shown(`events-rejected-${reason}`), int(n), reason);
  }
  const today = o.events.days[o.events.days.length - 1];
  assert.equal(await shown(`events-day-${today.day}-accepted`), int(today.accepted));
  assert.equal(await page.locator(`[data-key="policy-1"]`).count() > 0, true);
  assert.equal(await page.locator('figure canvas').count() >= 2, true, 'two uPlot charts drawn');
  await page.screenshot({ path: `${SHOTS}/console-overview.png`, fullPage: true });
  await tour('tour-overview');
});

await test('insights: the default query on the demo reads well: no negative count, intervals narrower than the biggest answers', async () => {
  await page.getByRole('link', { name: 'Insights' }).click();
  await ready('insights');
  // Before running, the form says what ± the chosen cost buys.
  await page.locator('#q-expect').filter({ hasText: 'each value will be within ±' }).waitFor();
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/v1/insights/query')),
    page.getByRole('button', { name: 'Run query' }).click(),
  ]);
  assert.equal(resp.status(), 200);
  const answer = await resp.json();
  // Six full days of the demo's last week, and today once enough people
  // were active in it to pass a floor of distinct people per group.
  assert.ok(answer.groups.length === 6 || answer.groups.length === 7, `${answer.groups.length} groups`);
  await page.locator('[data-key="q-value-5"]').waitFor();
  for (const [i, g] of answer.groups.entries()) {
    assert.ok(g.displayed >= 0, `group ${i}: displayed ${g.displayed}`);
    assert.equal(await shown(`q-value-${i}`), int(g.displayed));
    assert.ok(!(await shown(`q-value-${i}`)).startsWith('-'));
  }
  const biggest = [...answer.groups].sort((a, b) => b.displayed - a.displayed).slice(0, 3);
  for (const g of biggest) {
    assert.ok(g.ci95[1] - g.ci95[0] < g.displayed, `${JSON.stringify(g.key)}: interval ${g.ci95} vs ${g.displayed}`);
  }
  assert.ok((await shown('q-explain')).includes('95 times in 100'));
  // After an answer, the form sets the ± against the slice's size.
  await page.locator('#q-expect').filter({ hasText: 'biggest group at about' }).waitFor();
  await tour('tour-insights');
});

await test('insights: a query\'s bars, intervals, budget and releases equal the API\'s', async () => {
  let b = await get('/v1/insights/budget');
  assert.equal(await shown('budget-remaining-rho'), String(b.remaining_nano_rho / 1e9));
  await page.getByLabel('Group by').selectOption('day');
  await page.getByLabel('Event types (comma separated)').fill('view,purchase');
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/v1/insights/query')),
    page.getByRole('button', { name: 'Run query' }).click(),
  ]);
  assert.equal(resp.status(), 200);
  const answer = await resp.json();
  // The demo's last week: six full days, and today once it has passed the
  // floor of distinct people; a day under the floor is not released.
  assert.equal(answer.min_subjects, 100, 'the default floor');
  assert.ok(answer.groups.length === 6 || answer.groups.length === 7, `${answer.groups.length} groups`);
  await page.locator('[data-key="q-value-5"]').waitFor();
  assert.equal(await shown('q-floor'), 'Groups of fewer than 100 people are never shown.');
  for (const [i, g] of answer.groups.entries()) {
    assert.equal(await shown(`q-value-${i}`), int(g.displayed));
    assert.equal(await shown(`q-estimate-${i}`), g.value.toFixed(1));
    const lo = Math.round(Math.max(0, g.ci95[0]));
    const hi = Math.round(Math.max(0, g.ci95[1]));
    assert.equal(await shown(`q-ci-${i}`), `${int(lo)} to ${int(hi)}`);
  }
  assert.ok(await page.locator('#q-result canvas').count() >= 1, 'bar chart drawn');
  b = await get('/v1/insights/budget');
  assert.equal(await shown('budget-remaining-rho'), String(b.remaining_nano_rho / 1e9));
  assert.equal(await shown('budget-remaining-epsilon'), b.remaining_epsilon.toFixed(3));
  const rel = await get('/v1/insights/releases');
  await page.locator('[data-key="release-0-ledger"]').waitFor();
  const n = rel.releases.length;
  assert.equal(await shown('releases-count'), `${n} release${n === 1 ? '' : 's'} in ${rel.period}`);
  assert.equal(await shown('release-0-ledger'), `#${rel.releases[0].ledger_index}`);
  assert.equal(await shown('release-0-rho'), String(rel.releases[0].cost_nano_rho / 1e9));
  await page.screenshot({ path: `${SHOTS}/console-insights.png`, fullPage: true });
});

await test('foot traffic: the published DP figures and intervals equal the store report', async () => {
  await page.getByRole('link', { name: 'Foot traffic' }).click();
  await ready('footfall');
  const store = await page.locator('#ff-store').inputValue();
  const from = await page.locator('#ff-from').inputValue();
  const to = await page.locator('#ff-to').inputValue();
  // The page's own request published the closed days; this one reads the
  // same release back, so every figure must match to the unit.
  const r = await get(`/v1/footfall/stores/${store}/report?from=${from}&to=${to}`);
  assert.equal(r.newly_published, 0, 'the console already published these days');
  assert.ok(r.days.length > 0, 'the demo store has closed days');
  const sum = (k) => r.days.reduce((a, d) => a + d[k].value, 0);
  assert.equal(await shown('ff-visitors-total'), int(sum('visitors')));
  for (const d of r.days) {
    assert.equal(await shown(`ff-day-${d.day}-visitors`), int(d.visitors.value), d.day);
    assert.equal(await shown(`ff-day-${d.day}-visitors-ci`), `${int(d.visitors.low)} to ${int(d.visitors.high)}`, d.day);
    assert.equal(await shown(`ff-day-${d.day}-new`), int(d.new_visitors.value), d.day);
    assert.equal(await shown(`ff-day-${d.day}-repeat`), int(d.repeat_visitors.value), d.day);
    assert.equal(await shown(`ff-day-${d.day}-ledger`), `#${d.ledger_index}`, d.day);
  }
  for (let i = 0; i < 4; i++) {
    assert.equal(await shown(`ff-dwell-${i}`), int(r.days.reduce((a, d) => a + d.dwell_buckets[i].value, 0)));
  }
  // A range's interval is wider than any one day's, narrower than their sum.
  const [lo, hi] = (await shown('ff-visitors-total-ci')).split(' to ').map((t) => Number(t.replaceAll(',', '')));
  const widest = Math.max(...r.days.map((d) => d.visitors.high - d.visitors.low));
  const summed = r.days.reduce((a, d) => a + d.visitors.high - d.visitors.low, 0);
  assert.ok(lo < sum('visitors') && sum('visitors') < hi, `${lo} ${hi}`);
  assert.ok(r.days.length === 1 || (hi - lo > widest && hi - lo < summed), `${hi - lo} vs ${widest}, ${summed}`);
  assert.ok(await page.locator('#footfall canvas').count() >= 3, 'three charts drawn');
  // Legends name the hovered day or show a dash, never an empty "Time:".
  const legends = await page.locator('.u-legend').allTextContents();
  assert.ok(legends.length > 0 && legends.every((t) => !/Time/.test(t)), legends.join(' | '));
  assert.ok((await page.locator('#footfall').textContent()).length > 0);
  await tour('tour-footfall');
  await page.screenshot({ path: `${SHOTS}/console-footfall.png`, fullPage: true });
});

await test('recommendations: model status and a test customer\'s list equal the API\'s', async () => {
  await page.getByRole('link', { name: 'Recommendations' }).click();
  await ready('recs');
  const s = await get('/v1/recs/status');
  assert.equal(await shown('recs-algorithm'), s.algorithm);
  assert.equal(await shown('recs-events'), int(s.events_used));
  if (s.holdout) assert.equal(await shown('recs-p10'), s.holdout.precision_at_10.toFixed(4));
  const subject = 'customer-000001@example.com';
  await page.getByLabel('Test customer id').fill(subject);
  await page.getByLabel('How many').fill('5');
  await page.getByRole('button', { name: 'Recommend' }).click();
  await page.locator('[data-key="r-tier"]').waitFor();
  const r = await get(`/v1/subjects/${encodeURIComponent(subject)}/recommendations?n=5`);
  assert.ok(r.items.length > 0);
  assert.equal(r.tier, 'personalized');
  for (const [i, it] of r.items.entries()) {
    const text = await shown(`r-item-${i}`);
    assert.ok(text.includes(`(${it.item})`) && text.includes(it.reason), `${i}: ${text}`);
    // Items by name: the demo catalogue's title and category, on the page too.
    assert.ok(it.title && it.category, JSON.stringify(it));
    assert.ok(text.includes(it.title), `${i}: ${text}`);
  }
  // A reason names an item by its title: "because you viewed Trail Jacket".
  const named = r.items.filter((it) => it.because_title);
  assert.ok(named.length > 0, JSON.stringify(r.items));
  for (const it of named) assert.ok(it.reason.endsWith(it.because_title), it.reason);
  const i = r.items.indexOf(named[0]);
  assert.ok((await shown(`r-item-${i}`)).includes(named[0].because_title));
  if (s.holdout) assert.ok(s.holdout.users >= 1000, 'the holdout is a real sample');
  await tour('tour-recommendations');
  await page.screenshot({ path: `${SHOTS}/console-recs.png`, fullPage: true });
});

await test('personas: devices per level, withdrawals and check-ins equal the API\'s', async () => {
  await page.getByRole('link', { name: 'Personas' }).click();
  await ready('persona');
  // The page's request published the closed days; this one reads the same figures.
  const f = await get('/v1/console/persona');
  for (const l of f.levels) assert.equal(await shown(`persona-level-${l.level}`), int(l.devices), `level ${l.level}`);
  assert.equal(await shown('persona-withdrawals'), int(f.withdrawals));
  for (const c of f.checkins) {
    assert.equal(await shown(`persona-checkins-${c.store_id}`), `${int(c.anonymous)} ± ${int(c.anonymous_half_width)}`, c.store_id);
  }
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/console-persona.png`, fullPage: true });
});

await test('an analyst sees insights only', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const p = await ctx.newPage();
  p.on('request', (r) => { if (!r.url().startsWith(BASE)) external.push(r.url()); });
  await p.goto(`${BASE}/console#overview`);
  await p.getByLabel('API key').fill(ANALYST);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.locator('#page[data-ready="insights"]').waitFor();
  const nav = p.getByRole('navigation', { name: 'Console pages' });
  assert.equal(await nav.getByRole('link', { name: 'Overview' }).isVisible(), false);
  assert.equal(await nav.getByRole('link', { name: 'Insights' }).isVisible(), true);
  const b = await get('/v1/insights/budget', ANALYST);
  assert.equal(await p.locator('[data-key="budget-remaining-rho"]').textContent(), String(b.remaining_nano_rho / 1e9));
  await p.screenshot({ path: `${SHOTS}/console-analyst.png`, fullPage: true });
  // Signing out forgets the key.
  await p.getByRole('button', { name: 'Sign out' }).click();
  await p.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
  assert.equal(await p.evaluate(() => sessionStorage.length), 0);
  await ctx.close();
});

await test('no external request, no CSP violation, no script error', async () => {
  assert.deepEqual(external, []);
  // The one refusal expected is the wrong key's sign-in attempt.
  assert.deepEqual(failed, ['401 /v1/console/session']);
  assert.deepEqual(consoleErrors.filter((e) => !/status of 401/.test(e)), []);
});

await browser.close();
const passed = results.filter(([, ok]) => ok).length;
const failures = results.length - passed;
console.log(`browser (console): ${passed} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
