// The browser client's modules against a live fineline server (issue 18):
// the offer's and the public model's signatures under the ledger key, the
// model's digest and its ledger receipt, and a level-1 and a level-2
// disclosure made by persona.js whose receipts attachReceipt keeps and
// whose ledger digests are SHA-256(nonce ‖ JSON.stringify(disclosure)).
//
//   fineline serve --demo --demo-customers 300 --listen 127.0.0.1:18931
//   node tests/persona-js/server.mjs http://127.0.0.1:18931
//
// Exits non-zero at the first check that fails.

import * as P from '../../crates/server/assets/persona/persona.js';
import { verifyReceipt, pinnedVerifier } from '../../crates/server/assets/persona/receipt.js';

const base = process.argv[2] || 'http://127.0.0.1:18931';
const enc = new TextEncoder();
const subtle = globalThis.crypto.subtle;
const check = (ok, what) => {
  if (!ok) { console.error('FAIL', what); process.exit(1); }
  console.log('ok  ', what);
};
const get = async (path) => (await fetch(base + path)).json();
const cat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
/** Compact JSON with every object's keys sorted (the offer's signed form). */
const sorted = (v) => Array.isArray(v) ? `[${v.map(sorted).join(',')}]`
  : v !== null && typeof v === 'object'
    ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${sorted(v[k])}`).join(',')}}`
    : JSON.stringify(v);
const documentMessage = (label, bytes) => cat(enc.encode(`fineline-document/v1\0${label}\0`), bytes);
async function verifyDocument(keyHex, label, bytes, sigHex) {
  const k = await subtle.importKey('raw', P.fromHex(keyHex), { name: 'Ed25519' }, false, ['verify']);
  return subtle.verify({ name: 'Ed25519' }, k, P.fromHex(sigHex), documentMessage(label, bytes));
}
const sha256 = async (b) => new Uint8Array(await subtle.digest('SHA-256', b));

const keyB64 = (await get('/v1/ledger/key')).public_key;
const key = P.toHex(Uint8Array.from(atob(keyB64), (c) => c.charCodeAt(0)));

const signed = await get('/v1/persona/offer');
check(await verifyDocument(key, 'persona-offer', enc.encode(sorted(signed.offer)), signed.signature), 'offer signature');
const o = signed.offer;
const terms = { business: o.business, taxonomy: o.taxonomy, report_epsilon_micro: o.report_epsilon_micro };

const body = await get('/v1/persona/model');
const model = { version: body.version, min_support: body.min_support, digest: body.digest, items: body.items };
check(await P.isWellFormed(model), `model v${model.version} well formed (${model.items.length} items)`);
check(await verifyDocument(key, 'public-model', P.canonicalBytes(model), body.signature), 'model signature');
await verifyReceipt(body.receipt, key);
check(body.receipt.entry.kind === 'model_published' && body.receipt.entry.digest === model.digest, 'model ledger receipt');

async function send(p, d) {
  const r = await fetch(base + '/v1/persona/disclosures', {
    method: 'POST', credentials: 'omit', referrerPolicy: 'no-referrer',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(d.level === 1 ? { ...d, reporter: await P.reporterOf(p, d.business, o.version) } : d),
  });
  const a = await r.json();
  check(r.status === 201, `level-${d.level} disclosure taken (${r.status} ${JSON.stringify(a.error || '')})`);
  await P.attachReceipt(p, p.log.entries.length - 1, a.receipt, pinnedVerifier(key));
  check(p.log.entries.at(-1).receipts.length === 1, `level-${d.level} receipt kept by attachReceipt`);
  const want = P.toHex(await sha256(cat(P.fromHex(a.nonce), enc.encode(JSON.stringify(d)))));
  check(a.receipt.entry.kind === 'persona_disclosure' && a.receipt.entry.digest === want, `level-${d.level} entry binds what was sent`);
}

const p = P.newPersona('everyday');
P.record(p, model.items[0].id);
P.setLevel(p, terms.business, 1, Date.now());
await send(p, await P.disclose(p, terms, model, Date.now(), P.drawCoins()));
const { seq, steps } = P.setLevel(p, terms.business, 2, Date.now());
// Level 2 is consent under the pseudonym: recorded first, its receipts kept.
const raised = await (await fetch(base + '/v1/persona/level', {
  method: 'POST', credentials: 'omit', referrerPolicy: 'no-referrer', headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ business: terms.business, pseudonym: await P.pseudonymOf(p, terms.business), from: 1, to: 2 }),
})).json();
for (const r of raised.receipts) await P.attachReceipt(p, seq, r, pinnedVerifier(key));
check(raised.receipts.length === steps.length && p.log.entries[seq].receipts.length === steps.length, 'level 1 → 2 recorded as consent, receipts kept');
P.approveInterests(p, terms, terms.taxonomy.slice(0, 2));
await send(p, await P.disclose(p, terms, model, Date.now(), P.drawCoins()));
