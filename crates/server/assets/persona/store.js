// The persona kept on the device: a thin IndexedDB layer over persona.js.
// Every rule lives in persona.js (shared with Node's tests); this file only
// loads a persona, hands it to a pure function with fresh coins, and saves
// it back. Nothing here talks to the network.
//
// Database "fineline-persona" v1:
//   personas  key: label     value: the persona (Rust `Persona` serde shape)
//   models    key: business  value: { business, model, stored_at }
// The persona's secret sits in IndexedDB under the browser's protection only
// (docs/persona.md, threat model): anyone who unlocks the device and opens
// this origin's storage can read it.
//
// Read-modify-write of one persona runs under a Web Lock named after it, so
// two tabs cannot both spend the same lifetime ε (each would otherwise read
// the old budget and the last write would erase the other's charge). An
// IndexedDB transaction cannot span the WebCrypto awaits, hence the lock.

import * as P from './persona.js';

export const DB_NAME = 'fineline-persona';
const DB_VERSION = 1;

const promised = (req) => new Promise((resolve, reject) => {
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

function openDb(idb) {
  const req = idb.open(DB_NAME, DB_VERSION);
  req.onupgradeneeded = () => {
    const db = req.result;
    if (!db.objectStoreNames.contains('personas')) db.createObjectStore('personas', { keyPath: 'label' });
    if (!db.objectStoreNames.contains('models')) db.createObjectStore('models', { keyPath: 'business' });
  };
  return promised(req);
}

/** Runs `fn` alone for `name` across this origin's tabs when the browser
 *  has Web Locks; otherwise (old browsers, tests) alone in this page. */
const pageLocks = new Map();
function exclusive(name, fn) {
  const locks = globalThis.navigator && globalThis.navigator.locks;
  if (locks) return locks.request('fineline-persona:' + name, fn);
  const prev = pageLocks.get(name) || Promise.resolve();
  const run = prev.then(fn, fn);
  pageLocks.set(name, run.catch(() => {}));
  return run;
}

/** Opens the device's persona store. */
export async function openStore(idb = globalThis.indexedDB) {
  if (!idb) throw new P.PersonaError('invalid', 'invalid: this browser keeps no IndexedDB (private mode?)');
  const db = await openDb(idb);
  const tx = (store, mode, fn) => {
    const t = db.transaction(store, mode);
    const out = fn(t.objectStore(store));
    return new Promise((resolve, reject) => {
      // A request's result is read once the transaction has committed.
      t.oncomplete = () => resolve(out ? out.result : undefined);
      // The failed request is the event's target; transaction.error is
      // still null while its error event is dispatched.
      t.onerror = (ev) => reject((ev && ev.target && ev.target.error) || t.error || new Error('transaction failed'));
      t.onabort = () => reject(t.error || new Error('transaction aborted'));
    });
  };
  const get = (store, key) => tx(store, 'readonly', (s) => s.get(key));

  /** Loads `label`, runs `fn(persona)` (may be async), saves it unless `fn` threw. */
  const update = (label, fn) => exclusive(label, async () => {
    const p = await get('personas', label);
    if (!p) throw new P.PersonaError('invalid', `invalid: no persona labelled ${JSON.stringify(label)}`);
    const out = await fn(p);
    await tx('personas', 'readwrite', (s) => { s.put(p); });
    return out;
  });

  return {
    db,
    /** Every persona on this device, by label. */
    list: () => tx('personas', 'readonly', (s) => s.getAll()),
    get: (label) => get('personas', label),
    /** A new persona with a fresh 32-byte secret; labels are distinct (Wallet::add). */
    create: async (label) => {
      const p = P.newPersona(label);
      await exclusive(label, () => tx('personas', 'readwrite', (s) => { s.add(p); }))
        .catch((e) => { throw e && e.name === 'ConstraintError' ? new P.PersonaError('invalid', 'invalid: a persona with this label exists') : e; });
      return p;
    },
    /** Forgets a persona and its log on this device. */
    remove: (label) => exclusive(label, () => tx('personas', 'readwrite', (s) => { s.delete(label); })),
    update,

    record: (label, item) => update(label, (p) => P.record(p, item)),
    /** Sets a business's level; returns {seq, steps}: the consent steps to send. */
    setLevel: (label, business, level, at = Date.now()) => update(label, (p) => P.setLevel(p, business, level, at)),
    approveInterests: (label, terms, topics) => update(label, (p) => P.approveInterests(p, terms, topics)),
    setIdentity: (label, business, identity) => update(label, (p) => P.setIdentity(p, business, identity)),
    lowerBudgetCap: (label, business, capMicro) => update(label, (p) => P.lowerBudgetCap(p, business, capMicro)),
    /** What leaves now for `terms.business`, with coins drawn here; the
     *  persona (budget, log) is saved only if the disclosure was made. */
    disclose: (label, terms, model, at = Date.now()) => update(label, (p) => P.disclose(p, terms, model, at, P.drawCoins())),
    checkIn: (label, business, store, token, at = Date.now()) => update(label, (p) => P.checkIn(p, business, store, token, at, P.drawCoins())),
    /** Makes and logs a signed erasure request for `business`; returns {seq, request}. */
    requestErasure: (label, business, at = Date.now()) => update(label, (p) => P.requestErasure(p, business, at, P.drawCoins(P.ERASURE_NONCE_BYTES))),
    /** Keeps the erasure receipt once `verify` accepts it; the level there is then 0. */
    erased: (label, seq, receipt, verify) => update(label, (p) => P.erased(p, seq, receipt, verify)),
    /** Keeps a receipt on log entry `seq` once `verify` accepts it (receipt.js pinnedVerifier). */
    attachReceipt: (label, seq, receipt, verify) => update(label, (p) => P.attachReceipt(p, seq, receipt, verify)),
    recommend: async (label, business, n) => {
      const [p, m] = await Promise.all([get('personas', label), get('models', business)]);
      if (!p || !m) return [];
      return P.recommend(m.model, p.history, n);
    },

    /** Keeps a business's public model, only if it is well formed (digest, structure). */
    putModel: async (business, model) => {
      if (!(await P.isWellFormed(model))) throw new P.PersonaError('invalid', 'invalid: the public model is malformed or its digest does not match');
      await tx('models', 'readwrite', (s) => { s.put({ business, model, stored_at: Date.now() }); });
    },
    getModel: async (business) => { const m = await get('models', business); return m ? m.model : null; },

    /** Every persona as the Rust `Wallet`'s JSON: the person's own backup. */
    exportWallet: async () => JSON.stringify({ personas: await tx('personas', 'readonly', (s) => s.getAll()) }),
    close: () => db.close(),
  };
}

