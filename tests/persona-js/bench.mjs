// How long the browser client's level-0 work takes on a model the size of
// the MovieLens-100k public model (1,682 items; 50 neighbours each is an
// upper bound on what the k-floored export keeps). Synthetic, seeded
// weights: the ranking's cost does not depend on their values.
//   node tests/persona-js/bench.mjs
import * as P from '../../crates/server/assets/persona/persona.js';

let seed = 42;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
const N = 1682, K = 50;
const items = Array.from({ length: N }, (_, i) => ({
  id: 'm' + String(i).padStart(4, '0'), categories: ['g' + (i % 18)], popularity: rnd(500),
  neighbours: [...new Set(Array.from({ length: K }, () => rnd(N)))].filter((j) => j !== i).map((j) => [j, 1 + rnd(1_000_000)]),
}));
const model = { version: 1, min_support: 10, items, digest: '' };
model.digest = await P.modelDigest(model);
const bytes = JSON.stringify(model).length;
const history = Array.from({ length: 20 }, () => items[rnd(N)].id);

const time = async (label, runs, f) => {
  await f();
  const t = performance.now();
  for (let i = 0; i < runs; i++) await f();
  console.log(`${label}: ${((performance.now() - t) / runs).toFixed(3)} ms per call (${runs} calls)`);
};
console.log(`model: ${N} items, ${items.reduce((n, it) => n + it.neighbours.length, 0)} neighbour pairs, ${(bytes / 1024).toFixed(0)} KiB of JSON`);
await time('isWellFormed (shape, order, SHA-256 digest)', 50, () => P.isWellFormed(model));
await time('recommend 10 from a 20-item history', 500, () => P.recommend(model, history, 10));
const p = P.newPersona('bench', new Uint8Array(32));
history.forEach((h) => P.record(p, h));
const terms = { business: 'shop.example', taxonomy: Array.from({ length: 18 }, (_, i) => 'g' + i), report_epsilon_micro: 1_000_000 };
P.approveInterests(p, terms, ['g1', 'g2']);
P.setLevel(p, terms.business, 2, 0);
await time('disclose at level 2 (HMAC pseudonym, noisy topics)', 500, () => P.disclose(p, terms, model, 0, P.drawCoins()));
