// The browser client (crates/server/assets/persona/persona.js) against the
// shared vectors the Rust reference client wrote
// (crates/persona/tests/vectors/persona-v1.json): every vector, exactly.
// Node's built-ins only: node:test, node:assert, globalThis.crypto.subtle.
//   node --test tests/persona-js/      (or tests/persona-js/run.sh)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import * as P from '../../crates/server/assets/persona/persona.js';

const root = new URL('../../', import.meta.url);
const file = JSON.parse(readFileSync(fileURLToPath(new URL('crates/persona/tests/vectors/persona-v1.json', root)), 'utf8'));

// The file's coins formula, restated: byte i of coins(seed, len) = (i*73 + seed*151 + 11) mod 256.
const coins = (seed, len) => Uint8Array.from({ length: len }, (_, i) => (i * 73 + seed * 151 + 11) % 256);

test('the file is the version this client implements, and every vector set is checked here', () => {
  assert.equal(file.version, P.VERSION);
  // A vector set added to the file must be added here too.
  assert.deepEqual(Object.keys(file).sort(), [
    'coins_formula', 'disclosures', 'draws', 'model', 'odds_q20', 'persona', 'pseudonyms',
    'randomized_response', 'recommendations', 'topics', 'version']);
});

test('per-business pseudonyms: WebCrypto HMAC-SHA256 gives the reference ids', async () => {
  assert.ok(file.pseudonyms.length >= 3);
  for (const v of file.pseudonyms) {
    assert.equal(await P.businessPseudonym(P.fromHex(v.secret), v.business), v.id, `${v.business}`);
  }
  // One persona, two businesses: no shared identifier.
  const [a, b] = file.pseudonyms;
  assert.equal(a.secret, b.secret);
  assert.notEqual(a.id, b.id);
});

test('odds_q20: the integer series, rounded down', () => {
  for (const v of file.odds_q20) assert.equal(P.oddsQ20(v.epsilon_micro), v.odds_q20, `ε ${v.epsilon_micro}`);
});

test('draws: rejection sampling reads the same words (one is rejected)', () => {
  for (const v of file.draws) {
    const c = new P.Coins(P.fromHex(v.coins));
    assert.equal(c.below(v.n), v.value, `n ${v.n}`);
    assert.equal(new P.Coins(v.coins).below(BigInt(v.n)), BigInt(v.value), 'BigInt draws agree');
  }
  const rejected = file.draws.find((v) => v.coins.startsWith('ffffffffffffffff'));
  const c = new P.Coins(rejected.coins);
  c.below(rejected.n);
  assert.equal(c.used, 16, 'the rejected word is skipped, the next one used');
  assert.throws(() => new P.Coins(new Uint8Array(7)).below(3), { code: 'out_of_coins' });
});

test('randomized response: the same reports', () => {
  for (const v of file.randomized_response) {
    const mech = new P.RandomizedResponse(v.categories, v.epsilon_micro);
    assert.equal(mech.respond(v.truth, new P.Coins(P.fromHex(v.coins))), v.report, JSON.stringify(v));
  }
});

test('level-2 topics: approved topics with 5% noise (one slot forced to noise)', () => {
  let noisy = 0;
  for (const v of file.topics) {
    const got = P.noisyTopics(v.approved, v.taxonomy, new P.Coins(P.fromHex(v.coins)));
    assert.deepEqual(got, v.topics);
    if (got.some((t) => !v.approved.includes(t))) noisy += 1;
  }
  assert.ok(noisy >= 1, 'the file exercises a noisy slot');
});

test('public model: canonical bytes and digest, well-formedness, tampering detected', async () => {
  const m = structuredClone(file.model);
  assert.equal(await P.modelDigest(m), m.digest);
  assert.equal(await P.isWellFormed(m), true);
  const bumped = structuredClone(m);
  bumped.items[1].neighbours[0][1] += 1;
  assert.equal(await P.isWellFormed(bumped), false, 'a changed weight breaks the digest');
  const self = structuredClone(m);
  self.items[0].neighbours[0][0] = 0;
  assert.equal(await P.isWellFormed(self), false, 'an item may not neighbour itself');
});

test('on-device recommendations: the same items, scores and reasons', () => {
  for (const v of file.recommendations) {
    assert.deepEqual(P.recommend(file.model, v.history, v.n), v.recommendations, `history ${JSON.stringify(v.history)}`);
  }
});

test('one full disclosure per level, from the persona, terms, model and coins', async () => {
  const per = file.persona;
  const p = P.newPersona(per.label, P.fromHex(per.secret));
  for (const h of per.history) P.record(p, h);
  P.approveInterests(p, per.terms, per.approved);
  P.setIdentity(p, per.terms.business, per.identity);
  assert.equal(file.disclosures.length, 5);
  for (const [n, v] of file.disclosures.entries()) {
    assert.equal(v.level, n);
    assert.equal(v.coins, P.toHex(coins(50 + n, 64)), 'the coins follow the file formula');
    P.setLevel(p, per.terms.business, n, 1_000 * n);
    const d = await P.disclose(p, per.terms, file.model, 1_700_000_000_000, P.fromHex(v.coins));
    assert.deepEqual(d, v.disclosure, `level ${n}`);
  }
  // Level 0 logged nothing; each other disclosure and each change is logged as it left.
  const kinds = p.log.entries.map((e) => e.what.kind);
  assert.deepEqual(kinds, ['level_change', 'disclosure', 'level_change', 'disclosure', 'level_change', 'disclosure', 'level_change', 'disclosure']);
  assert.deepEqual(p.businesses[per.terms.business].budget, { cap_micro: 4_000_000, spent_micro: per.terms.report_epsilon_micro });
});
