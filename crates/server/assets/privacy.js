// fineline privacy center. Talks only to this server with the person's
// subject token; checks receipts in the browser with WebCrypto.
'use strict';

const NAMES = {
  personalization: 'Personal recommendations',
  analytics: 'Analytics: how our shop is used',
  partner_insights: 'Anonymous statistics for partners',
  location: 'Your location',
  in_store_detection: 'Noticing your phone in our stores',
};
const name = (p) => NAMES[p] || p;
const $ = (id) => document.getElementById(id);
const el = (tag, props, ...kids) => {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const k of kids) e.append(k);
  return e;
};

let token = null;
// The signed-in person's pseudonym, as the server states it over their
// token (GET .../consents/history); the token's own payload is the
// fallback (after an erasure nothing is asked of the server any more).
let me = null;

function say(text) { $('alert').textContent = ''; $('status').textContent = text; }
function fail(text) { $('status').textContent = ''; $('alert').textContent = text; }

async function api(method, path, body, accept) {
  const headers = { Authorization: 'Bearer ' + token, Accept: accept || 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!r.ok) {
    let msg = r.status + ' ' + r.statusText;
    try { msg = (await r.json()).error.message; } catch (_) { /* not JSON */ }
    if (r.status === 401) { signOut(); }
    throw new Error(msg);
  }
  if (r.status === 204) return null;
  return (accept || '').startsWith('text/') ? r.text() : r.json();
}

// The token's payload names the person's pseudonym: `k1_<hex>.<expiry>`.
function tokenSubject(t) {
  try {
    const b64 = t.slice(4).split('.')[0].replace(/-/g, '+').replace(/_/g, '/');
    const text = atob(b64);
    return text.slice(0, text.lastIndexOf('.'));
  } catch (_) { return null; }
}

function download(filename, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---------------------------------------------------------------- choices

async function loadChoices() {
  const policy = await fetch('/v1/policy').then((r) => (r.ok ? r.json() : null));
  const status = await api('GET', '/v1/subjects/me/consents');
  const list = $('purposes');
  list.textContent = '';
  if (!policy) { $('policy-intro').textContent = 'No privacy policy has been published yet.'; return; }
  const p = policy.policy || policy;
  const intro = $('policy-intro');
  intro.textContent = '';
  intro.append(el('strong', {}, p.title + ' (version ' + p.version + ')'));
  for (const para of (p.text || '').split(/\n\s*\n/)) intro.append(el('span', { className: 'para' }, para));
  intro.append(el('span', { className: 'para' }, 'Nothing below is used without your yes, and you can change your mind at any time.'));
  for (const d of p.purposes) {
    const id = 'purpose-' + d.purpose;
    const state = status.purposes[d.purpose] || 'none';
    const box = el('input', { type: 'checkbox', id, checked: state === 'given' });
    box.dataset.purpose = d.purpose;
    box.setAttribute('aria-describedby', id + '-desc');
    const cats = (d.data_categories || []).join(', ').replace(/_/g, ' ');
    const who = (d.recipients || []).length ? 'Shared with: ' + d.recipients.join(', ') + '.' : 'Not shared with anyone else.';
    let text = d.description + ' Data used: ' + (cats || 'none') + '. Kept for ' + d.retention_days + ' days. ' + who;
    if (state === 'expired') text += ' We changed how we use this since you agreed, so we need to ask again.';
    const desc = el('p', { id: id + '-desc' }, text);
    box.addEventListener('change', () => choose(box));
    list.append(el('li', { className: 'purpose' }, box, ' ', el('label', { htmlFor: id }, name(d.purpose)), desc));
  }
}

async function choose(box) {
  const purpose = box.dataset.purpose;
  const on = box.checked;
  box.disabled = true;
  try {
    const body = { source: 'web' };
    body[on ? 'grant' : 'withdraw'] = [purpose];
    const res = await api('POST', '/v1/subjects/me/consents', body);
    const idx = res.receipts && res.receipts[0] ? res.receipts[0].leaf_index : '?';
    say('Saved: ' + name(purpose) + ' is now ' + (on ? 'on' : 'off') + '. Receipt: ledger entry #' + idx + '.');
  } catch (e) {
    box.checked = !on;
    fail('Could not save your choice for ' + name(purpose) + ': ' + e.message);
  } finally {
    box.disabled = false;
  }
}

// ---------------------------------------------------------------- held data

async function loadHeld() {
  const held = $('held');
  let s;
  try { s = await api('GET', '/v1/subjects/me'); } catch (e) {
    held.textContent = 'We hold nothing about you.';
    return;
  }
  held.textContent = '';
  const parts = Object.entries(s.events_by_purpose).map(([p, n]) => n + ' for ' + name(p).toLowerCase());
  held.append(el('p', { id: 'held-total' }, 'We hold ' + s.events_total + ' events about you' + (parts.length ? ' (' + parts.join('; ') + ').' : '.')));
  held.append(el('h3', {}, 'Interests we inferred'));
  const active = s.interests.filter((i) => !i.removed);
  if (!active.length) held.append(el('p', {}, 'None.'));
  const ul = el('ul', { className: 'plain' });
  for (const i of active) {
    const b = el('button', { type: 'button' }, 'Remove');
    b.setAttribute('aria-label', 'Remove interest ' + i.category);
    b.addEventListener('click', async () => {
      try { await api('DELETE', '/v1/subjects/me/interests/' + encodeURIComponent(i.category)); say('Removed the interest ' + i.category + '. We will not infer it again.'); loadHeld(); } catch (e) { fail(e.message); }
    });
    ul.append(el('li', {}, i.category + ' ', b));
  }
  held.append(ul);
  if (s.recent_events.length) {
    held.append(el('h3', {}, 'Your most recent events'));
    const tbody = el('tbody');
    for (const e of s.recent_events) {
      const b = el('button', { type: 'button' }, 'Delete');
      b.setAttribute('aria-label', 'Delete event ' + e.id);
      b.addEventListener('click', async () => {
        try { await api('DELETE', '/v1/subjects/me/events/' + e.id); say('Deleted event ' + e.id + '.'); loadHeld(); } catch (err) { fail(err.message); }
      });
      tbody.append(el('tr', {}, el('td', {}, new Date(e.at).toLocaleString()), el('td', {}, e.type), el('td', {}, e.item_title ? e.item_title + ' (' + e.item + ')' : (e.item || '')), el('td', {}, name(e.purpose)), el('td', {}, b)));
    }
    const head = el('tr', {}, ...['When', 'What', 'Item', 'Purpose', 'Action'].map((h) => el('th', { scope: 'col' }, h)));
    held.append(el('table', {}, el('caption', {}, 'Latest ' + s.recent_events.length + ' events'), el('thead', {}, head), tbody));
  }
}

// ---------------------------------------------------------------- receipts

const enc = new TextEncoder();
const hex = (u8) => Array.from(u8, (b) => b.toString(16).padStart(2, '0')).join('');
const unhex = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)));
const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const cat = (...parts) => { const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0)); let o = 0; for (const p of parts) { out.set(p, o); o += p.length; } return out; };
const sha256 = async (b) => new Uint8Array(await crypto.subtle.digest('SHA-256', b));
const nodeHash = (l, r) => sha256(cat(new Uint8Array([1]), l, r));

