// The demo storefront (docs/persona.md): a shop window whose
// recommendations are computed on this device, and the person's level
// chooser for this shop. Every rule is in /persona/persona.js; this file
// fetches public documents, checks them, draws the page and sends exactly
// what persona.js's `disclose` and `setLevel` say leaves, nothing else.
//
// What the network sees from this page, by level:
//   0, 1 (before a report): GETs of public documents (key, offer, model,
//        catalogue), no query string, no cookie, no body.
//   1: a report without identifier, when the person sends one.
//   2: the level change (consent, under this shop's pseudonym) and the
//      approved interests when the person shares them.
//   3: the level change, then the history (distinct items viewed or added,
//      under the pseudonym) once the shop's receipts verified, again after
//      each view; and a request for the shop's own recommendations.
//   4: as 3, with the details the person typed in the form.
//   lowering: the withdrawal, then nothing above the new level.
//   "Forget me": one request signed under this shop's erasure key (its
//      public half went with the change to level 2 or above), answered
//      with the erasure receipt; the level here is 0 afterwards.
// Below level 3, viewing products only adds to the history kept in IndexedDB.

import * as P from '/persona/persona.js';
import { verifyReceipt, pinnedVerifier } from '/persona/receipt.js';
import { openStore } from '/persona/store.js';

const LABEL = 'everyday';
const KEY_PIN = 'fineline-shop-ledger-key';
const $ = (id) => document.getElementById(id);
const enc = new TextEncoder();

// No cookie, no referrer, nothing cached: the transport adds nothing.
const net = (path, init = {}) => fetch(path, { credentials: 'omit', referrerPolicy: 'no-referrer', cache: 'no-store', ...init });
async function getJson(path) {
  const r = await net(path);
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}
async function postJson(path, body) {
  const r = await net(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const out = await r.json();
  if (!r.ok) throw new Error((out.error && (out.error.message || out.error)) || `${path}: ${r.status}`);
  return out;
}

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}
const say = (text, bad = false) => { $('status').textContent = text; $('status').className = bad ? 'bad' : ''; };
const nice = (category) => category.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());

// ---------------------------------------------------------------- checks

const sortedJson = (v) => Array.isArray(v) ? `[${v.map(sortedJson).join(',')}]`
  : v !== null && typeof v === 'object'
    ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${sortedJson(v[k])}`).join(',')}}`
    : JSON.stringify(v);
async function verifyDocument(keyHex, label, bytes, sigHex) {
  const prefix = enc.encode(`fineline-document/v1\0${label}\0`);
  const msg = new Uint8Array(prefix.length + bytes.length);
  msg.set(prefix); msg.set(bytes, prefix.length);
  const k = await crypto.subtle.importKey('raw', P.fromHex(keyHex), { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'Ed25519' }, k, P.fromHex(sigHex), msg);
}

/** The shop's ledger key, pinned on first visit: a later key is refused. */
async function ledgerKey() {
  const body = await getJson('/v1/ledger/key');
  const key = P.toHex(Uint8Array.from(atob(body.public_key), (c) => c.charCodeAt(0)));
  const pinned = localStorage.getItem(KEY_PIN);
  if (pinned && pinned !== key) throw new Error('this shop now signs with another key than on your first visit');
  localStorage.setItem(KEY_PIN, key);
  return key;
}

// ----------------------------------------------------------------- state

const S = { key: null, offer: null, terms: null, model: null, items: [], byId: new Map(), store: null, persona: null, category: null, basket: 0 };
const level = () => P.levelOf(S.persona, S.terms.business);
async function reload() { S.persona = await S.store.get(LABEL); }

// ----------------------------------------------------------------- cards

function tile(item) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 120 80');
  svg.setAttribute('aria-hidden', 'true');
  const path = (d, cls) => { const p = document.createElementNS(svg.namespaceURI, 'path'); p.setAttribute('d', d); p.setAttribute('class', cls); svg.append(p); };
  path('M0 80 L38 28 L58 52 L78 20 L120 80 Z', 'far');
  path('M70 80 L92 46 L120 80 Z', 'near');
  const sun = document.createElementNS(svg.namespaceURI, 'circle');
  sun.setAttribute('cx', '100'); sun.setAttribute('cy', '18'); sun.setAttribute('r', '8'); sun.setAttribute('class', 'sun');
  svg.append(sun);
  return el('div', { class: `tile c-${item.category}` }, svg, el('span', { class: 'tag', text: nice(item.category) }));
}

