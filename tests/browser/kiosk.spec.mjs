// The in-store check-in kiosk (issue 18) in headless Chromium against a
// `serve --demo` server: opened with the store and a store device's key in
// the fragment, it shows the store's rotating code and the link a phone
// opens; the key never appears in a URL; the code it shows checks a
// phone in; and the page loads nothing from elsewhere.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { randomBytes, createHash } from 'node:crypto';

const { BASE, ADMIN, SHOTS = 'target/browser-screenshots' } = process.env;
const STORE = 'demo-store';
const results = [];
await mkdir(SHOTS, { recursive: true });

async function test(name, fn) {
  try {
    await fn();
    results.push([name, true]);
    console.log(`  ok   ${name}`);
  } catch (e) {
    results.push([name, false]);
    console.log(`  FAIL ${name}\n${e.stack || e}`);
  }
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage();
const requests = [];
page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), headers: r.headers() }));
const errors = [];
page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
page.on('pageerror', (e) => errors.push(String(e)));

let code = '';
await test('the kiosk shows the store code and the check-in link', async () => {
  await page.goto(`${BASE}/kiosk#store=${STORE}&key=${ADMIN}`);
  await page.waitForFunction((s) => document.getElementById('code').textContent.startsWith(`${s}:`), STORE);
  code = await page.textContent('#code');
  assert.match(code, new RegExp(`^${STORE}:\\d+-[0-9a-f]{32}$`));
  assert.equal(await page.textContent('#link'), `${BASE}/shop#checkin=${code}`);
  // Shown with the code, not a second later.
  // The same link as a QR code the server drew, shown from a blob: URL.
  await page.waitForFunction(() => { const q = document.getElementById('qr'); return !q.hidden && q.complete && q.naturalWidth > 0; });
  assert.match(await page.getAttribute('#qr', 'src'), /^blob:/);
  const left = Number(await page.textContent('#left'));
  assert.ok(left > 0 && left <= 300, `rotates within the 5-minute window: ${left}`);
  await page.screenshot({ path: `${SHOTS}/kiosk.png` });
});

await test('the key goes only in the Authorization header, to this server', async () => {
  const api = requests.filter((r) => r.url.includes('/checkin-token'));
  assert.ok(api.length >= 1);
  for (const r of requests) {
    // The QR image is shown from a blob: URL the page made of this
    // server's answer: in-memory, of this origin, not a request out.
    const local = r.url.startsWith(BASE) || r.url.startsWith(`blob:${BASE}/`);
    assert.ok(local, `external request ${r.url}`);
    assert.ok(!r.url.includes(ADMIN), `key in a URL: ${r.url}`);
  }
  assert.equal(api[0].headers.authorization, `Bearer ${ADMIN}`);
  assert.ok(!('cookie' in api[0].headers));
  const qr = requests.filter((r) => r.url.includes('/checkin-qr'));
  assert.ok(qr.length >= 1);
  assert.equal(qr[0].headers.authorization, `Bearer ${ADMIN}`);
  assert.equal(new URL(qr[0].url).searchParams.get('origin'), BASE);
});

await test('the code shown checks a phone in, counted with no identifier', async () => {
  const business = (await (await fetch(`${BASE}/v1/persona/offer`)).json()).offer.business;
  const [store, token] = code.split(':');
  const body = { business, store, token, level: 0, at: Date.now(), nonce: randomBytes(16).toString('hex') };
  const r = await fetch(`${BASE}/v1/footfall/checkins`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const answer = await r.json();
  assert.equal(r.status, 201, JSON.stringify(answer));
  assert.equal(answer.receipt, null);
  const forged = await fetch(`${BASE}/v1/footfall/checkins`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, token: token.replace(/.$/, (c) => (c === '0' ? '1' : '0')), nonce: randomBytes(16).toString('hex') }),
  });
  assert.equal(forged.status, 400);
  assert.equal((await forged.json()).error.field, 'token');
});