// RFC 9162 section 2.1.3.2, as fineline_ledger::verify_inclusion.
async function rootFromProof(index, size, leaf, proof) {
  if (index >= size) return null;
  let fn = BigInt(index), sn = BigInt(size) - 1n, r = leaf;
  for (const p of proof.map(unhex)) {
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

function headBytes(th) {
  const out = new Uint8Array(70);
  out.set(enc.encode('fineline-tree-head-v1\n'), 0);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(22, BigInt(th.size));
  dv.setBigInt64(30, BigInt(th.timestamp_ms));
  out.set(unhex(th.root_hash), 38);
  return out;
}

async function checkReceipt(rc, logKey, subject) {
  const checks = [];
  const leaf = await sha256(cat(new Uint8Array([0]), enc.encode(JSON.stringify(rc.entry))));
  checks.push(['entry matches its hash', hex(leaf) === rc.leaf_hash]);
  const th = rc.tree_head.tree_head;
  const root = await rootFromProof(rc.leaf_index, th.size, leaf, rc.inclusion_proof);
  checks.push(['entry is in the ledger', !!root && hex(root) === th.root_hash]);
  const keyOk = hex(logKey) === rc.log_key && hex(await sha256(logKey)) === rc.tree_head.key_id;
  checks.push(['signed by this shop\'s ledger key', keyOk]);
  try {
    const k = await crypto.subtle.importKey('raw', logKey, { name: 'Ed25519' }, false, ['verify']);
    const sigOk = await crypto.subtle.verify({ name: 'Ed25519' }, k, unb64(rc.tree_head.signature), headBytes(th));
    checks.push(['ledger signature is valid', sigOk]);
  } catch (_) {
    checks.push(['ledger signature (this browser cannot check Ed25519; use fineline verify)', null]);
  }
  // Always checked: a receipt that is valid in every other way may still
  // be someone else's, and one without a salt proves nothing about you.
  const about = 'the entry is about you';
  if (!subject) {
    checks.push([about + ' (cannot tell who you are)', false]);
  } else if (!/^[0-9a-f]{64}$/.test(rc.subject_salt || '')) {
    checks.push([about + ' (the receipt holds no valid salt)', false]);
  } else if (typeof rc.entry.commitment !== 'string') {
    checks.push([about + ' (the entry names no one)', false]);
  } else {
    const k = await crypto.subtle.importKey('raw', unhex(rc.subject_salt), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const mac = new Uint8Array(await crypto.subtle.sign('HMAC', k, enc.encode(subject)));
    checks.push([about, hex(mac) === rc.entry.commitment]);
  }
  return checks;
}

function describe(entry) {
  if (entry.kind === 'consent_change') return (entry.state === 'granted' ? 'You allowed ' : 'You refused ') + name(entry.purpose);
  if (entry.kind === 'erasure') return 'Your data was erased';
  if (entry.kind === 'data_access') return 'Your data was read (' + entry.what + ')';
  return entry.kind;
}

let lastReceipts = [];

async function verifyAll(receipts) {
  const list = $('receipts');
  list.textContent = '';
  const key = await fetch('/v1/ledger/key').then((r) => r.json());
  const logKey = unb64(key.public_key);
  const subject = me || tokenSubject(token);
  let good = 0, bad = 0;
  for (const rc of receipts) {
    const checks = await checkReceipt(rc, logKey, subject);
    const ok = checks.every(([, v]) => v !== false);
    ok ? good++ : bad++;
    const when = new Date(rc.entry.at).toLocaleString();
    const detail = el('ul', {}, ...checks.map(([t, v]) => el('li', { className: v === false ? 'bad' : 'ok' }, (v === false ? '✗ ' : v ? '✓ ' : '? ') + t)));
    list.append(el('li', { className: 'receipt ' + (ok ? 'ok' : 'bad') }, '#' + rc.leaf_index + ' ' + when + ': ' + describe(rc.entry) + ' — ' + (ok ? 'valid' : 'INVALID'), detail));
  }
  say(receipts.length ? good + ' of ' + receipts.length + ' receipts verified' + (bad ? '; ' + bad + ' failed.' : '.') : 'You have no receipts yet.');
}

async function fetchReceipts() {
  const h = await api('GET', '/v1/subjects/me/consents/history');
  me = h.subject || null;
  lastReceipts = h.entries.map((e) => e.receipt);
  return lastReceipts;
}

// ---------------------------------------------------------------- erasure

async function eraseAll() {
  if (!$('delete-understand').checked) { fail('Tick "I understand this cannot be undone" first.'); $('delete-understand').focus(); return; }
  try {
    const res = await api('DELETE', '/v1/subjects/me');
    const box = $('erased');
    box.hidden = false;
    box.textContent = '';
    const b = el('button', { type: 'button' }, 'Download my erasure receipt');
    b.addEventListener('click', () => download('erasure-receipt.json', 'application/json', JSON.stringify(res, null, 2)));
    box.append(el('p', {}, 'Erased ' + res.rows_deleted + ' records. Ledger entry #' + res.receipt.leaf_index + ' proves it; keep the receipt.'), b);
    $('delete-confirm').hidden = true;
    $('delete-start').hidden = true;
    say('Your account and data have been erased.');
    await verifyAll([res.receipt]);
    say('Your account and data have been erased.');
    $('held').textContent = 'We hold nothing about you.';
  } catch (e) { fail('Erasure failed: ' + e.message); }
}

// ---------------------------------------------------------------- start

function signOut() {
  sessionStorage.removeItem('fineline-token');
  token = null;
  me = null;
  $('center').hidden = true;
  $('signin').hidden = false;
}

async function open() {
  $('signin').hidden = true;
  $('center').hidden = false;
  try {
    await loadChoices();
    await loadHeld();
  } catch (e) { fail(e.message); }
}

function start() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem('fineline-token', decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname); // keep the token out of history
  }
  token = sessionStorage.getItem('fineline-token');
  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = $('token-input').value.trim();
    sessionStorage.setItem('fineline-token', token);
    $('token-input').value = '';
    open();
  });
  $('export-json').addEventListener('click', async () => {
    try { const d = await api('GET', '/v1/subjects/me/export'); download('my-data.json', 'application/json', JSON.stringify(d, null, 2)); say('Your data was downloaded: ' + d.events.length + ' events, ' + d.consents.records.length + ' consent records.'); } catch (e) { fail(e.message); }
  });
  $('export-html').addEventListener('click', async () => {
    try { const h = await api('GET', '/v1/subjects/me/export?format=html', undefined, 'text/html'); download('my-data.html', 'text/html', h); say('A readable copy of your data was downloaded.'); } catch (e) { fail(e.message); }
  });
  $('verify').addEventListener('click', async () => { try { await verifyAll(await fetchReceipts()); } catch (e) { fail(e.message); } });
  $('download-receipts').addEventListener('click', async () => {
    try { download('receipts.json', 'application/json', JSON.stringify(await fetchReceipts(), null, 2)); say('Receipts downloaded.'); } catch (e) { fail(e.message); }
  });
  $('delete-start').addEventListener('click', () => {
    const c = $('delete-confirm');
    c.hidden = !c.hidden;
    $('delete-start').setAttribute('aria-expanded', String(!c.hidden));
    if (!c.hidden) $('delete-understand').focus();
  });
  $('delete-now').addEventListener('click', eraseAll);
  $('signout').addEventListener('click', signOut);
  if (token) open();
}

document.addEventListener('DOMContentLoaded', start);
