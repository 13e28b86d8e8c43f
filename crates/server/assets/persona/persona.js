// fineline's persona, browser client: the pure functions of crates/persona,
// bit for bit. No I/O, no clock, no hidden randomness: every random choice
// reads bytes the caller drew (drawCoins), so the same persona, terms, model
// and bytes give the same disclosure as the Rust reference client, and the
// shared vectors (crates/persona/tests/vectors/persona-v1.json) pin both.
// Runs unchanged in a browser and in Node >= 20 (globalThis.crypto.subtle).
// Arithmetic a client must reproduce is integer (BigInt where it can pass
// 2^53) or HMAC/SHA-256, never floating point.
//
// The persona object has the shape of the Rust `Persona`'s serde JSON, so a
// persona can move between this client and `fineline persona`:
//   { label, secret: [32 bytes], history: [item ids],
//     businesses: { <business>: { level, budget: {cap_micro, spent_micro},
//                                 approved: [topics], identity: {k: v} } },
//     log: { entries: [ {seq, business, at, what, receipts} ] } }

export const VERSION = 'fineline-persona/v1';
/** Domain separator of the per-business identifier (ids.rs). */
export const BUSINESS_ID_LABEL = 'fineline/persona/v1/business\0';
export const ONE_Q20 = 1 << 20;
export const MAX_REPORT_EPSILON_MICRO = 8_000_000;
export const MAX_CATEGORIES = 1024;
export const DEFAULT_LIFETIME_CAP_MICRO = 4_000_000;
export const MAX_TOPICS = 3;
export const NOISE_PERCENT = 5;
export const NO_CATEGORY = '(none)';
/** Bytes to draw per disclosure: a level-2 disclosure reads at most 48 and
 *  a rejected 8-byte word has probability below 2^-32, so running out of
 *  coins is not a practical outcome. */
export const COINS_PER_DISCLOSURE = 256;
export const LEVEL_NAMES = ['stranger', 'crowd', 'regular', 'member', 'known'];
/** fineline_core::Purpose::ALL, in order, as serialized. */
export const PURPOSES = ['personalization', 'analytics', 'partner_insights', 'location', 'in_store_detection'];

/** Why the device refused or could not do something (PersonaError). */
export class PersonaError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'PersonaError';
    this.code = code; // 'invalid' | 'unknown_topic' | 'out_of_coins' | 'budget_exhausted' | 'receipt' | 'receipt_mismatch'
    Object.assign(this, extra);
  }
}
const invalid = (msg) => new PersonaError('invalid', 'invalid: ' + msg);

// ------------------------------------------------------------------ bytes

