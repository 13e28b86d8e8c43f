// Insights: build a differentially private query, see each group's value
// with its 95% interval, the budget left, and the releases made so far.
import { api, el, table, fmt, daysAgo, status } from './app.js';
import { barChart, gauge } from './charts.js';

const NANO = 1e9;

function keyLabel(key) {
  const parts = Object.values(key);
  return parts.length ? parts.join(' · ') : 'all';
}

// What the last answer said about each measure and grouping: its biggest
// displayed group, as a rough size of the slice (post-processing a release
// already made: it costs nothing).
const lastSize = new Map();

export async function render(root) {
  const field = (label, input) => el('label', {}, label, input);
  const metric = el('select', { id: 'q-metric' },
    el('option', { value: 'count' }, 'Events (count)'),
    el('option', { value: 'distinct_subjects' }, 'People (distinct)'));
  const types = el('input', { id: 'q-types', value: 'view', size: 18, 'aria-describedby': 'q-types-help' });
  const group = el('select', { id: 'q-group' },
    el('option', { value: 'day' }, 'Day'),
    el('option', { value: 'item_category' }, 'Item category'),
    el('option', { value: 'hour' }, 'Hour of day'),
    el('option', { value: '' }, 'Nothing (one total)'));
  const from = el('input', { type: 'date', id: 'q-from', value: daysAgo(6) });
  const to = el('input', { type: 'date', id: 'q-to', value: daysAgo(0) });
  const COSTS = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1];
  const cost = el('select', { id: 'q-cost', 'aria-describedby': 'q-expect' },
    ...COSTS.map((r) => el('option', { value: String(Math.round(r * NANO)), selected: r === 0.01 }, `ρ = ${r}`)));
  const form = el('form', { class: 'controls', 'aria-labelledby': 'h-query' },
    field('Measure', metric), field('Event types (comma separated)', types), field('Group by', group),
    field('From (UTC)', from), field('To (UTC)', to), field('Privacy cost', cost),
    el('button', { type: 'submit' }, 'Run query'));
  const expect = el('p', { id: 'q-expect', class: 'note', 'aria-live': 'polite' });
  const result = el('div', { id: 'q-result', 'aria-live': 'polite' });
  const budgetBox = el('div', { id: 'budget' });
  const releasesBox = el('div', { id: 'releases' });
  root.append(
    el('section', { class: 'card' }, el('h2', { id: 'h-query' }, 'Ask a question'),
      el('p', { class: 'muted', id: 'q-types-help' }, 'Only people who allow partner insights count. Every answer is noisy on purpose, charged to your monthly privacy budget and written to the public ledger before you see it.'),
      form, expect, result),
    el('div', { class: 'grid' },
      el('section', { class: 'card', 'aria-labelledby': 'h-budget' }, el('h2', { id: 'h-budget' }, 'Privacy budget left'), budgetBox),
      el('section', { class: 'card', 'aria-labelledby': 'h-releases' }, el('h2', { id: 'h-releases' }, 'Releases this month'), releasesBox)));

  const build = (nanoRho) => ({
    metric: { kind: metric.value },
    event_types: types.value.split(',').map((t) => t.trim()).filter(Boolean),
    group_by: group.value ? [{ kind: group.value }] : [],
    filters: [{ kind: 'time_range', from: Date.parse(`${from.value}T00:00:00Z`), to: Date.parse(`${to.value}T00:00:00Z`) + 86400000 }],
    cost_nano_rho: nanoRho,
  });
  let budget = await api('/v1/insights/budget');
  // Before anything runs: the ± this cost buys (noise does not depend on
  // the data), set against the slice's rough size when a previous answer
  // gave one, and the cheapest offered cost that makes it useful.
  const preview = async () => {
    const shape = `${metric.value}|${group.value}`;
    try {
      const p = await api('/v1/insights/plan', { method: 'POST', body: JSON.stringify(build(Number(cost.value))) });
      if (p.ci95_half_width == null) { expect.textContent = ''; return; }
      const hw = p.ci95_half_width;
      const parts = [`At ρ = ${p.privacy.rho}, each value will be within ± ${fmt.int(Math.round(hw))} of the truth 95 times in 100.`];
      const size = lastSize.get(shape);
      if (size) {
        parts.push(`Your last answer put the biggest group at about ${fmt.int(size)}, so that is ± ${fmt.pct(hw / size)}.`);
        // Half-width scales as 1/√ρ: the cheapest offered cost within 10%.
        const rho = Number(cost.value) / NANO;
        const fits = COSTS.filter((r) => r * NANO <= budget.remaining_nano_rho);
        const good = fits.find((r) => hw * Math.sqrt(rho / r) <= 0.1 * size);
        if (good && good !== rho) parts.push(`ρ = ${good} would give ± ${fmt.int(Math.round(hw * Math.sqrt(rho / good)))} (you have ρ ${budget.remaining_nano_rho / NANO} left).`);
        else if (!good && fits.length) parts.push(`No cost within your budget brings it under 10%: widen the slice (more days, fewer groups).`);
      } else {
        parts.push('The slice’s size is unknown until a first answer: a small cost tells you roughly how big it is.');
      }
      expect.textContent = parts.join(' ');
      expect.dataset.halfWidth = String(hw);
    } catch (e) {
      expect.textContent = e.message;
    }
  };
  for (const input of [metric, types, group, from, to, cost]) input.addEventListener('change', preview);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const query = build(Number(cost.value));
    status('Running the query…');
    result.replaceChildren();
    try {
      const answer = await api('/v1/insights/query', { method: 'POST', body: JSON.stringify(query) });
      drawResult(result, answer, metric.value === 'distinct_subjects' ? 'people' : 'events');
      budget = answer.budget;
      drawBudget(budgetBox, answer.budget);
      if (answer.groups.length) lastSize.set(`${metric.value}|${group.value}`, Math.max(...answer.groups.map((g) => g.displayed)));
      status(`Released ${answer.groups.length} groups for ρ = ${answer.privacy.rho}.`);
    } catch (e) {
      result.append(el('p', { class: 'error', role: 'alert' }, e.message));
      status('');
    }
    await Promise.all([drawReleases(releasesBox), preview()]);
  });
  drawBudget(budgetBox, budget);
  await Promise.all([drawReleases(releasesBox), preview()]);
}

