// Store check-in kiosk: shows the store's rotating check-in code and the
// link a phone opens, as text and as a QR code, fetched from this server
// with the kiosk's store key. The store and key come from the page's fragment
// (#store=ID&key=KEY), which the browser never sends anywhere. Nothing is
// stored; nothing is loaded from elsewhere.

const params = new URLSearchParams(location.hash.slice(1));
const store = params.get("store") || "";
const key = params.get("key") || "";
const $ = (id) => document.getElementById(id);
let rotatesAt = 0;
let qrUrl = null;
const auth = () => ({ headers: { Authorization: `Bearer ${key}` }, credentials: "omit", cache: "no-store" });

function problem(message) {
  $("problem").textContent = message;
  $("problem").hidden = false;
}

/** The link a phone opens to check in: the code rides in the fragment. */
export function checkinLink(origin, storeId, token) {
  return `${origin}/shop#checkin=${encodeURIComponent(storeId)}:${encodeURIComponent(token)}`;
}

async function refresh() {
  try {
    const r = await fetch(`/v1/footfall/stores/${encodeURIComponent(store)}/checkin-token`, auth());
    const body = await r.json();
    if (!r.ok) {
      problem((body.error && body.error.message) || "The server refused the kiosk's key.");
      return;
    }
    $("problem").hidden = true;
    $("store").textContent = body.store_id;
    $("code").textContent = `${body.store_id}:${body.token}`;
    $("link").textContent = checkinLink(location.origin, body.store_id, body.token);
    $("current").hidden = false;
    rotatesAt = body.rotates_at;
    showLeft();
    await showQr();
  } catch (e) {
    problem("Cannot reach the server; retrying.");
  }
}

/** The same link as a QR code, drawn by the server (SVG). An <img src>
 *  cannot carry the key, so the image is fetched like the token and shown
 *  through a blob: URL this page made (the CSP's only img-src). */
async function showQr() {
  const url = `/v1/footfall/stores/${encodeURIComponent(store)}/checkin-qr?origin=${encodeURIComponent(location.origin)}`;
  const r = await fetch(url, auth());
  if (!r.ok) { $("qr").hidden = true; return; }
  const blob = await r.blob();
  const old = qrUrl;
  qrUrl = URL.createObjectURL(blob);
  $("qr").src = qrUrl;
  $("qr").hidden = false;
  if (old) URL.revokeObjectURL(old);
}

function showLeft() {
  const left = Math.max(0, Math.ceil((rotatesAt - Date.now()) / 1000));
  $("left").textContent = String(left);
  return left;
}

function tick() {
  if (showLeft() === 0) refresh();
}

if (!store || !key) {
  problem("Open this page as /kiosk#store=STORE_ID&key=STORE_DEVICE_KEY (the store's ingest key).");
} else {
  refresh().then(() => setInterval(tick, 1000));
}
