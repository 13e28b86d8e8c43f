// The privacy center as a person uses it, in headless Chromium:
// choices survive a reload, the export downloads, receipts verify in the
// browser, and deleting the account erases everything.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

const { BASE, TOKEN, ADMIN, SUBJECT, TOUR } = process.env;
// Screenshots for docs/tour.md, rewritten by every run so they never go stale.
const shot = (name) => (TOUR ? page.screenshot({ path: `${TOUR}/${name}.png` }) : null);
const results = [];

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

async function ingest(purpose) {
  const r = await fetch(`${BASE}/v1/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify([{ subject_id: SUBJECT, type: 'view', item: 'sku-00100', purpose, timestamp: Date.now(), properties: { colour: 'heather-browser-test' } }]),
  });
  return r.json();
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const context = await browser.newContext({ acceptDownloads: true });
const page = await context.newPage();
const external = [];
const cspErrors = [];
page.on('request', (r) => { if (!r.url().startsWith(BASE) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) external.push(r.url()); });
page.on('console', (m) => { if (m.type() === 'error') cspErrors.push(m.text()); });
const status = page.locator('#status');

await test('a choice is saved and still there after a reload', async () => {
  await page.goto(`${BASE}/privacy#token=${TOKEN}`);
  assert.equal(new URL(page.url()).hash, '', 'the token is taken out of the address bar');
  await page.getByRole('heading', { name: 'Your choices' }).waitFor();
  const box = page.getByLabel('Personal recommendations');
  await box.waitFor();
  assert.equal(await box.isChecked(), false, 'everything starts off');
  await box.focus();
  await page.keyboard.press('Space'); // keyboard only
  await status.filter({ hasText: 'Personal recommendations is now on' }).waitFor();
  assert.match(await status.textContent(), /ledger entry #\d+/);
  assert.equal(await page.locator('#status').getAttribute('aria-live'), 'polite');
  await page.reload();
  await page.getByLabel('Personal recommendations').waitFor();
  assert.equal(await page.getByLabel('Personal recommendations').isChecked(), true);
  assert.equal(await page.getByLabel('Anonymous statistics for partners').isChecked(), false);
  // What is held follows: one event arrives, the page shows it.
  const r = await ingest('personalization');
  assert.equal(r.accepted, 1, JSON.stringify(r));
  await page.reload();
  await page.locator('#held-total').filter({ hasText: 'We hold 1 events' }).waitFor();
  // The demo catalogue's title, not the stock number alone.
  assert.ok((await page.locator('#held').textContent()).includes('Trail Jacket (sku-00100)'));
  await shot('privacy-choices');
});

await test('the export downloads with everything held', async () => {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download my data (JSON)' }).click()]);
  assert.equal(download.suggestedFilename(), 'my-data.json');
  const doc = JSON.parse(await readFile(await download.path(), 'utf8'));
  assert.equal(doc.schema, 'fineline.export.v1');
  assert.equal(doc.events.length, 1);
  assert.equal(doc.events[0].properties.colour, 'heather-browser-test');
  assert.equal(doc.events[0].item, 'sku-00100');
  assert.equal(doc.events[0].item_title, 'Trail Jacket');
  assert.equal(doc.consents.current.personalization, 'given');
  assert.ok(doc.receipts.some((r) => r.entry.kind === 'data_access' && r.entry.what === 'export'));
  const [html] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download a readable copy (HTML)' }).click()]);
  const readable = await readFile(await html.path(), 'utf8');
  assert.match(readable, /Everything we hold about you/);
  assert.match(readable, /Trail Jacket \(sku-00100\)/);
});

await test('receipts verify in the browser', async () => {
  await page.getByRole('button', { name: 'Verify my receipts' }).click();
  await status.filter({ hasText: 'receipts verified' }).waitFor();
  assert.match(await status.textContent(), /^1 of 1 receipts verified\.$/);
  const checks = await page.locator('#receipts li.receipt li').allTextContents();
  assert.ok(checks.includes('✓ ledger signature is valid'), checks.join(' | '));
  assert.ok(checks.includes('✓ the entry is about you'), checks.join(' | '));
  assert.ok(!checks.some((c) => c.startsWith('✗')), checks.join(' | '));
});

await test('a receipt is checked against the signed-in person', async () => {
  // The server's answer is altered on its way to the page: the signature
  // and the proof still hold, so only the check of the person can fail.
  const history = '**/v1/subjects/me/consents/history';
  const verifyAltered = async (alter) => {
    await page.route(history, async (route) => {
      const resp = await route.fetch();
      const body = await resp.json();
      for (const e of body.entries) alter(e.receipt);
      await route.fulfill({ response: resp, json: body });
    });
    await page.evaluate(() => { document.getElementById('status').textContent = ''; });
    await page.getByRole('button', { name: 'Verify my receipts' }).click();
    await status.filter({ hasText: 'receipts verified' }).waitFor();
    await page.unroute(history);
    const checks = await page.locator('#receipts li.receipt li').allTextContents();
    assert.match(await status.textContent(), /^0 of 1 receipts verified; 1 failed\.$/, checks.join(' | '));
    assert.ok(checks.includes('✓ ledger signature is valid'), checks.join(' | '));
    assert.ok(checks.includes('✓ entry is in the ledger'), checks.join(' | '));
    return checks;
  };
  // One digit of the salt changed.
  let checks = await verifyAltered((rc) => {
    rc.subject_salt = (rc.subject_salt[0] === '0' ? '1' : '0') + rc.subject_salt.slice(1);
  });
  assert.ok(checks.includes('✗ the entry is about you'), checks.join(' | '));
  // No salt at all proves nothing about the person.
  checks = await verifyAltered((rc) => { delete rc.subject_salt; });
  assert.ok(checks.includes('✗ the entry is about you (the receipt holds no valid salt)'), checks.join(' | '));
});

await test('a withdrawal gets its own receipt, verified in the browser too', async () => {
  const box = page.getByLabel('Personal recommendations');
  await box.uncheck();
  await status.filter({ hasText: 'Personal recommendations is now off' }).waitFor();
  await page.getByRole('button', { name: 'Verify my receipts' }).click();
  await status.filter({ hasText: /^2 of 2 receipts verified\.$/ }).waitFor();
  await shot('privacy-receipts');
});

await test('a phone is opted out of in-store detection from the privacy center', async () => {
  await page.getByLabel("Your phone's Wi-Fi address").fill('not-a-mac');
  await page.getByRole('button', { name: 'Opt out this phone' }).click();
  await page.locator('#mac-error').filter({ hasText: 'does not look like a Wi-Fi address' }).waitFor();
  await page.getByLabel("Your phone's Wi-Fi address").fill('a4:83:e7:12:34:56');
  await page.getByRole('button', { name: 'Opt out this phone' }).click();
  await page.getByRole('heading', { name: 'Done: this phone is opted out' }).waitFor();
  assert.equal(await page.locator('#deleted').textContent(), '0');
  assert.equal(await page.getByLabel("Your phone's Wi-Fi address").inputValue(), '', 'the address is not kept on the page');
});

await test('deleting the account erases everything and returns a receipt', async () => {
  await page.getByRole('button', { name: 'Delete my account…' }).click();
  await page.getByRole('button', { name: 'Erase everything now' }).click();
  await page.locator('#alert').filter({ hasText: 'cannot be undone' }).waitFor(); // must confirm first
  await page.getByLabel('I understand this cannot be undone.').check();
  await page.getByRole('button', { name: 'Erase everything now' }).click();
  await status.filter({ hasText: 'have been erased' }).waitFor();
  const receipt = await page.locator('#receipts li.receipt').first().textContent();
  assert.match(receipt, /Your data was erased — valid/);
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download my erasure receipt' }).click()]);
  const body = JSON.parse(await readFile(await dl.path(), 'utf8'));
  assert.equal(body.receipt.entry.kind, 'erasure');
  await shot('privacy-erased');
  // Nothing is held any more, and new events for this person are refused.
  const r = await fetch(`${BASE}/v1/subjects/me/export`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 404);
  const late = await ingest('personalization');
  assert.equal(late.accepted, 0);
  assert.equal(late.rejected[0].reason, 'no_consent');
});

await test('no external resource and no CSP violation', async () => {
  assert.deepEqual(external, []);
  assert.deepEqual(cspErrors.filter((e) => /Content Security Policy/i.test(e)), []);
});

await browser.close();
const passed = results.filter(([, ok]) => ok).length;
const failed = results.length - passed;
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
