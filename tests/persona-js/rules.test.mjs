// Rules of crates/persona that persona-v1.json does not pin (found by
// mutating persona.js: these mutants passed the vectors): tie-breaks,
// consent steps, the lifetime ε cap and the device log. Expected values are
// worked by hand from the Rust code's rules, cited per test.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import * as P from '../../crates/server/assets/persona/persona.js';

// ids sorted; a and b both neighbour c at 100, a also neighbours d at 100.
const model = {
  version: 1, min_support: 10, digest: '0'.repeat(64),
  items: [
    { id: 'a', categories: ['x'], popularity: 5, neighbours: [[2, 100], [3, 100]] },
    { id: 'b', categories: ['y'], popularity: 5, neighbours: [[2, 100]] },
    { id: 'c', categories: ['x'], popularity: 9, neighbours: [] },
    { id: 'd', categories: ['y'], popularity: 9, neighbours: [] },
    { id: 'e', categories: ['x'], popularity: 7, neighbours: [] },
    { id: 'f', categories: ['y'], popularity: 7, neighbours: [] },
  ],
};

test('recommend (recommend.rs): equal scores and popularity go to the lower index; reason ties to the earlier history item', () => {
  // History [a]: c and d both score 100 → c first.
  assert.deepEqual(P.recommend(model, ['a'], 2).map((r) => r.item), ['c', 'd']);
  // History [b, a]: c gets 100 from each → because = a (held ascends); e and f tie on popularity → e first.
  assert.deepEqual(P.recommend(model, ['b', 'a'], 4), [
    { item: 'c', score: 200, because: 'a' },
    { item: 'd', score: 100, because: 'a' },
    { item: 'e', score: 0, because: null },
    { item: 'f', score: 0, because: null },
  ]);
});

test('recommend (recommend.rs): weights are signed; a total at or below zero is unscored; a negative weight is never the reason', () => {
  const signed = structuredClone(model);
  signed.items[0].neighbours = [[2, 300], [3, -100]];
  signed.items[1].neighbours = [[2, -250], [3, 150]];
  // History [a, b]: c = 300 − 250, d = −100 + 150: a tie, so c first; each reason is its positive weight.
  assert.deepEqual(P.recommend(signed, ['a', 'b'], 2), [
    { item: 'c', score: 50, because: 'a' },
    { item: 'd', score: 50, because: 'b' },
  ]);
  // History [a]: d totals −100, so it only comes back as popular padding.
  assert.deepEqual(P.recommend(signed, ['a'], 3), [
    { item: 'c', score: 300, because: 'a' },
    { item: 'd', score: 0, because: null },
    { item: 'e', score: 0, because: null },
  ]);
  // The shape check takes any i32 weight and nothing outside it.
  const shaped = (w) => ({ ...structuredClone(signed), items: [{ id: 'a', categories: [], popularity: 1, neighbours: [[0, w]] }] });
  assert.doesNotThrow(() => P.checkModelShape(shaped(-0x80000000)));
  assert.throws(() => P.checkModelShape(shaped(-0x80000001)), { code: 'invalid' });
  assert.throws(() => P.checkModelShape(shaped(0x80000000)), { code: 'invalid' });
});

test('true category and suggestions (disclose.rs, interests.rs): ties go to the earlier taxonomy category', () => {
  const terms = { business: 's', taxonomy: ['x', 'y'], report_epsilon_micro: 1_000_000 };
  assert.equal(P.trueCategory(['d', 'c'], model, terms), 0);
  assert.equal(P.trueCategory(['zzz'], model, terms), 2, 'nothing held: the (none) slot');
  assert.deepEqual(P.suggestInterests(['d', 'c', 'f'], model, terms.taxonomy, 5), ['y', 'x']);
  assert.deepEqual(P.suggestInterests(['d', 'c'], model, terms.taxonomy, 5), ['x', 'y']);
});

test('consent steps (level.rs): raising grants, lowering withdraws first, a narrowed scope is withdrawn then re-granted', () => {
  const s = (purpose, granted, categories = []) => ({ purpose, granted, categories });
  assert.deepEqual(P.consentSteps(0, 0), []);
  assert.deepEqual(P.consentSteps(0, 1), [s('analytics', true, ['ldp_reports'])]);
  assert.deepEqual(P.consentSteps(1, 2), [
    s('personalization', true, ['interests']), s('analytics', true, ['ldp_reports', 'interests'])]);
  assert.deepEqual(P.consentSteps(3, 2), [
    s('personalization', false), s('analytics', false),
    s('personalization', true, ['interests']), s('analytics', true, ['ldp_reports', 'interests'])]);
  assert.deepEqual(P.consentSteps(2, 0), [s('personalization', false), s('analytics', false)]);
  assert.throws(() => P.consentSteps(0, 5), { code: 'invalid' });
});

