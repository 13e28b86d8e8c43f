// Serves persona.js, receipt.js and store.js as the binary should (under
// /persona/, text/javascript, the privacy center's CSP, nosniff), opens
// browser/index.html in headless Chromium and waits for browser/check.mjs
// to post its outcome. Exit code 0 only if every check passed.
//   node tests/persona-js/chromium.mjs   (needs `chromium` on PATH)
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const at = (p) => fileURLToPath(new URL(p, import.meta.url));
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const files = {
  '/': ['text/html; charset=utf-8', at('browser/index.html')],
  '/check.mjs': ['text/javascript; charset=utf-8', at('browser/check.mjs')],
  '/persona/persona.js': ['text/javascript; charset=utf-8', at('../../crates/server/assets/persona/persona.js')],
  '/persona/receipt.js': ['text/javascript; charset=utf-8', at('../../crates/server/assets/persona/receipt.js')],
  '/persona/store.js': ['text/javascript; charset=utf-8', at('../../crates/server/assets/persona/store.js')],
  '/persona-v1.json': ['application/json', at('../../crates/persona/tests/vectors/persona-v1.json')],
};
let browser;
// A fresh profile: an empty IndexedDB, nothing carried between runs.
const profile = mkdtempSync(join(tmpdir(), 'persona-js-chromium-'));
process.on('exit', () => rmSync(profile, { recursive: true, force: true }));
const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/result') {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      res.end();
      const r = JSON.parse(body);
      console.log(`chromium (${r.agent.match(/Chrome\/[\d.]+/)}): ${r.checked} checks, ${r.fails.length} failed`);
      r.fails.forEach((f) => console.log('  FAIL ' + f));
      browser.kill();
      server.close();
      process.exitCode = r.fails.length || r.checked === 0 ? 1 : 0;
    });
    return;
  }
  const f = files[req.url];
  if (!f) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'Content-Type': f[0], 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache' });
  res.end(readFileSync(f[1]));
});
server.listen(0, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${server.address().port}/`;
  browser = spawn('chromium', ['--headless=new', '--no-sandbox', '--disable-gpu', '--user-data-dir=' + profile, url], { stdio: 'ignore' });
  const wait = Number(process.env.PERSONA_JS_TIMEOUT_MS || 60_000);
  setTimeout(() => { console.log(`chromium: no result within ${wait} ms`); browser.kill(); server.close(); process.exitCode = 1; }, wait).unref();
});
