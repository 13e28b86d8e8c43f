// Ledger receipts, checked on the device before the device log keeps them:
// fineline_ledger::verify_receipt in WebCrypto (the same checks as the
// privacy center's, as an ES module the persona client can import). Pure:
// no I/O; runs in a browser and in Node >= 20.
//
// A receipt (JSON, as the server sends it):
//   { entry, leaf_index, leaf_hash, tree_head: { tree_head: {size, root_hash,
//     timestamp_ms}, key_id, signature }, inclusion_proof: [hex],
//     subject_salt?, log_key }
// Checks, in the Rust order: the log key is the business's pinned key; the
// tree head names that key and its Ed25519 signature is valid; the entry
// hashes to the leaf; the inclusion proof leads from the leaf to the signed
// root (RFC 9162 2.1.3.2). A browser without Ed25519 in WebCrypto cannot
// check the signature, and then the receipt is refused, not kept unchecked.

import { fromHex, toHex, PersonaError } from './persona.js';

const enc = new TextEncoder();
const subtle = () => globalThis.crypto.subtle;
const sha256 = async (b) => new Uint8Array(await subtle().digest('SHA-256', b));
const cat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
const fail = (msg) => new PersonaError('receipt', 'receipt does not verify: ' + msg);

/** RFC 6962 leaf hash: SHA-256(0x00 || bytes). */
export const leafHash = (bytes) => sha256(cat(new Uint8Array([0]), bytes));
const nodeHash = (l, r) => sha256(cat(new Uint8Array([1]), l, r));

/** The root an inclusion proof leads to, or null when the proof cannot be
 *  one for (index, size). Hashes as Uint8Array. */
export async function inclusionRoot(index, size, leaf, proof) {
  if (index >= size) return null;
  let fn = BigInt(index), sn = BigInt(size) - 1n, r = leaf;
  for (const p of proof) {
    if (sn === 0n) return null;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  return sn === 0n ? r : null;
}

/** The 70 signed bytes of a tree head (head.rs `canonical_bytes`). */
export function treeHeadBytes(th) {
  const out = new Uint8Array(70);
  out.set(enc.encode('fineline-tree-head-v1\n'), 0);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(22, BigInt(th.size));
  dv.setBigInt64(30, BigInt(th.timestamp_ms));
  out.set(fromHex(th.root_hash), 38);
  return out;
}

const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const isHex32 = (s) => typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);

/** Checks `receipt` under the business's pinned log key (64 hex digits);
 *  returns a short summary, throws PersonaError('receipt') otherwise. */
export async function verifyReceipt(receipt, trustedKeyHex) {
  const rc = receipt || {};
  const th = rc.tree_head && rc.tree_head.tree_head;
  if (!th || !rc.entry || !Array.isArray(rc.inclusion_proof) || !isHex32(rc.leaf_hash) || !isHex32(th.root_hash)) throw fail('not a receipt');
  if (!isHex32(rc.log_key) || rc.log_key !== String(trustedKeyHex).toLowerCase()) throw fail('signed by another key than this business\'s');
  const key = fromHex(rc.log_key);
  if (toHex(await sha256(key)) !== rc.tree_head.key_id) throw fail('the tree head names another key');
  let signed;
  try {
    const k = await subtle().importKey('raw', key, { name: 'Ed25519' }, false, ['verify']);
    signed = await subtle().verify({ name: 'Ed25519' }, k, unb64(rc.tree_head.signature), treeHeadBytes(th));
  } catch (_) {
    throw fail('this browser cannot check Ed25519 signatures');
  }
  if (!signed) throw fail('bad signature on the tree head');
  // The leaf input is the entry's JSON exactly as serialized (ledger entry.rs);
  // JSON.parse keeps the key order, so stringify gives the same bytes back.
  const leaf = await leafHash(enc.encode(JSON.stringify(rc.entry)));
  if (toHex(leaf) !== rc.leaf_hash) throw fail('the entry does not hash to the leaf the proof is for');
  if (!rc.inclusion_proof.every(isHex32)) throw fail('bad proof');
  const root = await inclusionRoot(rc.leaf_index, th.size, leaf, rc.inclusion_proof.map(fromHex));
  if (!root || toHex(root) !== th.root_hash) throw fail('bad proof: the entry is not in the signed ledger');
  return `entry ${rc.leaf_index} of ${th.size}, signed at ${th.timestamp_ms}`;
}

/** A verifier for persona.js's attachReceipt, pinned to one business's key. */
export const pinnedVerifier = (trustedKeyHex) => (receipt) => verifyReceipt(receipt, trustedKeyHex);