function card(item, why) {
  const view = () => look(item.id);
  return el('article', { class: 'card', 'data-item': item.id },
    tile(item),
    el('h4', {}, el('a', { href: '#' + item.id, onclick: (e) => { e.preventDefault(); view(); }, text: item.title })),
    why ? el('p', { class: 'why', text: why }) : el('p', { class: 'cat', text: nice(item.category) }),
    el('div', { class: 'actions' },
      el('button', { type: 'button', class: 'view', onclick: view, text: 'View' }),
      el('button', { type: 'button', class: 'buy', onclick: () => buy(item.id), text: 'Add to basket' })));
}

/** Viewing an item: noted in the history on this device; shared with the
 *  shop only at level 3 or above. */
async function look(id) {
  await S.store.record(LABEL, id);
  await reload();
  const item = S.byId.get(id);
  say(`Viewed ${item ? item.title : id}: noted on this device${level() >= 3 ? ' and shared with the shop' : ' only'}.`);
  drawPicks();
  if (level() >= 3) await shareHistory();
}
async function buy(id) {
  await S.store.record(LABEL, id);
  await reload();
  S.basket += 1;
  $('basket-count').textContent = String(S.basket);
  say(`Added to your basket; noted on this device${level() >= 3 ? ' and shared with the shop' : ' only'}.`);
  drawPicks();
  if (level() >= 3) await shareHistory();
}

function drawCatalogue() {
  const cats = [...new Set(S.items.map((i) => i.category))].sort();
  const nav = $('cats');
  nav.replaceChildren(...[null, ...cats].map((c) => el('button', {
    type: 'button', class: c === S.category ? 'on' : '', text: c ? nice(c) : 'All',
    onclick: () => { S.category = c; drawCatalogue(); },
  })));
  $('cat-title').textContent = S.category ? nice(S.category) : 'All products';
  const shown = S.items.filter((i) => !S.category || i.category === S.category).slice(0, S.category ? 60 : 24);
  $('grid').replaceChildren(...shown.map((i) => card(i)));
}

/** Recommendations on the device: the public model and the local history. */
function drawPicks() {
  if (!S.model) return;
  const recs = P.recommend(S.model, S.persona.history, 8);
  $('picks-grid').replaceChildren(...recs.map((r) => {
    const item = S.byId.get(r.item) || { id: r.item, title: r.item, category: '' };
    const because = r.because && S.byId.get(r.because);
    return card(item, because ? `Because you viewed ${because.title}` : 'Popular in the shop');
  }));
  const n = new Set(S.persona.history).size;
  $('picks-note').textContent = `Computed on this device from the shop's signed public model (v${S.model.version}) and the ${n} item${n === 1 ? '' : 's'} you looked at here. ` +
    (level() >= 3 ? 'You share what you view with the shop (level 3).' : level() >= 2 ? 'The shop knows the interests you shared, not what you viewed.' : 'Nothing about you was sent.');
}

// ---------------------------------------------------------------- levels

function drawLevels() {
  drawCheckin();
  const now = level();
  $('level-name').textContent = `${now} ${P.LEVEL_NAMES[now]}`;
  const legend = $('levels').querySelector('legend');
  $('levels').replaceChildren(legend, ...S.offer.levels.map((l) => {
    const input = el('input', { type: 'radio', name: 'level', value: String(l.level), id: `level-${l.level}` });
    input.checked = l.level === now;
    input.addEventListener('change', () => changeLevel(l.level));
    return el('label', { for: `level-${l.level}`, class: `level${l.level === now ? ' on' : ''}` },
      input,
      el('span', { class: 'lname', text: `${l.level} · ${l.name}` }),
      el('span', { class: 'leaves', text: `What leaves: ${l.leaves}.` }),
      el('span', { class: 'gets', text: `You get: ${l.gets}.` }));
  }));
  const s = P.settings(S.persona, S.terms.business);
  $('crowd').hidden = now !== 1;
  $('budget').textContent = `${(P.remainingMicro(s.budget) / 1e6).toFixed(1)} of ${(s.budget.cap_micro / 1e6).toFixed(1)} nats (each answer costs ${(S.terms.report_epsilon_micro / 1e6).toFixed(1)})`;
  $('interests').hidden = now !== 2;
  if (now === 2) drawTopics(s.approved);
  $('member').hidden = now < 3;
  $('identity').hidden = now !== 4;
  if (now === 4) for (const f of IDENTITY_FIELDS) $(`id-${f}`).value = s.identity[f] || '';
  if (now < 3) { $('shop-picks').hidden = true; $('shop-picks-grid').replaceChildren(); }
  drawPicks();
}