await test('the kiosk link opens the storefront, which checks in with no identifier at level 0', async () => {
  const shop = await browser.newPage();
  const sent = [];
  shop.on('request', (r) => { if (r.method() === 'POST') sent.push({ url: r.url(), body: r.postData() || '' }); });
  await shop.goto(await page.textContent('#link'));
  await shop.waitForSelector('body[data-ready="true"]');
  await shop.waitForSelector('#checkin:not([hidden])');
  await shop.click('#send-checkin');
  await shop.waitForFunction(() => /Checked in at/.test(document.getElementById('status').textContent));
  assert.match(await shop.textContent('#status'), /counted only/);
  const posts = sent.filter((r) => r.url.endsWith('/v1/footfall/checkins'));
  assert.equal(posts.length, 1);
  assert.deepEqual(Object.keys(JSON.parse(posts[0].body)).sort(), ['at', 'business', 'level', 'nonce', 'store', 'token']);
  assert.equal(sent.length, 1, 'nothing else is posted');
  await shop.close();
});

await test('at level 2 the storefront checks in under the pseudonym and keeps the verified receipt', async () => {
  // A fresh browser context: another person, with their own persona.
  const shop = await browser.newPage();
  const sent = [];
  shop.on('request', (r) => { if (r.method() === 'POST') sent.push({ url: r.url(), body: r.postData() || '' }); });
  const link = await page.textContent('#link');
  await shop.goto(link);
  await shop.waitForSelector('body[data-ready="true"]');
  await shop.locator('label[for="level-2"]').click();
  await shop.waitForFunction(() => /Now regular/.test(document.getElementById('status').textContent));
  const level = JSON.parse(sent.find((r) => r.url.endsWith('/v1/persona/level')).body);
  assert.match(await shop.textContent('#checkin-note'), /under your pseudonym/);
  const answer = shop.waitForResponse((r) => r.url().endsWith('/v1/footfall/checkins'));
  await shop.click('#send-checkin');
  const a = await answer;
  assert.equal(a.status(), 201);
  const body = await a.json();
  await shop.waitForFunction(() => /Checked in at/.test(document.getElementById('status').textContent));
  assert.match(await shop.textContent('#status'), /under your pseudonym; receipt verified and kept/);
  const posts = sent.filter((r) => r.url.endsWith('/v1/footfall/checkins'));
  assert.equal(posts.length, 1);
  const c = JSON.parse(posts[0].body);
  // Exactly the documented fields, in the order the Rust `CheckIn` writes them.
  assert.deepEqual(Object.keys(c), ['business', 'store', 'token', 'level', 'at', 'nonce', 'pseudonym']);
  assert.deepEqual([c.level, c.store, c.pseudonym], [2, STORE, level.pseudonym]);
  assert.equal(`${BASE}/shop#checkin=${c.store}:${c.token}`, link, 'the code of the link the kiosk showed');
  assert.match(c.nonce, /^[0-9a-f]{32}$/);
  // The receipt binds what was sent: a persona_disclosure entry at level 2
  // whose digest is SHA-256(nonce ‖ the check-in's JSON).
  assert.equal(body.receipt.entry.kind, 'persona_disclosure');
  assert.equal(body.receipt.entry.level, 2);
  const digest = createHash('sha256').update(Buffer.from(body.nonce, 'hex')).update(posts[0].body).digest('hex');
  assert.equal(body.receipt.entry.digest, digest);
  // Kept in the device log once the page verified it.
  const entry = shop.locator('#log li[data-kind="check_in"]');
  assert.match(await entry.textContent(), /under your pseudonym/);
  assert.equal(await entry.locator('.receipt.ok').count(), 1);
  const other = sent.filter((r) => !/\/v1\/(persona\/level|footfall\/checkins)$/.test(r.url));
  assert.deepEqual(other.map((r) => r.url), [], 'nothing else is posted');
  await shop.close();
});

await test('without a store and key the page says how to open it', async () => {
  await page.goto(`${BASE}/kiosk`);
  await page.reload();
  await page.waitForSelector('#problem:not([hidden])');
  assert.match(await page.textContent('#problem'), /#store=STORE_ID&key=/);
  assert.deepEqual(errors, []);
});

await browser.close();
const failed = results.filter(([, ok]) => !ok).length;
console.log(`kiosk: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
