// Foot traffic: a store's visitors per day, how long they stay, and new
// versus returning visitors, from the exact daily report (admin only).
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
      const r = await api(`/v1/footfall/stores/${id}/report?from=${from.value}&to=${to.value}&mode=exact`);
      draw(out, r);
      status(`Report for ${r.store_id}, ${r.days.length} days.`);
    } catch (e) {
      out.append(el('p', { class: 'error', role: 'alert' }, e.message));
      status('');
    }
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
  await load();
}

function draw(out, r) {
  const days = r.days.map((d) => d.day);
  const sum = (k) => r.days.reduce((a, d) => a + d[k], 0);
  const visitors = el('section', { class: 'card', 'aria-labelledby': 'h-visitors' }, el('h2', { id: 'h-visitors' }, 'Visitors per day'));
  visitors.append(el('dl', { class: 'figures' },
    el('div', {}, el('dt', {}, 'Visitors'), el('dd', { 'data-key': 'ff-visitors-total' }, fmt.int(sum('visitors')))),
    el('div', {}, el('dt', {}, 'Visits'), el('dd', { 'data-key': 'ff-visits-total' }, fmt.int(sum('visits')))),
    el('div', {}, el('dt', {}, 'Passers-by'), el('dd', { 'data-key': 'ff-passers-total' }, fmt.int(sum('passers_by'))))));
  out.append(visitors);
  dayChart(visitors, {
    caption: 'Visitors and passers-by per day',
    days,
    series: [{ label: 'Visitors', values: r.days.map((d) => d.visitors) }, { label: 'Passers-by', values: r.days.map((d) => d.passers_by) }],
  });

  // Both cards are in the grid before either chart measures its width.
  const dwell = el('section', { class: 'card', 'aria-labelledby': 'h-dwell' }, el('h2', { id: 'h-dwell' }, 'How long visitors stay'));
  const loyalty = el('section', { class: 'card', 'aria-labelledby': 'h-repeat' }, el('h2', { id: 'h-repeat' }, 'New and returning visitors'));
  out.append(el('div', { class: 'grid' }, dwell, loyalty));
  const buckets = BUCKETS.map((_, i) => r.days.reduce((a, d) => a + d.dwell_buckets[i], 0));
  barChart(dwell, { caption: 'Visitors by dwell time, whole range', categories: BUCKETS, values: buckets, label: 'visitors' });
  dwell.append(table('Dwell distribution', ['Dwell', { text: 'Visitors', num: true }],
    BUCKETS.map((b, i) => [b, { text: fmt.int(buckets[i]), num: true, key: `ff-dwell-${i}` }])));

  dayChart(loyalty, {
    caption: 'New, repeat and randomized-MAC visitors per day',
    days,
    series: [
      { label: 'New', values: r.days.map((d) => d.new_visitors) },
      { label: 'Repeat', values: r.days.map((d) => d.repeat_visitors) },
      { label: 'Randomized MAC', values: r.days.map((d) => d.randomized_visitors) },
    ],
  });

  out.append(el('section', { class: 'card', 'aria-labelledby': 'h-days' }, el('h2', { id: 'h-days' }, 'Day by day'),
    table(`${r.store_id}, exact figures`, ['Day', { text: 'Visitors', num: true }, { text: 'New', num: true }, { text: 'Repeat', num: true },
      { text: 'Randomized', num: true }, { text: 'Median dwell (min)', num: true }, { text: 'Capture rate', num: true }],
    r.days.map((d) => [d.day,
      { text: fmt.int(d.visitors), num: true, key: `ff-day-${d.day}-visitors` },
      { text: fmt.int(d.new_visitors), num: true, key: `ff-day-${d.day}-new` },
      { text: fmt.int(d.repeat_visitors), num: true, key: `ff-day-${d.day}-repeat` },
      { text: fmt.int(d.randomized_visitors), num: true },
      { text: d.median_dwell_min == null ? '—' : fmt.num(d.median_dwell_min, 1), num: true },
      { text: d.capture_rate == null ? '—' : fmt.pct(d.capture_rate), num: true }]))));
}
