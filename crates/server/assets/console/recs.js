// Recommendations: the served model's status and quality, and a try-out
// box that asks for one test person's recommendations with their reasons.
import { api, el, table, fmt, status } from './app.js';

export async function render(root) {
  const model = el('section', { class: 'card', 'aria-labelledby': 'h-model' }, el('h2', { id: 'h-model' }, 'Model'));
  root.append(model);
  try {
    const s = await api('/v1/recs/status');
    const h = s.holdout;
    model.append(el('dl', { class: 'figures' },
      el('div', {}, el('dt', {}, 'Algorithm'), el('dd', { 'data-key': 'recs-algorithm' }, s.algorithm)),
      el('div', {}, el('dt', {}, 'Last trained'), el('dd', { 'data-key': 'recs-trained-at' }, fmt.time(s.trained_at))),
      el('div', {}, el('dt', {}, 'Events used'), el('dd', { 'data-key': 'recs-events' }, fmt.int(s.events_used))),
      el('div', {}, el('dt', {}, 'People'), el('dd', { 'data-key': 'recs-subjects' }, fmt.int(s.subjects))),
      el('div', {}, el('dt', {}, 'Items'), el('dd', { 'data-key': 'recs-items' }, fmt.int(s.items)))));
    model.append(h
      ? table(`Quality on a held-out 20% of ${fmt.int(h.users)} people`, ['Metric', { text: 'Value', num: true }], [
        ['Precision@10', { text: fmt.num(h.precision_at_10, 4), num: true, key: 'recs-p10' }],
        ['NDCG@10', { text: fmt.num(h.ndcg_at_10, 4), num: true, key: 'recs-ndcg10' }]])
      : el('p', { class: 'muted' }, 'No holdout evaluation for this training (too little or too much data).'));
    model.append(el('p', { class: 'muted' }, `Training took ${fmt.int(s.training_ms)} ms. ${s.forgotten_since} people forgotten since (erasures apply at once).`));
  } catch (e) {
    model.append(el('p', { class: e.status === 404 ? '' : 'error' }, e.status === 404 ? 'The recommender has not been trained yet.' : e.message));
  }

  const subject = el('input', { id: 'r-subject', autocomplete: 'off', spellcheck: 'false', required: true, size: 32 });
  const n = el('input', { id: 'r-n', type: 'number', min: 1, max: 50, value: 10 });
  const form = el('form', { class: 'controls' }, el('label', {}, 'Test customer id', subject), el('label', {}, 'How many', n),
    el('button', { type: 'submit' }, 'Recommend'));
  const out = el('div', { id: 'r-out', 'aria-live': 'polite' });
  root.append(el('section', { class: 'card', 'aria-labelledby': 'h-try' }, el('h2', { id: 'h-try' }, 'Try it for a test customer'),
    el('p', { class: 'muted' }, 'Use a test account: a personalized answer reads that person’s history and is written to the ledger as a read of their data.'),
    form, out));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    status('Asking for recommendations…');
    try {
      const r = await api(`/v1/subjects/${encodeURIComponent(subject.value.trim())}/recommendations?n=${Number(n.value)}`);
      out.append(el('p', { 'data-key': 'r-tier' }, r.tier === 'personalized'
        ? 'Personalized: this person allows personalization.'
        : 'Not personal: this person has not allowed personalization, so only popularity and context are used.'));
      out.append(el('ol', { class: 'recs' }, r.items.map((it, i) => el('li', { 'data-key': `r-item-${i}` },
        el('strong', {}, it.title || it.item), ` (${it.item})`, it.category ? ` · ${it.category.replaceAll('_', ' ')}` : '',
        el('span', { class: 'reason' }, it.reason)))));
      status(`${r.items.length} recommendations.`);
    } catch (e) {
      out.append(el('p', { class: 'error', role: 'alert' }, e.message));
      status('');
    }
  });
}
