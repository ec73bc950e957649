/* global document, window, location, history, sessionStorage, crypto, atob, URLSearchParams */
/**
 * The demo agent page: one user's drafts, live across tabs and devices, through the client library
 * served by the service itself (DESIGN §11). Plain DOM code, no framework, no innerHTML (every
 * value is set with textContent, so a draft can never inject markup).
 *
 * The token comes from the URL fragment (`#token=…`, never sent to any server), or on a local
 * service with its built-in development secret from `POST /api/dev/token`. Each tab is its own
 * device: its id lives in sessionStorage, so a reload resumes as the same device from IndexedDB.
 * `window.demo` exposes the client for the browser tests and for curious newcomers (devtools).
 */
import { createClient } from '/client/realtime-client.js';

const $ = (id) => document.getElementById(id);
const MAX_EVENTS = 100;

/** createElement with props, then children (strings become text nodes). */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** The claims of a JWT, for display only (the service verifies it; the page never does). */
function claims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
  } catch {
    return null;
  }
}

function tokenFromFragment() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  return token && token.trim() ? token.trim() : null;
}

/** Ask the service for a development token; null when it runs with a configured key (404). */
async function mintDevToken(userId) {
  const res = await fetch('/api/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  if (res.status === 404) return null;
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.error?.message ?? `The service answered ${res.status}`);
  return body.token;
}

function deviceIdForThisTab() {
  let id = sessionStorage.getItem('demo.deviceId');
  if (!id) {
    id = `web-${crypto.randomUUID().slice(0, 8)}`;
    sessionStorage.setItem('demo.deviceId', id);
  }
  return id;
}

// ---- sign-in -------------------------------------------------------------------------------

function showSignIn(message) {
  $('app').hidden = true;
  $('who').hidden = true;
  $('sign-out').hidden = true;
  $('signin').hidden = false;
  const err = $('signin-error');
  err.hidden = !message;
  err.textContent = message ?? '';
  $('user-id').focus();
}

$('signin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const userId = $('user-id').value.trim();
  if (!userId) return;
  try {
    const token = await mintDevToken(userId);
    if (!token) {
      showSignIn('This service verifies tokens with a configured key, so it mints none. Open /demo/#token=<your JWT> instead.');
      return;
    }
    sessionStorage.setItem('demo.devUser', userId);
    history.replaceState(null, '', `#token=${encodeURIComponent(token)}`);
    await start(token);
  } catch (err) {
    showSignIn(err.message);
  }
});

$('sign-out').addEventListener('click', async () => {
  await window.demo?.client.stop();
  sessionStorage.removeItem('demo.devUser');
  history.replaceState(null, '', location.pathname);
  location.reload();
});

// ---- the workspace ---------------------------------------------------------------------------

let client = null;
let selectedId = null;
const flashUntil = new Map(); // draftId -> time its highlight ends

const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

function total(draft) {
  return draft.items.reduce((sum, i) => sum + (i.price ?? 0) * i.quantity, 0);
}

function renderDrafts(drafts) {
  const list = [...drafts].sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : -1));
  $('count').textContent = String(list.length);
  $('empty').hidden = list.length > 0;
  const now = Date.now();
  const pending = client?.pendingWrites;
  const queued = new Set(Array.isArray(pending) ? pending.flatMap((p) => p.targets ?? []) : []);
  $('drafts').replaceChildren(
    ...list.map((d) =>
      h(
        'li',
        {
          class: `draft${d.id === selectedId ? ' selected' : ''}${(flashUntil.get(d.id) ?? 0) > now ? ' flash' : ''}`,
          dataset: { id: d.id },
          tabindex: 0,
          onclick: () => select(d.id),
          onkeydown: (e) => e.key === 'Enter' && select(d.id),
        },
        h('div', { class: 'top' }, h('span', { class: 'name' }, d.customerName), h('span', { class: 'total' }, money.format(total(d)))),
        h(
          'div',
          { class: 'meta' },
          h('span', {}, d.customerId),
          h('span', {}, `${d.items.length} item${d.items.length === 1 ? '' : 's'}`),
          h('span', {}, clock.format(new Date(d.updatedAt))),
          queued.has(d.id) ? h('span', { class: 'badge pending', title: 'waiting for the service to acknowledge it' }, 'queued') : h('span', { class: 'badge' }, `v${d.version}`),
        ),
        d.notes ? h('div', { class: 'notes' }, d.notes) : null,
      ),
    ),
  );
  if (selectedId && !list.some((d) => d.id === selectedId)) clearEditor();
}

function itemRow(item = { productId: '', quantity: 1, price: null }) {
  const row = h(
    'div',
    { class: 'item' },
    h('input', { class: 'product', placeholder: 'Product', required: true, maxlength: 128, value: item.productId, 'aria-label': 'product id' }),
    h('input', { class: 'qty', type: 'number', min: '0.001', step: 'any', required: true, value: item.quantity, 'aria-label': 'quantity' }),
    h('input', { class: 'price', type: 'number', min: '0', step: '0.01', placeholder: 'Price', value: item.price ?? '', 'aria-label': 'price' }),
    h('button', { type: 'button', class: 'ghost icon', title: 'Remove item', onclick: () => row.remove() }, '×'),
  );
  return row;
}

function fillEditor(draft) {
  $('editor-title').textContent = draft ? 'Edit draft' : 'New draft';
  $('save').textContent = draft ? 'Save changes' : 'Create draft';
  $('delete').hidden = !draft;
  $('f-customer-name').value = draft?.customerName ?? '';
  $('f-customer-id').value = draft?.customerId ?? '';
  $('f-notes').value = draft?.notes ?? '';
  $('items').replaceChildren(...(draft?.items.length ? draft.items.map(itemRow) : [itemRow()]));
  $('editor-error').hidden = true;
}

