// Overview: consent rates per purpose over time, events accepted and
// rejected, and each policy version's re-consent progress.
import { api, el, table, fmt, daysAgo, status } from './app.js';
import { dayChart } from './charts.js';

export const PURPOSES = {
  personalization: 'Personalization',
  analytics: 'Analytics',
  partner_insights: 'Partner insights',
  location: 'Location',
  in_store_detection: 'In-store detection',
};

export async function render(root) {
  const from = el('input', { type: 'date', id: 'ov-from', value: daysAgo(29) });
  const to = el('input', { type: 'date', id: 'ov-to', value: daysAgo(0) });
  const form = el('form', { class: 'controls', 'aria-label': 'Date range' },
    el('label', {}, 'From (UTC)', from), el('label', {}, 'To (UTC)', to),
    el('button', { type: 'submit' }, 'Show'));
  const out = el('div', { id: 'overview' });
  root.append(form, out);
  const load = async () => {
    status('Loading overview…');
    out.replaceChildren();
    try {
      const data = await api(`/v1/console/overview?from=${from.value}&to=${to.value}`);
      draw(out, data);
      status(`Overview ${data.from} to ${data.to}.`);
    } catch (e) {
      out.append(el('p', { class: 'error', role: 'alert' }, e.message));
      status('');
    }
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
  await load();
}

function draw(out, data) {
  const days = data.consent.map((d) => d.day);
  const last = data.consent[data.consent.length - 1];

  const consent = el('section', { class: 'card', 'aria-labelledby': 'h-consent' }, el('h2', { id: 'h-consent' }, 'Consent'));
  out.append(consent);
  consent.append(el('p', { class: 'muted' }, `People with any consent record by ${last.day}: `,
    el('strong', { 'data-key': 'consent-subjects' }, fmt.int(last.subjects)),
    '. A rate is the share of them with the purpose in effect at the end of the day.'));
  dayChart(consent, {
    caption: 'Grant rate per purpose, end of each UTC day',
    days,
    percent: true,
    unit: 'share granting',
    series: Object.entries(PURPOSES).map(([p, label]) => ({ label, values: data.consent.map((d) => d.rate[p]) })),
  });
  consent.append(table(`On ${last.day}`, ['Purpose', { text: 'People granting', num: true }, { text: 'Grant rate', num: true }],
    Object.entries(PURPOSES).map(([p, label]) => [label,
      { text: fmt.int(last.given[p]), num: true, key: `consent-given-${p}` },
      { text: fmt.pct(last.rate[p]), num: true, key: `consent-rate-${p}` }])));

  const events = el('section', { class: 'card', 'aria-labelledby': 'h-events' }, el('h2', { id: 'h-events' }, 'Events'));
  out.append(events);
  const since = data.events.since_start;
  events.append(el('dl', { class: 'figures' },
    el('div', {}, el('dt', {}, 'Accepted since the server started'), el('dd', { 'data-key': 'events-accepted' }, fmt.int(since.accepted))),
    Object.entries(since.rejected).map(([reason, n]) =>
      el('div', {}, el('dt', {}, `Rejected: ${reason.replace('_', ' ')}`), el('dd', { 'data-key': `events-rejected-${reason}` }, fmt.int(n))))));
  dayChart(events, {
    caption: 'Events per UTC arrival day: accepted, and refused for lack of consent',
    days: data.events.days.map((d) => d.day),
    unit: 'events per day',
    series: [
      { label: 'Accepted', values: data.events.days.map((d) => d.accepted) },
      { label: 'Refused (no consent)', values: data.events.days.map((d) => d.refused_no_consent) },
    ],
  });
  const active = data.events.days.filter((d) => d.accepted || d.refused_no_consent);
  events.append(table('Days with events', ['Day', { text: 'Accepted', num: true }, { text: 'Refused (no consent)', num: true }, 'Sealed in the ledger'],
    active.map((d) => [d.day, { text: fmt.int(d.accepted), num: true, key: `events-day-${d.day}-accepted` },
      { text: fmt.int(d.refused_no_consent), num: true, key: `events-day-${d.day}-refused` }, d.sealed ? 'yes' : 'not yet'])));

  const policies = el('section', { class: 'card', 'aria-labelledby': 'h-policies' }, el('h2', { id: 'h-policies' }, 'Policy versions and re-consent'));
  out.append(policies);
  policies.append(el('p', { class: 'muted' }, 'A version that adds a purpose, a recipient or a data category turns earlier grants of that purpose off until people answer again.'));
  const rows = [];
  for (const v of [...data.policies].reverse()) {
    const name = `v${v.version}${v.current ? ' (current)' : ''}, ${fmt.time(v.published_at)}`;
    const people = v.subjects_asked
      ? `${fmt.int(v.subjects_reconsented)} of ${fmt.int(v.subjects_asked)} people asked granted everything again`
      : 'nobody had to be asked';
    const head = { text: `${name}: ${people}`, key: `policy-${v.version}` };
    if (!v.purposes.length) rows.push([head, 'nothing', '', '', '', '', '']);
    for (const p of v.purposes) {
      const k = `policy-${v.version}-${p.purpose}`;
      rows.push([head, PURPOSES[p.purpose],
        { text: fmt.int(p.asked), num: true, key: `${k}-asked` },
        { text: fmt.int(p.reconsented), num: true, key: `${k}-reconsented` },
        { text: fmt.int(p.declined), num: true, key: `${k}-declined` },
        { text: fmt.int(p.pending), num: true, key: `${k}-pending` },
        { text: p.asked ? fmt.pct(p.reconsented / p.asked) : '—', num: true }]);
    }
  }
  policies.append(table('Versions, newest first', ['Version', 'Asked again about', { text: 'People asked', num: true },
    { text: 'Granted again', num: true }, { text: 'Declined', num: true }, { text: 'No answer yet', num: true },
    { text: 'Progress', num: true }], rows));
}
