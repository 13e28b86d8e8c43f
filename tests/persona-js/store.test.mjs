// store.js over a minimal in-memory stand-in for IndexedDB (Node has none):
// the subset store.js uses (open/upgrade, one-store transactions, get,
// getAll, put, add, delete), values structured-cloned as a browser does and
// requests answered asynchronously. It checks store.js's own logic: what is
// saved, what is not, and that concurrent disclosures cannot both spend the
// same lifetime ε. The real IndexedDB is exercised by the Chromium test.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { openStore } from '../../crates/server/assets/persona/store.js';

function fakeIndexedDB() {
  const dbs = new Map();
  const later = (f) => setTimeout(f, 0);
  const request = () => ({ onsuccess: null, onerror: null, result: undefined, error: null });
  return {
    open(name) {
      const req = request();
      later(() => {
        const fresh = !dbs.has(name);
        if (fresh) dbs.set(name, new Map());
        const stores = dbs.get(name);
        const db = {
          objectStoreNames: { contains: (s) => stores.has(s) },
          createObjectStore: (s, { keyPath }) => stores.set(s, { keyPath, rows: new Map() }),
          close() {},
          transaction(s, mode) {
            const st = stores.get(s);
            const t = { oncomplete: null, onerror: null, onabort: null, error: null };
            const ops = [];
            const op = (f) => { const r = request(); ops.push([r, f]); return r; };
            const ro = () => { if (mode !== 'readwrite') throw new Error('ReadOnlyError'); };
            t.objectStore = () => ({
              get: (k) => op(() => structuredClone(st.rows.get(k))),
              getAll: () => op(() => [...st.rows.keys()].sort().map((k) => structuredClone(st.rows.get(k)))),
              put: (v) => { ro(); return op(() => { st.rows.set(v[st.keyPath], structuredClone(v)); }); },
              add: (v) => { ro(); return op(() => { if (st.rows.has(v[st.keyPath])) throw Object.assign(new Error('key exists'), { name: 'ConstraintError' }); st.rows.set(v[st.keyPath], structuredClone(v)); }); },
              delete: (k) => { ro(); return op(() => { st.rows.delete(k); }); },
            });
            later(() => {
              const saved = new Map([...st.rows].map(([k, v]) => [k, v]));
              for (const [r, f] of ops) {
                try { r.result = f(); r.onsuccess && r.onsuccess(); } catch (e) {
                  st.rows = saved; // abort: nothing of this transaction is kept
                  // As a browser: transaction.error is set only after the error event.
                  r.error = e; r.onerror && r.onerror({ target: r }); t.onerror && t.onerror({ target: r }); t.error = e; return;
                }
              }
              t.oncomplete && t.oncomplete();
            });
            return t;
          },
        };
        req.result = db;
        if (fresh && req.onupgradeneeded) req.onupgradeneeded();
        req.onsuccess && req.onsuccess();
      });
      return req;
    },
  };
}

const model = {
  version: 1, min_support: 10, items: [
    { id: 'boots', categories: ['running'], popularity: 30, neighbours: [[1, 500000]] },
    { id: 'laces', categories: ['running'], popularity: 20, neighbours: [[0, 500000]] },
  ], digest: '', // computed in the first test
};
const terms = { business: 'shop.example', taxonomy: ['running', 'camping'], report_epsilon_micro: 2_000_000 };

test('the store keeps personas, refuses duplicates and bad models, and recommends from the kept model', async () => {
  const { modelDigest } = await import('../../crates/server/assets/persona/persona.js');
  model.digest = await modelDigest(model);
  const s = await openStore(fakeIndexedDB());
  const p = await s.create('everyday');
  assert.equal(p.secret.length, 32);
  await assert.rejects(s.create('everyday'), { code: 'invalid' });
  await s.record('everyday', 'boots');
  await assert.rejects(s.putModel(terms.business, { ...model, version: 2 }), { code: 'invalid' }, 'digest no longer matches');
  await s.putModel(terms.business, model);
  assert.deepEqual(await s.recommend('everyday', terms.business, 1), [{ item: 'laces', score: 500000, because: 'boots' }]);
  assert.deepEqual(JSON.parse(await s.exportWallet()).personas.map((x) => x.history), [['boots']]);
  // Level 0: nothing leaves, nothing logged.
  assert.deepEqual((await s.disclose('everyday', terms, model)).payload, { kind: 'nothing' });
  assert.equal((await s.get('everyday')).log.entries.length, 0);
});

test('concurrent level-1 disclosures cannot both spend the last of the lifetime ε', async () => {
  const s = await openStore(fakeIndexedDB());
  await s.create('everyday');
  await s.setLevel('everyday', terms.business, 1, 0);
  await s.lowerBudgetCap('everyday', terms.business, 3_000_000); // room for one report at ε = 2
  const tries = await Promise.allSettled([1, 2, 3].map((at) => s.disclose('everyday', terms, model, at)));
  assert.deepEqual(tries.map((t) => t.status).sort(), ['fulfilled', 'rejected', 'rejected']);
  assert.ok(tries.filter((t) => t.status === 'rejected').every((t) => t.reason.code === 'budget_exhausted'));
  const saved = await s.get('everyday');
  assert.equal(saved.businesses[terms.business].budget.spent_micro, 2_000_000);
  assert.equal(saved.log.entries.filter((e) => e.what.kind === 'disclosure').length, 1);
});