test('lifetime ε cap (ldp.rs, persona.rs): refused before anything is drawn or spent, never raised', async () => {
  const terms = { business: 'shop.example', taxonomy: ['x', 'y'], report_epsilon_micro: 1_000_000 };
  const p = P.newPersona('everyday', new Uint8Array(32));
  P.setLevel(p, terms.business, 1, 0);
  for (let i = 0; i < 4; i++) await P.disclose(p, terms, model, i, new Uint8Array(8));
  const logged = p.log.entries.length;
  await assert.rejects(P.disclose(p, terms, model, 9, new Uint8Array(8)),
    { code: 'budget_exhausted', askedMicro: 1_000_000, remainingMicro: 0 });
  assert.equal(p.log.entries.length, logged, 'a refused report is not logged');
  assert.equal(p.businesses[terms.business].budget.spent_micro, 4_000_000);
  assert.throws(() => P.lowerBudgetCap(p, terms.business, 5_000_000), { code: 'invalid' });
  assert.throws(() => P.lowerBudgetCap(p, terms.business, -1), { code: 'invalid' });
  assert.throws(() => P.setIdentity(p, terms.business, { size: 42 }), { code: 'invalid' });
  // Out of coins: nothing is spent either.
  const q = P.newPersona('q', new Uint8Array(32));
  P.setLevel(q, terms.business, 1, 0);
  await assert.rejects(P.disclose(q, terms, model, 0, new Uint8Array(7)), { code: 'out_of_coins' });
  assert.equal(P.settings(q, terms.business).budget.spent_micro, 0);
});

test('device log (log.rs): a receipt is kept only if it verifies and answers one of the change\'s steps', async () => {
  const p = P.newPersona('everyday', new Uint8Array(32));
  const { seq } = P.setLevel(p, 'shop.example', 2, 0);
  const lowered = P.setLevel(p, 'shop.example', 0, 1).seq;
  const receipt = (purpose, state) => ({ entry: { kind: 'consent_change', purpose, state } });
  const ok = async () => 'verified';
  await assert.rejects(P.attachReceipt(p, seq, receipt('personalization', 'granted'), async () => { throw new Error('bad signature'); }), { code: 'receipt' });
  await assert.rejects(P.attachReceipt(p, seq, receipt('personalization', 'granted'), async () => false), { code: 'receipt' });
  await assert.rejects(P.attachReceipt(p, seq, receipt('location', 'granted'), ok), { code: 'receipt_mismatch' });
  await assert.rejects(P.attachReceipt(p, lowered, receipt('analytics', 'granted'), ok), { code: 'receipt_mismatch' });
  assert.deepEqual(P.unreceiptedChanges(p, 'shop.example'), [seq, lowered]);
  await P.attachReceipt(p, seq, receipt('personalization', 'granted'), ok);
  await P.attachReceipt(p, seq, receipt('analytics', 'granted'), ok);
  await P.attachReceipt(p, lowered, receipt('personalization', 'withdrawn'), ok);
  assert.deepEqual(P.unreceiptedChanges(p, 'shop.example'), [lowered], 'the analytics withdrawal is still unproven');
  await P.attachReceipt(p, lowered, receipt('analytics', 'withdrawn'), ok);
  assert.deepEqual(P.unreceiptedChanges(p, 'shop.example'), []);
});

test('unreceiptedChanges (log.rs) skips changes between levels 0 and 1, which are never sent', () => {
  const p = P.newPersona('everyday', new Uint8Array(32));
  P.setLevel(p, 'shop.example', 1, 0);
  P.setLevel(p, 'shop.example', 0, 1);
  assert.deepEqual(P.unreceiptedChanges(p, 'shop.example'), []);
  const { seq } = P.setLevel(p, 'shop.example', 2, 2);
  assert.deepEqual(P.unreceiptedChanges(p, 'shop.example'), [seq]);
});

test('reporterToken equals the Rust client\'s (ids.rs reporter_token)', async () => {
  const secret = new Uint8Array(32).fill(1);
  assert.equal(await P.reporterToken(secret, 'shop', 3), '988aeb3db0f4558c1753c39e0829f7e1a1cf272256a2a9ac984d16b4fcf7034e');
  assert.notEqual(await P.reporterToken(secret, 'shop', 4), await P.reporterToken(secret, 'shop', 3));
  assert.notEqual(await P.reporterToken(secret, 'shop', 3), await P.businessPseudonym(secret, 'shop'));
});

test('checkIn (checkin.rs): no pseudonym below level 2, one per store in 24 h, the nonce from the coins', async () => {
  const p = P.newPersona('everyday', new Uint8Array(32).fill(1));
  const token = `6000000-${'ab'.repeat(16)}`;
  const c = await P.checkIn(p, 'shop', 'berlin', token, 1000, new Uint8Array(16).fill(3));
  assert.deepEqual(Object.keys(c), ['business', 'store', 'token', 'level', 'at', 'nonce']);
  assert.equal(c.nonce, '03'.repeat(16));
  await assert.rejects(P.checkIn(p, 'shop', 'berlin', token, 2000, new Uint8Array(16)), { code: 'invalid' });
  await assert.rejects(P.checkIn(p, 'shop', 'hamburg', 'nonsense', 2000, new Uint8Array(16)), { code: 'invalid' });
  P.setLevel(p, 'shop', 2, 3000);
  const d = await P.checkIn(p, 'shop', 'berlin', token, 1000 + P.CHECKIN_MIN_GAP_MS, new Uint8Array(16));
  assert.equal(d.pseudonym, await P.pseudonymOf(p, 'shop'));
  assert.equal(p.log.entries.at(-1).what.kind, 'check_in');
});