function drawTopics(approved) {
  const suggested = P.suggestInterests(S.persona.history, S.model, S.terms.taxonomy, S.offer.max_topics);
  $('max-topics').textContent = String(S.offer.max_topics);
  $('topics').replaceChildren(...S.terms.taxonomy.map((t) => {
    const box = el('input', { type: 'checkbox', value: t, name: 'topic' });
    box.checked = approved.includes(t);
    return el('label', { class: 'topic' }, box, ` ${nice(t)}`, suggested.includes(t) ? el('small', { text: ' suggested' }) : null);
  }));
}

/** Sends the consent steps of a change that touches level 2 or more, and
 *  keeps each receipt once it verifies. Levels 0 and 1 carry no identifier,
 *  so a change between them stays on the device. */
async function changeLevel(to) {
  const business = S.terms.business;
  const from = level();
  const { seq, steps } = await S.store.setLevel(LABEL, business, to);
  await reload();
  drawLevels();
  if (seq === null) return;
  if (from < 2 && to < 2) { say(`Now ${P.LEVEL_NAMES[to]}: nothing was sent.`); drawLog(); return; }
  try {
    const pseudonym = await P.pseudonymOf(S.persona, business);
    const change = { business, pseudonym, from, to };
    // The public key the shop will check this device's own erasure request with.
    if (to >= 2) change.erasure_key = await P.erasureKeyOf(S.persona, business);
    const answer = await postJson('/v1/persona/level', change);
    for (const receipt of answer.receipts) await S.store.attachReceipt(LABEL, seq, receipt, pinnedVerifier(S.key));
    await reload();
    const withdrawn = steps.filter((s) => !s.granted).length;
    say(`Now ${P.LEVEL_NAMES[to]}. ${withdrawn ? `Withdrawal recorded by the shop; ` : ''}${answer.receipts.length} receipt${answer.receipts.length === 1 ? '' : 's'} verified and kept.`);
  } catch (e) {
    say(`Now ${P.LEVEL_NAMES[to]} on this device, but the shop has not answered with a receipt: ${e.message}`, true);
  }
  drawLog();
  if (to >= 3) await shareHistory();
}

async function send(disclosure) {
  await reload();
  const seq = S.persona.log.entries.length - 1; // disclose logged it last
  // A level-1 report carries this offer version's reporter token: the shop
  // caps the ε spent per token (the digest covers the disclosure alone).
  const body = disclosure.level === 1
    ? { ...disclosure, reporter: await P.reporterOf(S.persona, S.terms.business, S.offer.version) }
    : disclosure;
  const answer = await postJson('/v1/persona/disclosures', body);
  await S.store.attachReceipt(LABEL, seq, answer.receipt, pinnedVerifier(S.key));
  await reload();
  drawLevels();
  drawLog();
  return answer;
}

async function shareInterests() {
  const chosen = [...$('topics').querySelectorAll('input:checked')].map((b) => b.value);
  try {
    await S.store.approveInterests(LABEL, S.terms, chosen);
    if (!chosen.length) { say('No interest approved: nothing was sent.'); return; }
    const d = await S.store.disclose(LABEL, S.terms, S.model);
    await send(d);
    say(`Shared ${d.payload.topics.map(nice).join(', ')}; receipt verified and kept.`);
  } catch (e) { say(e.message, true); }
}

async function sendCrowd() {
  try {
    const d = await S.store.disclose(LABEL, S.terms, S.model);
    await send(d);
    say('One randomized answer sent, with no identifier beyond this offer’s report token (which caps what it can spend); receipt verified and kept.');
  } catch (e) { say(e.message, true); drawLevels(); }
}

// ------------------------------------------------------------ levels 3, 4

/** Level 4's form: the details the person chooses to give this shop. */
const IDENTITY_FIELDS = ['name', 'email', 'clothing_size', 'shoe_size'];