function select(id) {
  selectedId = id;
  fillEditor(client.drafts.list().find((d) => d.id === id) ?? null);
  renderDrafts(client.drafts.list());
}

function clearEditor() {
  selectedId = null;
  fillEditor(null);
  if (client) renderDrafts(client.drafts.list());
}

function readEditor() {
  const items = [...$('items').querySelectorAll('.item')].map((row) => {
    const price = row.querySelector('.price').value;
    return { productId: row.querySelector('.product').value.trim(), quantity: Number(row.querySelector('.qty').value), price: price === '' ? null : Number(price) };
  });
  const notes = $('f-notes').value.trim();
  return { customerName: $('f-customer-name').value.trim(), customerId: $('f-customer-id').value.trim(), items, notes: notes || null };
}

/** A write resolves once the service acknowledged it, which offline may be much later: never block the form on it. */
function track(promise) {
  promise.catch((err) => {
    const el = $('editor-error');
    el.hidden = false;
    el.textContent = `Refused by the service: ${err.message ?? err}`;
  });
  refreshQueue();
}

$('editor').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const content = readEditor();
  if (selectedId) track(client.drafts.update(selectedId, content));
  else track(client.drafts.create(content));
  clearEditor();
});
$('add-item').addEventListener('click', () => $('items').append(itemRow()));
$('cancel').addEventListener('click', clearEditor);
$('new').addEventListener('click', () => {
  clearEditor();
  $('f-customer-name').focus();
});
$('delete').addEventListener('click', () => {
  if (!selectedId) return;
  track(client.drafts.remove(selectedId));
  clearEditor();
});

function logEvent(e) {
  $('events-empty').hidden = true;
  const li = h(
    'li',
    { class: e.own ? 'own' : 'other' },
    h('span', { class: 'seq' }, e.seq === null || e.seq === undefined ? '·' : `#${e.seq}`),
    h('span', { class: 'type' }, e.type),
    h('span', { class: 'origin', title: e.replayed ? 'replayed on connect' : 'live' }, e.own ? 'this tab' : `${e.replayed ? '↻ ' : ''}${e.originDeviceId ?? 'elsewhere'}`),
  );
  const events = $('events');
  events.prepend(li);
  while (events.children.length > MAX_EVENTS) events.lastChild.remove();
}

const STATUS_TEXT = { connecting: 'connecting…', live: 'live', offline: 'offline', stopped: 'not connected' };

/** `info` is the 'status' event's `{ status, pendingWrites }` (or a bare status). */
function showStatus(info) {
  const status = typeof info === 'string' ? info : info.status;
  $('status').dataset.status = status;
  $('status-text').textContent = STATUS_TEXT[status] ?? status;
}

/** The writes queued on this device and not yet acknowledged (`client.pendingWrites` lists them). */
function queuedCount() {
  const pending = client?.pendingWrites;
  return typeof pending === 'number' ? pending : (pending?.length ?? 0);
}

function refreshQueue() {
  const n = queuedCount();
  $('queue').dataset.count = String(n);
  $('queue-count').textContent = String(n);
}

async function start(token) {
  let current = token;
  const sub = claims(token)?.sub;
  const deviceId = deviceIdForThisTab();
  // A development token is simply minted again when it nears its end; a pasted one is what it is.
  const getToken = async () => {
    const devUser = sessionStorage.getItem('demo.devUser');
    const exp = claims(current)?.exp;
    if (devUser && typeof exp === 'number' && exp * 1000 - Date.now() < 60_000) {
      current = (await mintDevToken(devUser)) ?? current;
      history.replaceState(null, '', `#token=${encodeURIComponent(current)}`);
    }
    return current;
  };

  client = createClient({ url: location.origin, deviceId, getToken });
  window.demo = { client, deviceId, userId: sub };

  $('signin').hidden = true;
  $('app').hidden = false;
  $('sign-out').hidden = false;
  $('who').hidden = false;
  $('who').textContent = sub ? `signed in as ${sub}` : 'signed in';
  $('device').textContent = `device ${deviceId}`;
  fillEditor(null);

  // The queued badges follow the queue: a write acknowledged without changing the list still clears its badge.
  client.on('status', (info) => {
    showStatus(info);
    refreshQueue();
    renderDrafts(client.drafts.list());
  });
  client.on('event', (e) => {
    logEvent(e);
    const id = e.payload?.draftId;
    if (id && !e.own) {
      flashUntil.set(id, Date.now() + 1200);
      setTimeout(() => renderDrafts(client.drafts.list()), 1250); // let the highlight fade
    }
    refreshQueue();
  });
  client.on('resync', () => logEvent({ type: 'RESYNC (lists refetched)', seq: null, own: true }));
  // A fatal realtime error (token refused, policy close) means this page will not reconnect by itself.
  client.on('error', (err) => {
    if (err?.fatal && err.source === 'realtime') showSignIn(`Disconnected: ${err.message}. Sign in again.`);
  });
  client.drafts.subscribe((drafts) => {
    renderDrafts(drafts);
    refreshQueue();
  });
  showStatus(client.status);
  setInterval(refreshQueue, 250);

  try {
    await client.start();
  } catch (err) {
    showSignIn(`Could not start: ${err.message ?? err}`);
    return;
  }
  renderDrafts(client.drafts.list());
  window.demo.ready = true;
}

const initial = tokenFromFragment();
if (initial) start(initial);
else showSignIn(null);