test('erasure (erasure.rs): the same key and signature bytes as the Rust client', async () => {
  const secret = new Uint8Array(32).fill(1);
  assert.equal(await P.erasureKey(secret, 'shop'), '78aa546608490bc3b841ed037b1690afbe4e18817849de23a331d9a3818c07c5');
  assert.notEqual(await P.erasureKey(secret, 'elsewhere'), await P.erasureKey(secret, 'shop'));
  const pseudonym = await P.businessPseudonym(secret, 'shop');
  const r = await P.signErasure(secret, 'shop', pseudonym, 1_800_000_000_000, new Uint8Array(16).fill(9));
  assert.deepEqual(Object.keys(r), ['business', 'pseudonym', 'at', 'nonce', 'signature']);
  assert.equal(r.signature, '6179cb9690fec7659dcf4a1c9176a1a295a7b3113c77a71bb2834f816ef398a0'
    + 'd15fd445f3aec96f2368cec447f4e76415f7dfa0905d2c981d6566da6cbbaa0f');
  // The signature verifies under the public key the level change registers.
  const pub = await crypto.subtle.importKey('raw', P.fromHex(await P.erasureKey(secret, 'shop')), { name: 'Ed25519' }, false, ['verify']);
  assert.ok(await crypto.subtle.verify({ name: 'Ed25519' }, pub, P.fromHex(r.signature),
    P.erasureMessage('shop', pseudonym, r.at, new Uint8Array(16).fill(9))));
});

test('signRecommendations (erasure.rs): the same bytes as the Rust client, under the same key', async () => {
  const secret = new Uint8Array(32).fill(1);
  const ask = await P.signRecommendations(secret, 'shop', 1_800_000_000_000, 8);
  assert.deepEqual(Object.keys(ask).sort(), ['at', 'business', 'n', 'pseudonym', 'signature']);
  assert.equal(ask.pseudonym, await P.businessPseudonym(secret, 'shop'));
  assert.equal(ask.signature, 'fd50572117d200d76d2c347c911d2117fb42240946b9a1d5e024d98c0e3c4bb6'
    + 'bcecb671a7d2441f3e51d010c25e9b52e785ad420b457d5503f99f7ee1a7d30d');
  const pub = await crypto.subtle.importKey('raw', P.fromHex(await P.erasureKey(secret, 'shop')), { name: 'Ed25519' }, false, ['verify']);
  assert.ok(await crypto.subtle.verify({ name: 'Ed25519' }, pub, P.fromHex(ask.signature),
    P.recommendationsMessage('shop', ask.pseudonym, ask.at, 8)));
  // Its own label: never the bytes of an erasure request.
  assert.ok(!(await crypto.subtle.verify({ name: 'Ed25519' }, pub, P.fromHex(ask.signature),
    P.erasureMessage('shop', ask.pseudonym, ask.at, new Uint8Array(16)))));
});

test('requestErasure / erased (persona.rs): logged, kept only for an erasure receipt, then level 0', async () => {
  const p = P.newPersona('everyday', new Uint8Array(32).fill(1));
  P.setLevel(p, 'shop', 2, 1000);
  const { seq, request } = await P.requestErasure(p, 'shop', 2000, new Uint8Array(16).fill(4));
  assert.equal(request.nonce, '04'.repeat(16));
  assert.equal(request.pseudonym, await P.pseudonymOf(p, 'shop'));
  assert.equal(p.log.entries[seq].what.kind, 'erasure');
  assert.ok(P.unreceiptedChanges(p, 'shop').includes(seq));
  await assert.rejects(P.requestErasure(p, 'shop', 2000, new Uint8Array(15)), { code: 'out_of_coins' });
  const ok = async () => 'verified';
  // A consent change, or an erasure older than the request allows: refused.
  const consent = { entry: { kind: 'consent_change', at: 2000 } };
  await assert.rejects(P.erased(p, seq, consent, ok), { code: 'receipt_mismatch' });
  const old = { entry: { kind: 'erasure', at: 2000 - P.ERASURE_MAX_SKEW_MS - 1 } };
  await assert.rejects(P.erased(p, seq, old, ok), { code: 'receipt_mismatch' });
  await assert.rejects(P.erased(p, 0, { entry: { kind: 'erasure', at: 2001 } }, ok), { code: 'invalid' });
  assert.equal(P.levelOf(p, 'shop'), 2);
  assert.equal(await P.erased(p, seq, { entry: { kind: 'erasure', at: 2001 } }, ok), 'verified');
  assert.equal(P.levelOf(p, 'shop'), 0);
  assert.ok(!P.unreceiptedChanges(p, 'shop').includes(seq));
});