// A count cannot be negative: the interval shown is the 95% interval
// intersected with [0, ∞), which still holds the true count as often.
const shownInterval = (g) => [Math.max(0, g.ci95[0]), Math.max(0, g.ci95[1])];

function drawResult(box, answer, unit) {
  const groups = answer.groups;
  if (!groups.length) {
    box.append(el('p', { 'data-key': 'q-none' }, `No group had at least ${answer.min_subjects} people, the smallest group this server shows.`));
    return;
  }
  const labels = groups.map((g) => keyLabel(g.key));
  const ci = groups.map(shownInterval);
  barChart(box, {
    caption: 'Answers with 95% intervals',
    summary: `Bar chart of ${groups.length} groups with 95% confidence intervals`,
    categories: labels,
    values: groups.map((g) => g.displayed),
    lo: ci.map((c) => c[0]),
    hi: ci.map((c) => c[1]),
    label: unit,
  });
  box.append(el('p', { class: 'muted', 'data-key': 'q-floor' }, `Groups of fewer than ${answer.min_subjects} people are never shown.`));
  box.append(el('p', { class: 'note', 'data-key': 'q-explain' },
    'The interval is where the true figure lies 95 times in 100: the noise that protects each person is that wide. ',
    'Shown values are rounded and never below zero; the unbiased estimate (which can be negative) is kept for adding answers up.'));
  box.append(table(`Spent ρ = ${answer.privacy.rho} (ε = ${fmt.num(answer.privacy.epsilon, 3)} at δ = ${answer.privacy.delta}), ${answer.mechanism} noise`,
    ['Group', { text: 'Answer', num: true }, { text: '95% interval', num: true }, { text: 'Unbiased estimate', num: true }],
    groups.map((g, i) => [labels[i],
      { text: fmt.int(g.displayed), num: true, key: `q-value-${i}` },
      { text: `${fmt.int(Math.round(ci[i][0]))} to ${fmt.int(Math.round(ci[i][1]))}`, num: true, key: `q-ci-${i}` },
      { text: fmt.num(g.value, 1), num: true, key: `q-estimate-${i}` }])));
}

function drawBudget(box, b) {
  box.replaceChildren();
  const fraction = b.total_nano_rho ? b.remaining_nano_rho / b.total_nano_rho : 0;
  gauge(box, { fraction, caption: `Budget ${b.period}`, label: `${fmt.pct(fraction)} left` });
  box.append(el('dl', { class: 'figures' },
    el('div', {}, el('dt', {}, 'ρ left'), el('dd', { 'data-key': 'budget-remaining-rho' }, String(b.remaining_nano_rho / NANO))),
    el('div', {}, el('dt', {}, 'ρ this month'), el('dd', { 'data-key': 'budget-total-rho' }, String(b.total_nano_rho / NANO))),
    el('div', {}, el('dt', {}, 'as ε (δ = 1e-6)'), el('dd', { 'data-key': 'budget-remaining-epsilon' }, fmt.num(b.remaining_epsilon, 3)))),
  el('p', { class: 'muted' }, `Account ${b.analyst}`));
}

async function drawReleases(box) {
  box.replaceChildren();
  const r = await api('/v1/insights/releases');
  if (!r.releases.length) {
    box.append(el('p', { 'data-key': 'releases-count' }, 'No releases yet this month.'));
    return;
  }
  box.append(el('p', { class: 'muted', 'data-key': 'releases-count' }, `${r.releases.length} release${r.releases.length === 1 ? '' : 's'} in ${r.period}`),
    table('Newest first', ['When', { text: 'ρ', num: true }, { text: 'Ledger entry', num: true }, 'Query digest'],
      r.releases.map((x, i) => [fmt.time(x.at), { text: String(x.cost_nano_rho / NANO), num: true, key: `release-${i}-rho` },
        { text: `#${x.ledger_index}`, num: true, key: `release-${i}-ledger` }, x.query_digest.slice(0, 12)])));
}
