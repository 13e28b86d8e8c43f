// Insights: build a differentially private query, see each group's value
// with its 95% interval, the budget left, and the releases made so far.
import { api, el, table, fmt, daysAgo, status } from './app.js';
import { barChart, gauge } from './charts.js';

const NANO = 1e9;

function keyLabel(key) {
  const parts = Object.values(key);
  return parts.length ? parts.join(' · ') : 'all';
}

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
  const cost = el('select', { id: 'q-cost' },
    ...[0.001, 0.005, 0.01, 0.02].map((r) => el('option', { value: String(Math.round(r * NANO)), selected: r === 0.01 }, `ρ = ${r}`)));
  const form = el('form', { class: 'controls', 'aria-labelledby': 'h-query' },
    field('Measure', metric), field('Event types (comma separated)', types), field('Group by', group),
    field('From (UTC)', from), field('To (UTC)', to), field('Privacy cost', cost),
    el('button', { type: 'submit' }, 'Run query'));
  const result = el('div', { id: 'q-result', 'aria-live': 'polite' });
  const budgetBox = el('div', { id: 'budget' });
  const releasesBox = el('div', { id: 'releases' });
  root.append(
    el('section', { class: 'card' }, el('h2', { id: 'h-query' }, 'Ask a question'),
      el('p', { class: 'muted', id: 'q-types-help' }, 'Only people who allow partner insights count. Every answer is noisy on purpose, charged to your monthly privacy budget and written to the public ledger before you see it.'),
      form, result),
    el('div', { class: 'grid' },
      el('section', { class: 'card', 'aria-labelledby': 'h-budget' }, el('h2', { id: 'h-budget' }, 'Privacy budget left'), budgetBox),
      el('section', { class: 'card', 'aria-labelledby': 'h-releases' }, el('h2', { id: 'h-releases' }, 'Releases this month'), releasesBox)));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const query = {
      metric: { kind: metric.value },
      event_types: types.value.split(',').map((t) => t.trim()).filter(Boolean),
      group_by: group.value ? [{ kind: group.value }] : [],
      filters: [{ kind: 'time_range', from: Date.parse(`${from.value}T00:00:00Z`), to: Date.parse(`${to.value}T00:00:00Z`) + 86400000 }],
      cost_nano_rho: Number(cost.value),
    };
    status('Running the query…');
    result.replaceChildren();
    try {
      const answer = await api('/v1/insights/query', { method: 'POST', body: JSON.stringify(query) });
      drawResult(result, answer);
      drawBudget(budgetBox, answer.budget);
      status(`Released ${answer.groups.length} groups for ρ = ${answer.privacy.rho}.`);
    } catch (e) {
      result.append(el('p', { class: 'error', role: 'alert' }, e.message));
      status('');
    }
    await drawReleases(releasesBox);
  });
  drawBudget(budgetBox, await api('/v1/insights/budget'));
  await drawReleases(releasesBox);
}

function drawResult(box, answer) {
  const groups = answer.groups;
  if (!groups.length) {
    box.append(el('p', { 'data-key': 'q-none' }, `No group had at least ${answer.min_subjects} people, the smallest group this server shows.`));
    return;
  }
  const labels = groups.map((g) => keyLabel(g.key));
  barChart(box, {
    caption: 'Estimates with 95% intervals',
    summary: `Bar chart of ${groups.length} groups with 95% confidence intervals`,
    categories: labels,
    values: groups.map((g) => g.value),
    lo: groups.map((g) => g.ci95[0]),
    hi: groups.map((g) => g.ci95[1]),
  });
  box.append(el('p', { class: 'muted', 'data-key': 'q-floor' }, `Groups of fewer than ${answer.min_subjects} people are never shown.`));
  box.append(table(`Spent ρ = ${answer.privacy.rho} (ε = ${fmt.num(answer.privacy.epsilon, 3)} at δ = ${answer.privacy.delta}), ${answer.mechanism} noise`,
    ['Group', { text: 'Estimate', num: true }, { text: '95% interval', num: true }, { text: 'Noise scale', num: true }],
    groups.map((g, i) => [labels[i],
      { text: fmt.num(g.value, 1), num: true, key: `q-value-${i}` },
      { text: `${fmt.num(g.ci95[0], 1)} to ${fmt.num(g.ci95[1], 1)}`, num: true, key: `q-ci-${i}` },
      { text: fmt.num(g.noise_scale, 2), num: true }])));
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