/** Level 3 and 4: sends exactly `disclose`'s history (and, at 4, identity)
 *  under the pseudonym, only while every level change this shop was sent
 *  has its verified receipts (the consent that lets the history in is
 *  recorded); then shows the shop's own recommendations. */
async function shareHistory() {
  if (level() < 3) return;
  if (P.unreceiptedChanges(S.persona, S.terms.business).length) {
    say('Not shared: the shop has not yet proven it recorded your level (no receipt).', true);
    return;
  }
  try {
    const d = await S.store.disclose(LABEL, S.terms, S.model);
    await send(d);
    await shopPicks();
    const details = d.payload.identity ? Object.keys(d.payload.identity) : [];
    say(`Shared ${d.payload.items.length} item${d.payload.items.length === 1 ? '' : 's'}${details.length ? ` and your ${details.map(nice).join(', ')}` : ''} with the shop; receipt verified and kept.`);
  } catch (e) { say(e.message, true); }
}

/** The shop's own recommendations from what this persona shared. */
async function shopPicks() {
  // Signed on this device: the answer comes from the shared history.
  const ask = await P.recommendationsAskOf(S.persona, S.terms.business, Date.now(), 8);
  const recs = await postJson('/v1/persona/recommendations', ask);
  if (level() < 3) return;
  $('shop-picks').hidden = false;
  $('shop-picks-grid').replaceChildren(...recs.items.map((r) => {
    const item = S.byId.get(r.item) || { id: r.item, title: r.title || r.item, category: r.category || '' };
    return card(item, r.reason.replace(/^./, (c) => c.toUpperCase()));
  }));
}

async function saveIdentity() {
  const identity = {};
  for (const f of IDENTITY_FIELDS) {
    const v = $(`id-${f}`).value.trim();
    if (v) identity[f] = v;
  }
  try {
    await S.store.setIdentity(LABEL, S.terms.business, identity);
    await reload();
    await shareHistory();
  } catch (e) { say(e.message, true); }
}

// -------------------------------------------------------------- check-in

/** The kiosk's link: `/shop#checkin=STORE:TOKEN` (a fragment: never sent). */
function kioskCode() {
  const m = /^#checkin=([A-Za-z0-9._-]{1,64}):(\d{1,20}-[0-9a-f]{32})$/.exec(location.hash);
  return m ? { store: m[1], token: m[2] } : null;
}

function drawCheckin() {
  const code = kioskCode();
  $('checkin').hidden = !code;
  if (!code) return;
  const l = level();
  $('checkin-note').textContent = l >= 2
    ? `You are in store ${code.store}. Checking in tells this shop it was you (under your pseudonym), with a receipt.`
    : `You are in store ${code.store}. Checking in only adds one to today's count: nothing about you or this phone is sent.`;
}

async function sendCheckin() {
  const code = kioskCode();
  if (!code) return;
  try {
    const c = await S.store.checkIn(LABEL, S.terms.business, code.store, code.token);
    await reload();
    const seq = S.persona.log.entries.length - 1;
    const answer = await postJson('/v1/footfall/checkins', c);
    if (answer.receipt) {
      await S.store.attachReceipt(LABEL, seq, answer.receipt, pinnedVerifier(S.key));
      await reload();
      say(`Checked in at ${code.store} under your pseudonym; receipt verified and kept.`);
    } else {
      say(`Checked in at ${code.store}: counted only, nothing about you was sent.`);
    }
  } catch (e) { say(e.message, true); }
  drawLog();
}

// --------------------------------------------------------------- erasure

/** Asks the shop to erase what it holds under this persona's pseudonym;
 *  keeps the erasure receipt once it verifies (the level is then 0). */
async function sendErasure() {
  const business = S.terms.business;
  try {
    const { seq, request } = await S.store.requestErasure(LABEL, business);
    await reload();
    drawLog();
    const answer = await postJson('/v1/persona/erasure', request);
    await S.store.erased(LABEL, seq, answer.receipt, pinnedVerifier(S.key));
    await reload();
    say(`The shop erased what it held under your pseudonym (${answer.rows_deleted} rows); erasure receipt verified and kept. Your level here is 0.`);
  } catch (e) { say(`Not erased: ${e.message}`, true); }
  drawLevels();
  drawLog();
}

// ------------------------------------------------------------------- log

