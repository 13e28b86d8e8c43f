// The console shell: sign-in with an API key (kept in sessionStorage, sent
// as the API's own bearer header), the page menu the key's role allows,
// and hash routing to one module per page.
const KEY = 'fineline.console.key';
const pages = {
  overview: { title: 'Overview', load: () => import('./overview.js') },
  insights: { title: 'Insights', load: () => import('./insights.js') },
  footfall: { title: 'Foot traffic', load: () => import('./footfall.js') },
  recs: { title: 'Recommendations', load: () => import('./recs.js') },
  persona: { title: 'Personas', load: () => import('./persona.js') },
};
const $ = (id) => document.getElementById(id);
let session = null;

export function status(text) {
  $('status').textContent = text;
}

/** Calls the API with the signed-in key; throws with the server's message. */
export async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY) || ''}` };
  if (options.body) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { ...options, headers });
  const body = await r.json().catch(() => null);
  if (!r.ok) {
    const e = body && body.error;
    const err = new Error(e ? `${e.message}${e.field ? ` (${e.field})` : ''}` : `HTTP ${r.status}`);
    err.status = r.status;
    err.body = body;
    throw err;
  }
  return body;
}

/** Builds an element: el('td', {class: 'num'}, '12'). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** A table with a caption; cells are strings or {text, num, key}. */
export function table(caption, headers, rows) {
  const cell = (tag, c) => {
    const v = typeof c === 'object' && c !== null ? c : { text: c };
    return el(tag, { class: v.num ? 'num' : null, 'data-key': v.key, scope: tag === 'th' ? 'col' : null }, v.text ?? '');
  };
  return el('table', {},
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, headers.map((h) => cell('th', h)))),
    el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => cell('td', c))))));
}

export const fmt = {
  int: (n) => Number(n).toLocaleString('en-US'),
  pct: (x) => `${(x * 100).toFixed(1)}%`,
  num: (x, d = 2) => Number(x).toFixed(d),
  time: (ms) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC',
};

export function isoDay(d) {
  return d.toISOString().slice(0, 10);
}

export function daysAgo(n) {
  return isoDay(new Date(Date.now() - n * 86400000));
}

async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  try {
    session = await api('/v1/console/session');
  } catch (e) {
    sessionStorage.removeItem(KEY);
    session = null;
    throw e;
  }
}

function signOut() {
  sessionStorage.removeItem(KEY);
  session = null;
  location.hash = '';
  show();
}

async function show() {
  const signedIn = session !== null;
  $('login').hidden = signedIn;
  $('nav').hidden = !signedIn;
  $('signout').hidden = !signedIn;
  $('who').hidden = !signedIn;
  const root = $('page');
  root.replaceChildren();
  if (!signedIn) {
    document.title = 'Sign in — fineline console';
    $('api-key').focus();
    return;
  }
  $('who').textContent = `Signed in as ${session.role}`;
  for (const li of document.querySelectorAll('#nav li')) li.hidden = !session.pages.includes(li.dataset.page);
  let name = location.hash.slice(1);
  if (!session.pages.includes(name)) name = session.pages[0];
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === `#${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${pages[name].title} — fineline console`;
  root.append(el('h1', { id: 'page-title' }, pages[name].title));
  status('');
  try {
    const mod = await pages[name].load();
    await mod.render(root);
  } catch (e) {
    root.append(el('p', { class: 'error', role: 'alert' }, `Could not load this page: ${e.message}`));
  }
  root.dataset.ready = name;
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('login-error').textContent = '';
  try {
    await signIn($('api-key').value.trim());
    $('api-key').value = '';
    await show();
    $('main').focus();
  } catch (e) {
    $('login-error').textContent = e.status === 401 ? 'That key is not valid.' : e.message;
  }
});
$('signout').addEventListener('click', signOut);
window.addEventListener('hashchange', () => { if (session) show().then(() => $('main').focus()); });

if (sessionStorage.getItem(KEY)) {
  signIn(sessionStorage.getItem(KEY)).catch(() => {}).finally(show);
} else {
  show();
}
