// Runs in headless Chromium (see ../chromium.sh): the browser's own
// WebCrypto and IndexedDB under the privacy center's CSP. Recomputes every
// vector of persona-v1.json with persona.js, exercises store.js on a real
// IndexedDB, and posts the outcome to the harness server.
import * as P from '/persona/persona.js';
import '/persona/receipt.js'; // loads under the CSP (its checks run in Node's receipt.test.mjs)
import { openStore } from '/persona/store.js';

const canon = (v) => JSON.stringify(v, (_, x) => (x && typeof x === 'object' && !Array.isArray(x)
  ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x));
const fails = [];
let checked = 0;
const same = (what, got, want) => { checked += 1; if (canon(got) !== canon(want)) fails.push(`${what}: got ${canon(got)}, want ${canon(want)}`); };

async function vectors(file) {
  for (const v of file.pseudonyms) same('pseudonym ' + v.business, await P.businessPseudonym(P.fromHex(v.secret), v.business), v.id);
  for (const v of file.odds_q20) same('odds ' + v.epsilon_micro, P.oddsQ20(v.epsilon_micro), v.odds_q20);
  for (const v of file.draws) same('draw ' + v.n, new P.Coins(v.coins).below(v.n), v.value);
  for (const v of file.randomized_response) same('rr', new P.RandomizedResponse(v.categories, v.epsilon_micro).respond(v.truth, new P.Coins(v.coins)), v.report);
  for (const v of file.topics) same('topics', P.noisyTopics(v.approved, v.taxonomy, new P.Coins(v.coins)), v.topics);
  same('model digest', await P.modelDigest(file.model), file.model.digest);
  same('model well formed', await P.isWellFormed(file.model), true);
  for (const v of file.recommendations) same('recommend ' + v.history, P.recommend(file.model, v.history, v.n), v.recommendations);
  const per = file.persona;
  const p = P.newPersona(per.label, P.fromHex(per.secret));
  per.history.forEach((h) => P.record(p, h));
  P.approveInterests(p, per.terms, per.approved);
  P.setIdentity(p, per.terms.business, per.identity);
  for (const [n, v] of file.disclosures.entries()) {
    P.setLevel(p, per.terms.business, n, 1000 * n);
    same('disclosure level ' + n, await P.disclose(p, per.terms, file.model, 1_700_000_000_000, v.coins), v.disclosure);
  }
}

async function store(file) {
  const s = await openStore();
  const per = file.persona;
  await s.create('everyday');
  same('store refuses a second persona of one label', await s.create('everyday').then(() => 'made', (e) => e.code), 'invalid');
  for (const h of per.history) await s.record('everyday', h);
  await s.putModel(per.terms.business, file.model);
  same('store recommend', await s.recommend('everyday', per.terms.business, 2), P.recommend(file.model, per.history, 2));
  await s.approveInterests('everyday', per.terms, per.approved);
  await s.setLevel('everyday', per.terms.business, 2);
  const d = await s.disclose('everyday', per.terms, file.model);
  same('store level 2 sends approved topics only', d.payload.topics.every((t) => per.terms.taxonomy.includes(t)), true);
  s.close();
  const again = await openStore();
  const kept = await again.get('everyday');
  same('store kept the log', kept.log.entries.map((e) => e.what.kind), ['level_change', 'disclosure']);
  same('store kept the pseudonym', d.payload.pseudonym, await P.businessPseudonym(kept.secret, per.terms.business));
  // Ed25519 in this browser's WebCrypto: a receipt signed with a fresh key verifies.
  const keys = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
  same('ed25519 available', keys.publicKey.algorithm.name, 'Ed25519');
  await again.setLevel('everyday', per.terms.business, 0);
  same('lowering is owed a receipt', P.unreceiptedChanges(await again.get('everyday'), per.terms.business).length, 2);
  again.close();
}

try {
  const file = await (await fetch('/persona-v1.json')).json();
  await vectors(file);
  await store(file);
} catch (e) {
  fails.push('threw: ' + (e && e.stack || e));
}
await fetch('/result', { method: 'POST', body: JSON.stringify({ checked, fails, agent: navigator.userAgent }) });
document.body.textContent = fails.length ? 'FAIL' : 'PASS';
