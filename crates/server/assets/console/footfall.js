// Foot traffic: a store's visitors per day, how long they stay, and new
// versus returning visitors, from the store's published DP report: the same
// noisy figures, with the same 95% intervals, that analysts read.
import { api, el, table, fmt, daysAgo, status } from './app.js';
import { dayChart, barChart } from './charts.js';

const BUCKETS = ['under 20 min', '20–60 min', '1–6 h', '6 h and more'];

export async function render(root) {
  const stores = await api('/v1/footfall/stores');
  if (!stores.length) {
    root.append(el('p', {}, 'No store is registered yet (POST /v1/footfall/stores).'));
    return;
  }
  const pick = el('select', { id: 'ff-store' }, stores.map((s) => el('option', { value: s.store_id }, `${s.store_id} (${s.time_zone})`)));
  const from = el('input', { type: 'date', id: 'ff-from', value: daysAgo(7) });
  const to = el('input', { type: 'date', id: 'ff-to', value: daysAgo(1) });
  const form = el('form', { class: 'controls', 'aria-label': 'Store and dates' },
    el('label', {}, 'Store', pick), el('label', {}, 'From (store’s local day)', from), el('label', {}, 'To', to),
    el('button', { type: 'submit' }, 'Show'));
  const out = el('div', { id: 'footfall' });
  root.append(form, out);
  const load = async () => {
    out.replaceChildren();
    status('Loading the store report…');
    try {
      const id = encodeURIComponent(pick.value);
      const r = await api(`/v1/footfall/stores/${id}/report?from=${from.value}&to=${to.value}`);
      draw(out, r);
      status(`Report for ${r.store_id}: ${r.days.length} days published, ${r.pending_days.length} not closed yet.`);
    } catch (e) {
      out.append(el('p', { class: 'error', role: 'alert' }, e.message));
      status('');
    }
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
  await load();
}

// Variance of discrete Laplace noise of scale b: 2e^(-1/b) / (1 - e^(-1/b))^2.
function variance(b) {
  const q = Math.exp(-1 / b);
  return (2 * q) / ((1 - q) * (1 - q));
}

/**
 * A sum of independent noisy figures and its ~95% interval (normal
 * approximation of the summed noise); one figure keeps its own interval.
 */
function total(figures) {
  const value = figures.reduce((a, f) => a + f.value, 0);
  if (figures.length === 1) return { value, low: figures[0].low, high: figures[0].high };
  const half = Math.ceil(1.96 * Math.sqrt(figures.reduce((a, f) => a + variance(f.scale), 0)));
  return { value, low: value - half, high: value + half };
}

const range = (f) => `${fmt.int(f.low)} to ${fmt.int(f.high)}`;

function draw(out, r) {
  out.append(el('p', { class: 'note' },
    `Differentially private figures (ε = ${r.epsilon_per_day} per store-day), published once per closed day and `,
    'identical for every reader. Each value carries its 95% interval; small values can be negative.'));
  if (r.pending_days.length) {
    out.append(el('p', { class: 'note', 'data-key': 'ff-pending' },
      `Not closed yet: ${r.pending_days.join(', ')} (a day is published six hours after its local midnight).`));
  }
  if (!r.days.length) return;
  const days = r.days.map((d) => d.day);
  const sum = (k) => total(r.days.map((d) => d[k]));
  const visitorsTotal = sum('visitors');
  const passersTotal = sum('passers_by');
  const visitors = el('section', { class: 'card', 'aria-labelledby': 'h-visitors' }, el('h2', { id: 'h-visitors' }, 'Visitors per day'));
  visitors.append(el('dl', { class: 'figures' },
    el('div', {}, el('dt', {}, 'Visitors'), el('dd', { 'data-key': 'ff-visitors-total' }, fmt.int(visitorsTotal.value)),
      el('dd', { class: 'ci', 'data-key': 'ff-visitors-total-ci' }, range(visitorsTotal))),
    el('div', {}, el('dt', {}, 'Passers-by'), el('dd', { 'data-key': 'ff-passers-total' }, fmt.int(passersTotal.value)),
      el('dd', { class: 'ci', 'data-key': 'ff-passers-total-ci' }, range(passersTotal)))));
  // Kiosk check-ins, in releases made since they were counted.
  const checked = r.days.filter((d) => d.checkins_anonymous && d.checkins_pseudonymous);
  if (checked.length) {
    const anon = total(checked.map((d) => d.checkins_anonymous));
    const named = total(checked.map((d) => d.checkins_pseudonymous));
    visitors.append(el('dl', { class: 'figures' },
      el('div', {}, el('dt', {}, 'Kiosk check-ins, counted only'), el('dd', { 'data-key': 'ff-checkins-anonymous' }, fmt.int(anon.value)),
        el('dd', { class: 'ci' }, range(anon))),
      el('div', {}, el('dt', {}, 'Kiosk check-ins, under a pseudonym'), el('dd', { 'data-key': 'ff-checkins-pseudonymous' }, fmt.int(named.value)),
        el('dd', { class: 'ci' }, range(named)))));
  }
  out.append(visitors);
  const series = (label, k) => ({
    label,
    values: r.days.map((d) => d[k].value),
    lo: r.days.map((d) => d[k].low),
    hi: r.days.map((d) => d[k].high),
  });
  dayChart(visitors, {
    caption: 'Visitors and passers-by per day, with 95% intervals',
    days,
    unit: 'devices per day',
    dayLabel: 'Store’s local day',
    series: [series('Visitors', 'visitors'), series('Passers-by', 'passers_by')],
  });

  // Both cards are in the grid before either chart measures its width.
  const dwell = el('section', { class: 'card', 'aria-labelledby': 'h-dwell' }, el('h2', { id: 'h-dwell' }, 'How long visitors stay'));
  const loyalty = el('section', { class: 'card', 'aria-labelledby': 'h-repeat' }, el('h2', { id: 'h-repeat' }, 'New and returning visitors'));
  out.append(el('div', { class: 'grid' }, dwell, loyalty));
  const buckets = BUCKETS.map((_, i) => total(r.days.map((d) => d.dwell_buckets[i])));
  barChart(dwell, {
    caption: 'Visitors by dwell time, whole range, with 95% intervals',
    categories: BUCKETS,
    values: buckets.map((b) => b.value),
    lo: buckets.map((b) => b.low),
    hi: buckets.map((b) => b.high),
    label: 'visitors',
  });
  dwell.append(table('Dwell distribution', ['Dwell', { text: 'Visitors', num: true }, { text: '95% interval', num: true }],
    BUCKETS.map((b, i) => [b, { text: fmt.int(buckets[i].value), num: true, key: `ff-dwell-${i}` },
      { text: range(buckets[i]), num: true, key: `ff-dwell-${i}-ci` }])));

  dayChart(loyalty, {
    caption: 'New, repeat and randomized-MAC visitors per day, with 95% intervals',
    days,
    unit: 'visitors per day',
    dayLabel: 'Store’s local day',
    series: [series('New', 'new_visitors'), series('Repeat', 'repeat_visitors'), series('Randomized MAC', 'randomized_visitors')],
  });

  out.append(el('section', { class: 'card', 'aria-labelledby': 'h-days' }, el('h2', { id: 'h-days' }, 'Day by day'),
    table(`${r.store_id}, published figures (ledger entry per day)`, ['Day', { text: 'Visitors', num: true }, { text: '95% interval', num: true },
      { text: 'New', num: true }, { text: 'Repeat', num: true }, { text: 'Randomized', num: true },
      { text: 'Mean dwell, clamped (min)', num: true }, { text: 'Capture rate', num: true }, { text: 'Ledger', num: true }],
    r.days.map((d) => [d.day,
      { text: fmt.int(d.visitors.value), num: true, key: `ff-day-${d.day}-visitors` },
      { text: range(d.visitors), num: true, key: `ff-day-${d.day}-visitors-ci` },
      { text: fmt.int(d.new_visitors.value), num: true, key: `ff-day-${d.day}-new` },
      { text: fmt.int(d.repeat_visitors.value), num: true, key: `ff-day-${d.day}-repeat` },
      { text: fmt.int(d.randomized_visitors.value), num: true },
      { text: d.mean_dwell_min_clamped == null ? '—' : fmt.num(d.mean_dwell_min_clamped, 1), num: true },
      { text: d.capture_rate == null ? '—' : fmt.pct(d.capture_rate), num: true },
      { text: `#${d.ledger_index}`, num: true, key: `ff-day-${d.day}-ledger` }]))));
}