function drawLog() {
  const entries = S.persona.log.entries.filter((e) => e.business === S.terms.business);
  $('log').replaceChildren(...entries.slice().reverse().map((e) => {
    const w = e.what;
    const text = w.kind === 'level_change'
      ? `Level ${w.from} → ${w.to}: ${w.steps.length ? w.steps.map((s) => `${s.granted ? 'grant' : 'withdraw'} ${s.purpose}`).join(', ') : 'nothing recorded'}`
      : w.kind === 'check_in' ? `Checked in at ${w.store} (level ${w.level}${w.pseudonym ? ', under your pseudonym' : ', counted only'})`
      : w.kind === 'erasure' ? 'Asked the shop to erase everything it holds under your pseudonym (signed on this device)'
      : w.payload.kind === 'crowd' ? `Anonymous answer: "${nice(w.payload.category)}" (randomized, ε ${w.payload.epsilon_micro / 1e6})`
        : w.payload.kind === 'interests' ? `Interests: ${w.payload.topics.map(nice).join(', ') || 'none'}`
          : `History: ${w.payload.items.length} item${w.payload.items.length === 1 ? '' : 's'}${w.payload.identity ? `; details: ${Object.keys(w.payload.identity).map(nice).join(', ') || 'none'}` : ''}`;
    const needs = w.kind === 'level_change' ? (Math.max(w.from, w.to) >= 2 ? w.steps.length : 0)
      : w.kind === 'check_in' ? (w.pseudonym ? 1 : 0) : 1;
    const receipts = e.receipts.map((r) => el('span', { class: 'receipt ok', text: `✓ receipt verified: ledger entry ${r.leaf_index} of ${r.tree_head.tree_head.size}` }));
    const missing = needs > e.receipts.length ? el('span', { class: 'receipt missing', text: 'no receipt yet' }) : null;
    return el('li', { class: 'entry', 'data-kind': w.kind },
      el('time', { text: new Date(e.at).toLocaleTimeString() }), ' ', text, el('br'), ...receipts, missing);
  }));
}

// ------------------------------------------------------------------ start

async function start() {
  S.store = await openStore();
  if (!(await S.store.get(LABEL))) await S.store.create(LABEL);
  await reload();
  S.key = await ledgerKey();

  const signed = await getJson('/v1/persona/offer');
  if (!(await verifyDocument(S.key, 'persona-offer', enc.encode(sortedJson(signed.offer)), signed.signature))) {
    throw new Error("the shop's offer is not signed by its ledger key");
  }
  S.offer = signed.offer;
  S.terms = { business: S.offer.business, taxonomy: S.offer.taxonomy, report_epsilon_micro: S.offer.report_epsilon_micro };
  $('business').textContent = S.offer.business;
  $('offer-note').textContent = `Offer v${S.offer.version}, signed by the shop's ledger key ${S.key.slice(0, 12)}… (checked on this device). Off by default: nothing leaves until you raise the level.`;

  S.items = await getJson('/v1/persona/catalogue');
  S.byId = new Map(S.items.map((i) => [i.id, i]));
  drawCatalogue();

  const body = await getJson('/v1/persona/model');
  const model = { version: body.version, min_support: body.min_support, digest: body.digest, items: body.items };
  if (!(await verifyDocument(S.key, 'public-model', P.canonicalBytes(model), body.signature))) throw new Error('the public model is not signed by the shop');
  await verifyReceipt(body.receipt, S.key);
  if (body.receipt.entry.kind !== 'model_published' || body.receipt.entry.digest !== model.digest) throw new Error('the public model is not the one in the ledger');
  await S.store.putModel(S.terms.business, model); // checks its digest and shape
  S.model = model;

  $('send-interests').addEventListener('click', shareInterests);
  $('send-crowd').addEventListener('click', sendCrowd);
  $('send-checkin').addEventListener('click', sendCheckin);
  $('send-erasure').addEventListener('click', sendErasure);
  $('send-history').addEventListener('click', shareHistory);
  $('send-identity').addEventListener('click', saveIdentity);
  $('identity').addEventListener('submit', (e) => { e.preventDefault(); saveIdentity(); });
  drawCheckin();
  drawLevels();
  drawLog();
  if (level() >= 3) await shopPicks().catch((e) => say(e.message, true));
  document.body.dataset.ready = 'true';
}

start().catch((e) => { say(`The shop could not start: ${e.message}`, true); document.body.dataset.ready = 'error'; });
