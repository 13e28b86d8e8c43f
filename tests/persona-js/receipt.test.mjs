// receipt.js: the device checks a ledger receipt before its log keeps it.
// The inclusion proofs are RFC 6962's known answers (the same ones
// crates/ledger/tests/known_answers.rs checks the Rust verifier against);
// the signed receipt is built here with a fresh Ed25519 key.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import * as P from '../../crates/server/assets/persona/persona.js';
import { inclusionRoot, leafHash, pinnedVerifier, treeHeadBytes, verifyReceipt } from '../../crates/server/assets/persona/receipt.js';

const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
const ROOTS = {
  3: 'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  5: '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  8: '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
};
const INCLUSION = [
  [0, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [5, 8, ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [1, 5, ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
];

test('inclusion proofs: RFC 6962 known answers', async () => {
  for (const [i, size, proof] of INCLUSION) {
    const leaf = await leafHash(P.fromHex(LEAVES[i]));
    const root = await inclusionRoot(i, size, leaf, proof.map(P.fromHex));
    assert.equal(root && P.toHex(root), ROOTS[size], `leaf ${i} of ${size}`);
    assert.equal(await inclusionRoot(i, size, leaf, proof.slice(1).map(P.fromHex)).then((r) => r && P.toHex(r)) === ROOTS[size], false);
  }
});

const b64 = (u8) => btoa(String.fromCharCode(...u8));
const enc = new TextEncoder();
const H = async (...parts) => new Uint8Array(await crypto.subtle.digest('SHA-256', Uint8Array.from(parts.flatMap((p) => [...p]))));

// A three-entry ledger signed with a fresh key; the receipt for entry `at`.
async function ledger(entries) {
  const keys = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
  const pub = new Uint8Array(await crypto.subtle.exportKey('raw', keys.publicKey));
  const leaves = await Promise.all(entries.map((e) => H([0], enc.encode(JSON.stringify(e)))));
  const left = await H([1], leaves[0], leaves[1]);
  const root = await H([1], left, leaves[2]);
  const head = { size: 3, root_hash: P.toHex(root), timestamp_ms: 1_700_000_000_500 };
  const sig = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, keys.privateKey, treeHeadBytes(head)));
  const signed = { tree_head: head, key_id: P.toHex(await H(pub)), signature: b64(sig) };
  const proofs = [[leaves[1], leaves[2]], [leaves[0], leaves[2]], [left]];
  const receipt = (at) => ({ entry: structuredClone(entries[at]), leaf_index: at, leaf_hash: P.toHex(leaves[at]), tree_head: structuredClone(signed),
    inclusion_proof: proofs[at].map(P.toHex), log_key: P.toHex(pub) });
  return { key: P.toHex(pub), receipt };
}

const change = (purpose, state, at) => ({ kind: 'consent_change', commitment: 'ab'.repeat(32), purpose, state,
  policy_version: 1, source: 'persona', record_id: `r${at}`, at });

test('a receipt verifies under the pinned key; altered entries, proofs, signatures and other keys do not', async () => {
  const { key, receipt } = await ledger([change('personalization', 'granted', 1), change('analytics', 'granted', 2), change('personalization', 'withdrawn', 3)]);
  for (const at of [0, 1, 2]) assert.match(await verifyReceipt(receipt(at), key), new RegExp(`^entry ${at} of 3`));
  const other = await ledger([change('analytics', 'granted', 1), change('analytics', 'granted', 2), change('analytics', 'granted', 3)]);
  const bad = async (what, rc, k = key) => assert.rejects(verifyReceipt(rc, k), { code: 'receipt' }, what);
  const altered = receipt(2); altered.entry.state = 'granted';
  await bad('altered entry', altered);
  const proof = receipt(0); proof.inclusion_proof.reverse();
  await bad('proof in the wrong order', proof);
  const sig = receipt(1); sig.tree_head.tree_head.timestamp_ms += 1;
  await bad('head changed after signing', sig);
  await bad('another business\'s key', receipt(1), other.key);
  await bad('a receipt signed by another ledger', other.receipt(1));
  await bad('not a receipt', { entry: {} });
});

test('the device log keeps only receipts that verify and answer the change', async () => {
  const { key, receipt } = await ledger([change('personalization', 'granted', 1), change('analytics', 'granted', 2), change('personalization', 'withdrawn', 3)]);
  const p = P.newPersona('everyday', new Uint8Array(32));
  const raised = P.setLevel(p, 'shop.example', 2, 1).seq;
  const lowered = P.setLevel(p, 'shop.example', 1, 3).seq;
  const verify = pinnedVerifier(key);
  await P.attachReceipt(p, raised, receipt(0), verify);
  await P.attachReceipt(p, raised, receipt(1), verify);
  const altered = receipt(2); altered.entry.purpose = 'analytics';
  await assert.rejects(P.attachReceipt(p, lowered, altered, verify), { code: 'receipt' });
  await assert.rejects(P.attachReceipt(p, lowered, receipt(0), verify), { code: 'receipt_mismatch' });
  assert.deepEqual(P.unreceiptedChanges(p, 'shop.example'), [lowered]);
  await P.attachReceipt(p, lowered, receipt(2), verify);
  // 2 → 1 also withdraws analytics' interests scope and re-grants ldp_reports: still owed.
  assert.deepEqual(P.consentSteps(2, 1).map((s) => [s.purpose, s.granted]), [['personalization', false], ['analytics', false], ['analytics', true]]);
  assert.deepEqual(P.unreceiptedChanges(p, 'shop.example'), [lowered]);
  assert.equal(p.log.entries[raised].receipts.length, 2);
});