const enc = new TextEncoder();
export const toHex = (u8) => Array.from(u8, (b) => b.toString(16).padStart(2, '0')).join('');
export function fromHex(h) {
  if (typeof h !== 'string' || h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) throw invalid('not hex');
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}
const subtle = () => {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) throw invalid('this environment has no WebCrypto (crypto.subtle needs a secure context)');
  return s;
};
/** Byte order of UTF-8, which is Rust's String order (JS `<` compares UTF-16 units). */
export function compareUtf8(a, b) {
  const x = enc.encode(a), y = enc.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** Random bytes for one disclosure, from the platform's CSPRNG. */
export function drawCoins(len = COINS_PER_DISCLOSURE) {
  return globalThis.crypto.getRandomValues(new Uint8Array(len));
}

/** fineline_core::ItemId: 1 to 128 visible ASCII characters. */
export function isItemId(s) {
  return typeof s === 'string' && s.length > 0 && s.length <= 128 && /^[\x21-\x7e]+$/.test(s);
}

// ------------------------------------------------------------------ ids.rs

/** The identifier a persona with `secret` (32 bytes) shows `business`:
 *  hex HMAC-SHA256(secret, BUSINESS_ID_LABEL || business). */
export async function businessPseudonym(secret, business) {
  const key = await subtle().importKey('raw', Uint8Array.from(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const msg = enc.encode(BUSINESS_ID_LABEL + business);
  return toHex(new Uint8Array(await subtle().sign('HMAC', key, msg)));
}

export const REPORTER_LABEL = 'fineline/persona/v1/reporter\0';

/**
 * The token level-1 reports to `business` carry while its offer is at
 * `offerVersion` (ids.rs `reporter_token`): the business caps the ε spent
 * per token at the offer's lifetime cap.
 */
export async function reporterToken(secret, business, offerVersion) {
  const key = await subtle().importKey('raw', Uint8Array.from(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const msg = enc.encode(`${REPORTER_LABEL}${business}\0${String(offerVersion)}`);
  return toHex(new Uint8Array(await subtle().sign('HMAC', key, msg)));
}

// ------------------------------------------------------------- erasure.rs

export const ERASURE_KEY_LABEL = 'fineline/persona/v1/erasure-key\0';
export const ERASURE_REQUEST_LABEL = 'fineline/persona/v1/erasure\0';
export const RECOMMENDATIONS_REQUEST_LABEL = 'fineline/persona/v1/recommendations\0';
export const ERASURE_NONCE_BYTES = 16;
export const ERASURE_MAX_SKEW_MS = 5 * 60 * 1000;
// PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410): WebCrypto imports a
// private Ed25519 key only wrapped, never as raw bytes.
const PKCS8_ED25519 = '302e020100300506032b657004220420';

/** The persona's Ed25519 signing key for `business` (erasure.rs
 *  `erasure_signing_key`): the seed is HMAC-SHA256(secret,
 *  ERASURE_KEY_LABEL || business). Extractable only so its public half
 *  can be read; it never leaves this module. */
async function erasureSigningKey(secret, business) {
  const hk = await subtle().importKey('raw', Uint8Array.from(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const seed = new Uint8Array(await subtle().sign('HMAC', hk, enc.encode(ERASURE_KEY_LABEL + business)));
  const pkcs8 = new Uint8Array(48);
  pkcs8.set(fromHex(PKCS8_ED25519), 0);
  pkcs8.set(seed, 16);
  try {
    return await subtle().importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
  } catch (_) {
    throw invalid('this browser has no Ed25519 in WebCrypto: it cannot ask for erasure itself');
  }
}

const fromB64url = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

/** The public erasure key (64 hex digits) a persona with `secret` registers
 *  with `business` in its level change to level 2 or above. */
export async function erasureKey(secret, business) {
  const jwk = await subtle().exportKey('jwk', await erasureSigningKey(secret, business));
  return toHex(fromB64url(jwk.x));
}

/** The bytes an erasure request signs (erasure.rs `erasure_message`). */
export function erasureMessage(business, pseudonymHex, at, nonce) {
  const head = enc.encode(ERASURE_REQUEST_LABEL + business + '\0');
  const out = new Uint8Array(head.length + 32 + 8 + ERASURE_NONCE_BYTES);
  out.set(head, 0);
  out.set(fromHex(pseudonymHex), head.length);
  new DataView(out.buffer).setBigInt64(head.length + 32, BigInt(at));
  out.set(Uint8Array.from(nonce), head.length + 40);
  return out;
}

/** A signed erasure request, field for field the Rust `ErasureRequest`. */
export async function signErasure(secret, business, pseudonymHex, at, nonce) {
  if (nonce.length !== ERASURE_NONCE_BYTES) throw invalid('an erasure nonce is 16 bytes');
  const key = await erasureSigningKey(secret, business);
  const sig = new Uint8Array(await subtle().sign({ name: 'Ed25519' }, key, erasureMessage(business, pseudonymHex, at, nonce)));
  return { business, pseudonym: pseudonymHex, at, nonce: toHex(Uint8Array.from(nonce)), signature: toHex(sig) };
}

/** The bytes a request for the shop's own recommendations signs
 *  (erasure.rs `recommendations_message`): label ‖ business ‖ 0 ‖
 *  pseudonym ‖ at (8 bytes big-endian) ‖ n (4 bytes big-endian). */
export function recommendationsMessage(business, pseudonymHex, at, n) {
  const head = enc.encode(RECOMMENDATIONS_REQUEST_LABEL + business + '\0');
  const out = new Uint8Array(head.length + 32 + 8 + 4);
  out.set(head, 0);
  out.set(fromHex(pseudonymHex), head.length);
  const view = new DataView(out.buffer);
  view.setBigInt64(head.length + 32, BigInt(at));
  view.setUint32(head.length + 40, n);
  return out;
}

/** A signed request for `business`'s level-3 recommendations, the body
 *  `POST /v1/persona/recommendations` takes (erasure.rs
 *  `sign_recommendations`): the answer comes from the person's history,
 *  so the pseudonym alone must not open it. */
export async function signRecommendations(secret, business, at, n) {
  const pseudonym = await businessPseudonym(secret, business);
  const key = await erasureSigningKey(secret, business);
  const sig = new Uint8Array(await subtle().sign({ name: 'Ed25519' }, key, recommendationsMessage(business, pseudonym, at, n)));
  return { business, pseudonym, n, at, signature: toHex(sig) };
}

// ---------------------------------------------------------------- coins.rs

const TWO64 = 1n << 64n;

/** A cursor over the device's random bytes; uniform draws by rejection. */
export class Coins {
  constructor(bytes) {
    this.bytes = typeof bytes === 'string' ? fromHex(bytes) : Uint8Array.from(bytes);
    this.used = 0;
  }

  /** A uniform integer in [0, n): 8 bytes big-endian as r, accepted when
   *  r < 2^64 - (2^64 mod n). Returns a BigInt when n is one, else a number. */
  below(n) {
    const big = BigInt(n);
    if (big <= 0n) throw invalid('a draw below 0');
    if (big > TWO64 - 1n) throw invalid('a draw is below 2^64');
    const zone = TWO64 - (TWO64 % big);
    for (;;) {
      if (this.used + 8 > this.bytes.length) throw new PersonaError('out_of_coins', 'not enough random bytes for this disclosure');
      let r = 0n;
      for (let i = 0; i < 8; i++) r = (r << 8n) | BigInt(this.bytes[this.used + i]);
      this.used += 8;
      if (r < zone) return typeof n === 'bigint' ? r % big : Number(r % big);
    }
  }
}

// ------------------------------------------------------------------ ldp.rs

/** floor(e^(eps/10^6) * 2^20) by an integer series rounded down at every step. */
export function oddsQ20(epsilonMicro) {
  const x = BigInt(epsilonMicro);
  let term = TWO64, sum = TWO64, n = 1n;
  while (term > 0n) {
    term = (term * x) / (1_000_000n * n);
    sum += term;
    n += 1n;
  }
  return Number(sum >> 44n);
}

/** k-ary randomized response at a stated epsilon (micro-nats). */
export class RandomizedResponse {
  constructor(categories, epsilonMicro) {
    if (!Number.isInteger(categories) || categories < 2 || categories > MAX_CATEGORIES) throw invalid('a question needs 2 to 1024 categories');
    if (!Number.isSafeInteger(epsilonMicro) || epsilonMicro <= 0 || epsilonMicro > MAX_REPORT_EPSILON_MICRO) throw invalid('ε per report must be in (0, 8]');
    this.categories = categories;
    this.epsilonMicro = epsilonMicro;
    this.odds = oddsQ20(epsilonMicro);
  }
  /** Size of the range r is drawn from (below 2^33: exact as a number). */
  get total() { return this.odds + (this.categories - 1) * ONE_Q20; }
  get pTruth() { return this.odds / this.total; }
  get pOther() { return ONE_Q20 / this.total; }
  get effectiveEpsilon() { return Math.log(this.odds / ONE_Q20); }
  /** The report for draw r in [0, total). */
  outcome(truth, r) {
    if (r < this.odds) return truth;
    const other = Math.floor((r - this.odds) / ONE_Q20);
    return other >= truth ? other + 1 : other;
  }
  /** A report of `truth` drawn from `coins`. */
  respond(truth, coins) {
    if (!Number.isInteger(truth) || truth < 0 || truth >= this.categories) throw invalid('the true category is outside the question');
    return this.outcome(truth, coins.below(this.total));
  }
}

export const newBudget = () => ({ cap_micro: DEFAULT_LIFETIME_CAP_MICRO, spent_micro: 0 });
export const remainingMicro = (b) => Math.max(0, b.cap_micro - b.spent_micro);
/** Spends `epsilonMicro` of a lifetime budget, or refuses without spending. */
export function chargeBudget(budget, epsilonMicro) {
  const remaining = remainingMicro(budget);
  if (epsilonMicro > remaining) throw exhausted(epsilonMicro, remaining);
  budget.spent_micro += epsilonMicro;
}
const exhausted = (asked, remaining) => new PersonaError('budget_exhausted',
  `lifetime privacy budget for this business exhausted: report needs ε ${asked} µnats, ${remaining} µnats remain`,
  { askedMicro: asked, remainingMicro: remaining });

// ---------------------------------------------------------------- level.rs

/** A trust level as its number, checked. */
export function toLevel(n) {
  if (!Number.isInteger(n) || n < 0 || n > 4) throw invalid('a trust level is 0 to 4');
  return n;
}

/** What the business may use at `level`: [purpose, data categories] pairs. */
export function grants(level) {
  const personal = [[], [], ['interests'], ['interests', 'browsing_history', 'purchase_history'],
    ['interests', 'browsing_history', 'purchase_history', 'identity']][toLevel(level)];
  switch (level) {
    case 0: return [];
    case 1: return [['analytics', ['ldp_reports']]];
    default: return [['personalization', personal], ['analytics', ['ldp_reports', ...personal]]];
  }
}

/** Consent steps taking a business from level `from` to `to`: withdrawals
 *  first, purposes in order; a narrowed scope is withdrawn then re-granted. */
export function consentSteps(from, to) {
  const before = grants(from), after = grants(to);
  const scope = (g, p) => { const f = g.find(([q]) => q === p); return f ? f[1] : null; };
  const withdraw = [], grant = [];
  for (const p of PURPOSES) {
    const old = scope(before, p), now = scope(after, p);
    if (old && !now) withdraw.push(p);
    else if (!old && now) grant.push([p, now]);
    else if (old && now && (old.length !== now.length || old.some((c, i) => c !== now[i]))) {
      if (old.some((c) => !now.includes(c))) withdraw.push(p);
      grant.push([p, now]);
    }
  }
  return [
    ...withdraw.map((purpose) => ({ purpose, granted: false, categories: [] })),
    ...grant.map(([purpose, categories]) => ({ purpose, granted: true, categories: [...categories] })),
  ];
}

// ------------------------------------------------------------ the model

const u32 = (x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
const i32 = (x) => Number.isInteger(x) && x >= -0x80000000 && x <= 0x7fffffff;

/** Checks the JSON shape of a public model (as in the vectors file) and
 *  returns it; throws a PersonaError naming the field otherwise. */
export function checkModelShape(m) {
  if (!m || typeof m !== 'object') throw invalid('model: not an object');
  if (!Number.isSafeInteger(m.version) || m.version < 0) throw invalid('model.version: not a non-negative integer');
  if (!u32(m.min_support)) throw invalid('model.min_support: not a u32');
  if (!Array.isArray(m.items) || m.items.length > 0xffffffff) throw invalid('model.items: not a list');
  m.items.forEach((it, i) => {
    const at = `model.items[${i}]`;
    if (!it || !isItemId(it.id)) throw invalid(at + '.id: not an item id');
    if (!Array.isArray(it.categories) || !it.categories.every((c) => typeof c === 'string')) throw invalid(at + '.categories: not a list of strings');
    if (!u32(it.popularity)) throw invalid(at + '.popularity: not a u32');
    if (!Array.isArray(it.neighbours) || !it.neighbours.every((n) => Array.isArray(n) && n.length === 2 && u32(n[0]) && i32(n[1]))) {
      throw invalid(at + '.neighbours: not a list of [u32 index, i32 score]');
    }
  });
  if (typeof m.digest !== 'string' || !/^[0-9a-f]{64}$/.test(m.digest)) throw invalid('model.digest: not 64 hex digits');
  return m;
}

/** The digest's input (recs/public.rs `canonical_bytes`): the magic line,
 *  then big-endian u64 version, u32 min_support, u32 item count, and per
 *  item its id, categories (u32 length + UTF-8 each), popularity and
 *  neighbours (u32 index, i32 score, two's complement; v1 had u32 scores). Written into one buffer sized first:
 *  a model has some 10^5 numbers and a chunk per number is slow. */
export function canonicalBytes(m) {
  const magic = enc.encode('fineline-public-model/v2\n');
  const texts = m.items.map((it) => [enc.encode(it.id), it.categories.map((c) => enc.encode(c))]);
  let size = magic.length + 16;
  m.items.forEach((it, i) => {
    size += 4 + texts[i][0].length + 4 + texts[i][1].reduce((n, c) => n + 4 + c.length, 0) + 8 + 8 * it.neighbours.length;
  });
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let o = 0;
  const be32 = (x) => { dv.setUint32(o, x); o += 4; };
  const raw = (b) => { out.set(b, o); o += b.length; };
  const text = (b) => { be32(b.length); raw(b); };
  raw(magic);
  dv.setBigUint64(o, BigInt(m.version)); o += 8;
  be32(m.min_support);
  be32(m.items.length);
  m.items.forEach((it, i) => {
    text(texts[i][0]);
    be32(it.categories.length);
    texts[i][1].forEach(text);
    be32(it.popularity);
    be32(it.neighbours.length);
    for (const [j, s] of it.neighbours) { be32(j); dv.setInt32(o, s); o += 4; }
  });
  return out;
}

/** Hex SHA-256 of the canonical bytes. */
export async function modelDigest(m) {
  return toHex(new Uint8Array(await subtle().digest('SHA-256', canonicalBytes(m))));
}

/** Whether a device may rely on the model: its shape, ids strictly
 *  ascending, neighbours in range and never the item itself, and its digest. */
export async function isWellFormed(m) {
  try { checkModelShape(m); } catch (_) { return false; }
  const n = m.items.length;
  for (let i = 1; i < n; i++) if (compareUtf8(m.items[i - 1].id, m.items[i].id) >= 0) return false;
  if (!m.items.every((it, i) => it.neighbours.every(([j]) => j < n && j !== i))) return false;
  return (await modelDigest(m)) === m.digest;
}

const indexes = new WeakMap();
/** The listed index of `id`, or undefined. (Rust binary-searches the sorted
 *  ids; on a well-formed model a map gives the same answer.) The map is
 *  cached per model object: treat a downloaded model as immutable. */
export function indexOf(m, id) {
  let idx = indexes.get(m);
  if (!idx) {
    idx = new Map();
    m.items.forEach((it, i) => { if (!idx.has(it.id)) idx.set(it.id, i); });
    indexes.set(m, idx);
  }
  return idx.get(id);
}

// ----------------------------------------------------------- recommend.rs

/** Up to `n` on-device suggestions [{item, score, because}] for `history`:
 *  signed neighbour scores summed over the distinct listed history items,
 *  the positive totals ranked by score then index, padded with popular
 *  items. Nothing is sent. */
export function recommend(m, history, n) {
  const len = m.items.length;
  const seen = new Array(len).fill(false);
  const held = [...new Set(history.map((h) => indexOf(m, h)).filter((i) => i !== undefined))].sort((a, b) => a - b);
  for (const i of held) seen[i] = true;
  const score = new Array(len).fill(0);
  const best = Array.from({ length: len }, () => [0, -1]);
  for (const i of held) {
    // A malformed model must not crash the device: out-of-range neighbours are skipped.
    for (const [j, s] of m.items[i].neighbours) {
      if (j >= len) continue;
      score[j] += s;
      // `held` ascends, so a tie keeps the lower history index.
      if (s > best[j][0]) best[j] = [s, i];
    }
  }
  // Rust sums in i64; a number is exact below 2^53 in magnitude (2^22 contributions of the largest i32).
  if (!score.every(Number.isSafeInteger)) throw invalid('model scores exceed exact arithmetic');
  const ranked = [];
  for (let j = 0; j < len; j++) if (score[j] > 0 && !seen[j]) ranked.push(j);
  ranked.sort((a, b) => score[b] - score[a] || a - b);
  ranked.length = Math.min(ranked.length, n);
  const out = ranked.map((j) => ({ item: m.items[j].id, score: score[j], because: m.items[best[j][1]].id }));
  if (out.length < n) {
    for (const j of ranked) seen[j] = true;
    const popular = [];
    for (let j = 0; j < len; j++) if (m.items[j].popularity > 0 && !seen[j]) popular.push(j);
    popular.sort((a, b) => m.items[b].popularity - m.items[a].popularity || a - b);
    for (const j of popular.slice(0, n - out.length)) out.push({ item: m.items[j].id, score: 0, because: null });
  }
  return out;
}

// ------------------------------------------------------------ interests.rs

/** Known topics, no repeats, at most 3. */
export function checkApproval(approved, taxonomy) {
  if (approved.length > MAX_TOPICS) throw invalid('at most 3 interests may be approved');
  approved.forEach((topic, n) => {
    if (!taxonomy.includes(topic)) throw new PersonaError('unknown_topic', `unknown interest ${JSON.stringify(topic)}: not in the business's taxonomy`, { topic });
    if (approved.slice(0, n).includes(topic)) throw invalid('an interest is approved twice');
  });
}

/** The topics one level-2 disclosure carries: per approved slot, draw
 *  below(100); under 5 the slot is below(taxonomy length) instead. Sorted
 *  in taxonomy order and deduplicated. */
export function noisyTopics(approved, taxonomy, coins) {
  checkApproval(approved, taxonomy);
  const picked = new Set();
  for (const topic of approved) {
    picked.add(coins.below(100) < NOISE_PERCENT ? coins.below(taxonomy.length) : taxonomy.indexOf(topic));
  }
  return [...picked].sort((a, b) => a - b).map((i) => taxonomy[i]);
}

/** Per taxonomy category, how many history items fall in it. */
export function categoryCounts(history, m, taxonomy) {
  const counts = new Array(taxonomy.length).fill(0);
  for (const item of history) {
    const i = indexOf(m, item);
    if (i === undefined) continue;
    for (const c of m.items[i].categories) {
      const t = taxonomy.indexOf(c);
      if (t >= 0) counts[t] += 1;
    }
  }
  return counts;
}

/** Up to `n` suggested interests, most frequent first: a suggestion only. */
export function suggestInterests(history, m, taxonomy, n) {
  const counts = categoryCounts(history, m, taxonomy);
  return taxonomy.map((_, t) => t).filter((t) => counts[t] > 0)
    .sort((a, b) => counts[b] - counts[a] || a - b)
    .slice(0, Math.min(n, MAX_TOPICS)).map((t) => taxonomy[t]);
}

// ------------------------------------------------------------- disclose.rs

/** Level 1's question: the taxonomy plus NO_CATEGORY. */
export const question = (terms) => [...terms.taxonomy, NO_CATEGORY];

/** The true level-1 answer: the category held most (ties to the earlier), else NO_CATEGORY's slot. */
export function trueCategory(history, m, terms) {
  const counts = categoryCounts(history, m, terms.taxonomy);
  const none = terms.taxonomy.length;
  let best = none;
  counts.forEach((c, t) => { if (c > 0 && (best === none || c > counts[best])) best = t; });
  return best;
}

// -------------------------------------------------------------- persona.rs

/** A new persona from 32 random bytes (default: drawn here). */
export function newPersona(label, secret = drawCoins(32)) {
  if (secret.length !== 32) throw invalid('a persona secret is 32 bytes');
  return { label, secret: Array.from(secret), history: [], businesses: {}, log: { entries: [] } };
}

/** Notes an item viewed or bought, on the device only. */
export function record(p, item) {
  if (!isItemId(item)) throw invalid('not an item id');
  p.history.push(item);
}

const defaults = () => ({ level: 0, budget: newBudget(), approved: [], identity: {} });
const entry = (p, business) => (p.businesses[business] ||= defaults());
/** The settings for `business` (defaults: level 0, full budget), as a copy. */
export const settings = (p, business) => structuredClone(p.businesses[business] || defaults());
export const levelOf = (p, business) => settings(p, business).level;
export const pseudonymOf = (p, business) => businessPseudonym(p.secret, business);
export const reporterOf = (p, business, offerVersion) => reporterToken(p.secret, business, offerVersion);
export const erasureKeyOf = (p, business) => erasureKey(p.secret, business);
export const recommendationsAskOf = (p, business, at, n) => signRecommendations(p.secret, business, at, n);

function logPush(p, business, at, what) {
  const seq = p.log.entries.length;
  p.log.entries.push({ seq, business, at, what, receipts: [] });
  return seq;
}

// ---------------------------------------------------------------- checkin.rs

export const CHECKIN_MIN_GAP_MS = 24 * 60 * 60 * 1000;
export const CHECKIN_NONCE_BYTES = 16;

/**
 * Makes and logs a check-in at `store` with the kiosk's `token`, at the
 * persona's level for `business` (checkin.rs `Persona::check_in`): the
 * pseudonym goes along at level 2 and above only; the nonce is the first
 * 16 bytes of `coins`; at most one check-in per store in 24 hours.
 */
export async function checkIn(p, business, store, token, at, coins) {
  if (!/^\d{1,20}-[0-9a-f]{32}$/.test(token)) throw invalid('not a check-in token (window-tag)');
  const recent = p.log.entries.some((e) => e.what.kind === 'check_in' && e.what.business === business
    && e.what.store === store && at - e.what.at < CHECKIN_MIN_GAP_MS);
  if (recent) throw invalid('already checked in at this store in the last 24 hours');
  if (coins.length < CHECKIN_NONCE_BYTES) throw new PersonaError('out_of_coins', 'not enough random bytes for this disclosure');
  const level = levelOf(p, business);
  // Field order as the Rust `CheckIn` serialises it: the receipt's digest covers these bytes.
  const c = { business, store, token, level, at, nonce: toHex(Uint8Array.from(coins).slice(0, CHECKIN_NONCE_BYTES)) };
  if (level >= 2) c.pseudonym = await pseudonymOf(p, business);
  logPush(p, business, at, { kind: 'check_in', ...structuredClone(c) });
  return c;
}

/** Sets the level, logs the change; returns {seq, steps} (seq null when unchanged). */
export function setLevel(p, business, to, at) {
  const from = levelOf(p, business);
  toLevel(to);
  if (from === to) return { seq: null, steps: [] };
  const steps = consentSteps(from, to);
  entry(p, business).level = to;
  const seq = logPush(p, business, at, { kind: 'level_change', from, to, steps: structuredClone(steps) });
  return { seq, steps };
}

/**
 * Makes, signs and logs a request that `business` erase what it holds under
 * this persona's pseudonym (persona.rs `request_erasure`); the nonce is the
 * first 16 bytes of `coins`. Returns {seq, request}.
 */
export async function requestErasure(p, business, at, coins) {
  if (coins.length < ERASURE_NONCE_BYTES) throw new PersonaError('out_of_coins', 'not enough random bytes for this disclosure');
  const nonce = Uint8Array.from(coins).slice(0, ERASURE_NONCE_BYTES);
  const request = await signErasure(p.secret, business, await pseudonymOf(p, business), at, nonce);
  const seq = logPush(p, business, at, { kind: 'erasure', ...structuredClone(request) });
  return { seq, request };
}

/** Keeps the business's erasure receipt on request `seq` once `verify`
 *  accepts it and it is an erasure entry (attachReceipt); the persona is
 *  then at level 0 there (persona.rs `erased`; the ε budget is kept). */
export async function erased(p, seq, receipt, verify) {
  const e = p.log.entries[seq];
  if (!e || e.what.kind !== 'erasure') throw invalid('not an erasure request');
  const summary = await attachReceipt(p, seq, receipt, verify);
  entry(p, e.business).level = 0;
  return summary;
}

/** Approves the level-2 interests for `terms.business` (replacing earlier ones). */
export function approveInterests(p, terms, topics) {
  checkApproval(topics, terms.taxonomy);
  entry(p, terms.business).approved = [...topics];
}

/** Sets the level-4 identity attributes for `business`. */
export function setIdentity(p, business, identity) {
  if (!identity || typeof identity !== 'object' || !Object.values(identity).every((v) => typeof v === 'string')) {
    throw invalid('identity attributes are text');
  }
  entry(p, business).identity = sortedObject(identity);
}

/** Lowers the lifetime ε cap; it can never be raised. */
export function lowerBudgetCap(p, business, capMicro) {
  if (!Number.isSafeInteger(capMicro) || capMicro < 0) throw invalid('a lifetime ε cap is a whole number of micro-nats');
  const budget = entry(p, business).budget;
  if (capMicro > budget.cap_micro) throw invalid('a lifetime ε cap can only be lowered');
  budget.cap_micro = capMicro;
}

// BTreeMap order, so the JSON that leaves is the Rust client's byte for byte.
const sortedObject = (o) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => compareUtf8(a, b)));

/** What leaves for `terms.business` at its current level, drawn from `coins`
 *  (bytes or hex); logged unless nothing. A level-1 report that would pass
 *  the lifetime ε is refused and nothing is spent. */
export async function disclose(p, terms, m, at, coinBytes) {
  if (!terms.taxonomy.length) throw invalid('the terms name no categories');
  const s = settings(p, terms.business);
  if (s.level === 1 && terms.report_epsilon_micro > remainingMicro(s.budget)) {
    throw exhausted(terms.report_epsilon_micro, remainingMicro(s.budget));
  }
  const coins = new Coins(coinBytes);
  const distinct = () => [...new Set(p.history)];
  let payload;
  switch (s.level) {
    case 0: payload = { kind: 'nothing' }; break;
    case 1: {
      const q = question(terms);
      const mech = new RandomizedResponse(q.length, terms.report_epsilon_micro);
      const report = mech.respond(trueCategory(p.history, m, terms), coins);
      payload = { kind: 'crowd', category: q[report], epsilon_micro: terms.report_epsilon_micro };
      break;
    }
    case 2: payload = { kind: 'interests', pseudonym: await pseudonymOf(p, terms.business), topics: noisyTopics(s.approved, terms.taxonomy, coins) }; break;
    case 3: payload = { kind: 'history', pseudonym: await pseudonymOf(p, terms.business), items: distinct() }; break;
    default: payload = { kind: 'identified', pseudonym: await pseudonymOf(p, terms.business), items: distinct(), identity: sortedObject(s.identity) };
  }
  if (payload.kind === 'crowd') chargeBudget(entry(p, terms.business).budget, payload.epsilon_micro);
  const disclosure = { business: terms.business, level: s.level, at, payload };
  if (payload.kind !== 'nothing') logPush(p, terms.business, at, { kind: 'disclosure', ...structuredClone(disclosure) });
  return disclosure;
}

// ------------------------------------------------------------------ log.rs

const answers = (receipt, step) => {
  const e = receipt.entry || {};
  return e.kind === 'consent_change' && e.purpose === step.purpose && step.granted === (e.state === 'granted');
};

/** Keeps `receipt` on log entry `seq` once `verify(receipt)` (the ledger
 *  receipt verifier under the business's pinned log key; throws or returns
 *  false on failure) accepts it and, for a level change, it is a consent
 *  change for one of the entry's steps. A receipt that fails is not kept. */
export async function attachReceipt(p, seq, receipt, verify) {
  const e = p.log.entries[seq];
  if (!e) throw invalid('no such log entry');
  let summary;
  try { summary = await verify(receipt); } catch (err) {
    throw err instanceof PersonaError && err.code === 'receipt' ? err : new PersonaError('receipt', 'receipt does not verify: ' + err.message);
  }
  if (summary === false) throw new PersonaError('receipt', 'receipt does not verify');
  if (e.what.kind === 'level_change' && !e.what.steps.some((s) => answers(receipt, s))) {
    throw new PersonaError('receipt_mismatch', 'receipt is for a different consent change than this log entry');
  }
  // An erasure request is answered by an erasure made no earlier than its clock allows.
  const r = receipt && receipt.entry;
  if (e.what.kind === 'erasure' && !(r && r.kind === 'erasure' && r.at >= e.what.at - ERASURE_MAX_SKEW_MS)) {
    throw new PersonaError('receipt_mismatch', 'receipt is for a different consent change than this log entry');
  }
  e.receipts.push(receipt);
  return summary;
}

/**
 * Level changes of `business` still lacking a receipt for some step, and
 * erasure requests without their receipt. A change between levels 0 and 1
 * is never sent, so it needs none.
 */
export function unreceiptedChanges(p, business) {
  return p.log.entries
    .filter((e) => e.business === business)
    .filter((e) => (e.what.kind === 'erasure' && e.receipts.length === 0)
      || (e.what.kind === 'level_change' && (e.what.from >= 2 || e.what.to >= 2)
        && e.what.steps.some((s) => !e.receipts.some((r) => answers(r, s)))))
    .map((e) => e.seq);
}
