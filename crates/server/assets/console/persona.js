// Personas: how many devices trust the shop at each level (by the level
// changes their pseudonyms sent), withdrawals, the level-1 crowd estimates
// with their intervals, and kiosk check-ins per store from the stores'
// published DP reports. A device that stays at level 0 or 1 sends no
// identifier, so it is in no count here: that is the design, not a gap.
import { api, el, table, fmt, status } from './app.js';

const signed = (n) => fmt.int(n);

export async function render(root) {
  status('Loading persona figures…');
  let f;
  try {
    f = await api('/v1/console/persona');
  } catch (e) {
    root.append(el('p', { class: 'error', role: 'alert' }, e.message));
    status('');
    return;
  }
  const levels = el('section', { class: 'card', 'aria-labelledby': 'h-levels' }, el('h2', { id: 'h-levels' }, 'Devices per trust level'));
  levels.append(el('p', { class: 'note' },
    'Counted by the last level change each device sent under its pseudonym. Levels 0 and 1 send nothing, ',
    'so only devices that came back down from 2 or above show there.'));
  levels.append(table('Devices by level', ['Level', { text: 'Devices', num: true }],
    f.levels.map((l) => [`${l.level} ${l.name}`, { text: fmt.int(l.devices), num: true, key: `persona-level-${l.level}` }])));
  levels.append(el('dl', { class: 'figures' },
    el('div', {}, el('dt', {}, 'Withdrawals (levels lowered)'), el('dd', { 'data-key': 'persona-withdrawals' }, fmt.int(f.withdrawals)))));

  const crowd = el('section', { class: 'card', 'aria-labelledby': 'h-crowd' }, el('h2', { id: 'h-crowd' }, 'Level 1: the crowd'));
  crowd.append(el('p', { class: 'note' },
    `${fmt.int(f.level1_reports)} randomized reports at ε = ${fmt.num(f.report_epsilon_micro / 1e6, 2)} each, no identifier. `,
    'Estimates of how many reporting devices hold each category, with 95% intervals; a category whose interval is wider than its estimate needs more devices.'));
  crowd.append(table('Estimated devices per category', ['Category', { text: 'Estimate', num: true }, { text: '95% interval', num: true }],
    f.level1.map((c) => [c.category,
      { text: c.useful ? fmt.int(Math.round(c.estimate)) : 'too few reports', num: true, key: `persona-l1-${c.category}` },
      { text: `${fmt.int(Math.round(c.low))} to ${fmt.int(Math.round(c.high))}`, num: true }])));

  const stores = el('section', { class: 'card', 'aria-labelledby': 'h-checkins' }, el('h2', { id: 'h-checkins' }, 'Kiosk check-ins'));
  stores.append(el('p', { class: 'note' },
    'From each store’s published differentially private reports over its last closed days: the same noisy figures analysts read.'));
  stores.append(f.checkins.length
    ? table('Check-ins per store', ['Store', { text: 'Days', num: true }, { text: 'Counted only (levels 0–1)', num: true },
      { text: 'Under a pseudonym (2–4)', num: true }],
    f.checkins.map((c) => [c.store_id, { text: String(c.days), num: true },
      { text: `${signed(c.anonymous)} ± ${fmt.int(c.anonymous_half_width)}`, num: true, key: `persona-checkins-${c.store_id}` },
      { text: `${signed(c.pseudonymous)} ± ${fmt.int(c.pseudonymous_half_width)}`, num: true }]))
    : el('p', { class: 'muted' }, 'No store is registered.'));
  root.append(levels, crowd, stores);
  status('');
}
