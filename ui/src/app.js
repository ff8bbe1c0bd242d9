// sluice's upload page. The protocol is tus-js-client's (resumable uploads, retries, resuming
// after a reload through the fingerprints it keeps in localStorage); this file is the page around
// it: choosing files, per-file and total progress, results, and the listing of stored files.
//
// Every URL is relative to the page, so the page works under --mount and behind a reverse proxy
// that keeps the path: uploads go to ./uploads/, files are read from ./files/.
//
// On a server with access control (docs/security.md) the page needs a right to upload: either
// the link it was opened with carries an upload grant (a URL signed for POST ./uploads/, made by
// `sluice sign --page`: ?sl-expires=…[&sl-max=…]&sl-sig=…, passed on unchanged to the creation,
// whose answer is a Location signed for the upload's PATCH and HEAD), or the person pastes a
// bearer token (kept in sessionStorage for this tab only, sent as Authorization). The listing and
// delete are shown only while the server allows them.
import * as tus from 'tus-js-client';

const MiB = 1024 * 1024;
const query = new URLSearchParams(location.search);
// One PATCH per 64 MiB: big enough that the per-request cost (a round trip, an fdatasync and the
// upload's record on the server) vanishes, small enough for proxies that cap a request's body.
// ?chunk=N (MiB, or "all") overrides it for measurements.
const CHUNK = query.get('chunk') === 'all' ? Infinity : (Number(query.get('chunk')) || 64) * MiB;
const PARALLEL_FILES = Math.max(1, Math.min(8, Number(query.get('parallel')) || 3));
// Retries with backoff, about five minutes in all: a restart or a short network drop resumes.
const RETRY_DELAYS = [0, 1000, 2000, 4000, 8000, 15000, 30000, 30000, 30000, 60000, 60000, 60000];

const base = new URL('./', document.baseURI);
const endpoint = new URL('uploads/', base).href;

// The upload grant of the page's link, passed on as it came (its parts are what was signed).
const grant = query.get('sl-sig')
  ? { expires: Number(query.get('sl-expires')), max: query.has('sl-max') ? Number(query.get('sl-max')) : null }
  : null;
const grantQuery = grant
  ? '?' + ['sl-expires', 'sl-max', 'sl-sig'].filter((k) => query.has(k)).map((k) => `${k}=${encodeURIComponent(query.get(k))}`).join('&')
  : '';
const grantExpired = () => grant && !(grant.expires * 1000 > Date.now());
const TOKEN_KEY = 'sluice-token';
let token = '';
try {
  token = sessionStorage.getItem(TOKEN_KEY) || '';
} catch {
  /* no storage: a token lasts until the page is left */
}
const authHeaders = () => (token ? { Authorization: 'Bearer ' + token } : {});
const access = { required: false, list: true, remove: true }; // learnt from the server's answers
const encodePath = (name) => name.split('/').map(encodeURIComponent).join('/');
const fileURL = (name) => new URL('files/' + encodePath(name), base).href;

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k in e && typeof v !== 'string') e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
};

// --- formatting -------------------------------------------------------------------------------

function fmtBytes(n) {
  if (!Number.isFinite(n)) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? n : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + ' ' + units[i];
}

function fmtTime(s) {
  if (!Number.isFinite(s) || s < 0) return '';
  s = Math.ceil(s);
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
}

function hexOfBase64(b64) {
  const bin = atob(b64);
  let hex = '';
  for (let i = 0; i < bin.length; i++) hex += bin.charCodeAt(i).toString(16).padStart(2, '0');
  return hex;
}

// "sha-256=:<base64>:" (RFC 9530) → hex, or ''.
function sha256Of(reprDigest) {
  const m = /sha-256=:([A-Za-z0-9+/=]+):/.exec(reprDigest || '');
  return m ? hexOfBase64(m[1]) : '';
}

function announce(text) {
  $('announce').textContent = text;
}

// A rate measured over the last few seconds of progress.
class Rate {
  constructor() {
    this.samples = [];
  }
  add(bytes) {
    const now = performance.now();
    this.samples.push([now, bytes]);
    while (this.samples.length > 2 && now - this.samples[0][0] > 5000) this.samples.shift();
  }
  get() {
    const s = this.samples;
    if (s.length < 2) return 0;
    const dt = (s[s.length - 1][0] - s[0][0]) / 1000;
    return dt > 0 ? (s[s.length - 1][1] - s[0][1]) / dt : 0;
  }
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Select and copy';
  }
  setTimeout(() => (button.textContent = 'Copy'), 2000);
}

// The server's answer to a failed request, as a sentence.
function explain(err) {
  const res = err && err.originalResponse;
  const status = res ? res.getStatus() : 0;
  let detail = '';
  try {
    detail = JSON.parse(res.getBody()).error || '';
  } catch {
    /* no JSON body */
  }
  if (status === 401) return 'This server takes files only through an upload link or with an access token (HTTP 401)';
  if (status === 403 && grant && !token)
    return (grantExpired() ? `The upload link expired on ${new Date(grant.expires * 1000).toLocaleString()}` : 'The upload link was refused: it is not valid for this upload') + ' (HTTP 403)';
  if (status === 413 && grant && grant.max != null && !token) return `Larger than this upload link allows (at most ${fmtBytes(grant.max)}) (HTTP 413)`;
  const what = {
    403: 'The server refused this upload',
    404: 'The upload is gone from the server (expired or removed)',
    413: 'Too large for this server',
    415: 'The server does not accept this upload',
    507: 'The server has no space left for it',
  }[status];
  if (what) return what + (detail ? ': ' + detail : '') + ` (HTTP ${status})`;
  if (status) return `The server answered HTTP ${status}` + (detail ? ': ' + detail : '');
  return 'The connection failed: ' + (err && err.message ? err.message.split('\n')[0] : 'unknown error');
}

// --- uploads ----------------------------------------------------------------------------------

const items = [];
let nextId = 1;

function addFiles(entries) {
  let added = 0;
  for (const { file, path } of entries) {
    const item = {
      id: nextId++,
      file,
      path: path || file.name,
      size: file.size,
      sent: 0,
      state: 'queued',
      rate: new Rate(),
      retrying: '',
    };
    item.view = renderItem(item);
    $('queue').append(item.view.li);
    items.push(item);
    added++;
  }
  if (added) {
    $('total').hidden = false;
    announce(`${added} file${added > 1 ? 's' : ''} added`);
    pump();
    scheduleDraw();
  }
}

function pump() {
  let running = items.filter((i) => i.state === 'uploading').length;
  for (const item of items) {
    if (running >= PARALLEL_FILES) break;
    if (item.state === 'queued') {
      start(item);
      running++;
    }
  }
}

async function start(item) {
  item.state = 'uploading';
  item.error = '';
  if (!item.upload) {
    item.upload = new tus.Upload(item.file, {
      endpoint: endpoint + grantQuery,
      headers: authHeaders(),
      chunkSize: CHUNK,
      retryDelays: RETRY_DELAYS,
      metadata: {
        filename: item.file.name,
        filetype: item.file.type || 'application/octet-stream',
        relativePath: item.path,
      },
      // The same file in the same place: the path, size and date (several files may share a name).
      fingerprint: async () => ['sluice', endpoint, item.path, item.size, item.file.lastModified].join('|'),
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onProgress: (sent) => {
        item.sent = sent;
        item.retrying = '';
        item.rate.add(sent);
        scheduleDraw();
      },
      onShouldRetry: (err, attempt) => {
        const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        const retry = (status < 400 || status >= 500 || [408, 409, 423, 429].includes(status)) && status !== 507;
        if (retry) {
          item.retrying = `Connection lost, retrying (attempt ${attempt + 1} of ${RETRY_DELAYS.length})…`;
          scheduleDraw();
        }
        return retry;
      },
      onSuccess: ({ lastResponse }) => finish(item, lastResponse),
      onError: (err) => {
        item.state = 'error';
        item.error = explain(err);
        announce(`${item.path}: ${item.error}`);
        scheduleDraw();
        pump();
      },
    });
    try {
      const previous = await item.upload.findPreviousUploads();
      if (previous.length > 0) {
        item.upload.resumeFromPreviousUpload(previous[0]);
        item.resumed = true;
      }
    } catch {
      /* no storage: start afresh */
    }
    if (item.state !== 'uploading') return; // paused or cancelled meanwhile
  }
  item.rate = new Rate();
  item.startedAt = item.startedAt || performance.now();
  item.upload.start();
  scheduleDraw();
}

async function finish(item, res) {
  item.finishedAt = performance.now(); // the last PATCH answered: the file is committed
  const where = res ? res.getHeader('Sluice-File') || res.getHeader('sluice-file') : '';
  const at = where ? where.indexOf('/files/') : -1;
  const name = at >= 0 ? decodeURIComponent(where.slice(at + 7)) : item.path;
  item.result = { name, url: fileURL(name), size: item.size, sha256: sha256Of(res && res.getHeader('Repr-Digest')) };
  item.state = 'done';
  item.sent = item.size;
  try {
    const head = await fetch(item.result.url, { method: 'HEAD', cache: 'no-store', headers: authHeaders() });
    if (head.ok) {
      item.result.size = Number(head.headers.get('Content-Length'));
      item.result.sha256 = sha256Of(head.headers.get('Repr-Digest')) || item.result.sha256;
    }
  } catch {
    /* the link still works; the digest shows in the listing */
  }
  announce(`${item.path} uploaded`);
  scheduleDraw();
  scheduleList();
  pump();
  refreshUnfinished();
}

function pause(item) {
  if (item.state === 'uploading') {
    item.upload && item.upload.abort();
    item.state = 'paused';
  } else if (item.state === 'queued') {
    item.state = 'paused';
  }
  scheduleDraw();
  pump();
}

function resume(item) {
  if (item.state === 'paused' || item.state === 'error') {
    item.state = 'queued';
    pump();
    scheduleDraw();
  }
}

function cancel(item) {
  const was = item.state;
  item.state = 'cancelled';
  if (item.upload && (was === 'uploading' || was === 'paused' || was === 'error'))
    item.upload.abort(true).catch(() => {}); // terminate it on the server too
  item.view.li.remove();
  items.splice(items.indexOf(item), 1);
  announce(`${item.path} cancelled`);
  scheduleDraw();
  pump();
  refreshUnfinished();
}

// --- drawing ----------------------------------------------------------------------------------

function renderItem(item) {
  const name = el('span', { class: 'name' }, item.path);
  const bar = el('progress', { max: 1, value: 0 });
  bar.setAttribute('aria-label', 'Upload of ' + item.path);
  const figures = el('span', { class: 'figures' });
  const status = el('p', { class: 'status' });
  const pauseBtn = el('button', { type: 'button', onclick: () => (item.state === 'uploading' || item.state === 'queued' ? pause(item) : resume(item)) }, 'Pause');
  const cancelBtn = el('button', { type: 'button', onclick: () => cancel(item) }, 'Cancel');
  pauseBtn.setAttribute('aria-label', 'Pause ' + item.path);
  cancelBtn.setAttribute('aria-label', 'Cancel ' + item.path);
  const actions = el('p', { class: 'actions' }, pauseBtn, cancelBtn);
  const result = el('div', { class: 'result' });
  const li = el('li', { class: 'item' }, el('div', { class: 'row' }, name, figures), bar, status, actions, result);
  li.dataset.path = item.path;
  return { li, bar, figures, status, pauseBtn, cancelBtn, actions, result, shown: '' };
}

function drawResult(item) {
  const r = item.result;
  const link = el('a', { href: r.url, download: '' }, r.url);
  const copyLink = el('button', { type: 'button', onclick: (e) => copy(r.url, e.target) }, 'Copy');
  copyLink.setAttribute('aria-label', 'Copy the link to ' + r.name);
  const rows = [el('dt', {}, 'Link'), el('dd', {}, link, ' ', copyLink), el('dt', {}, 'Size'), el('dd', {}, `${fmtBytes(r.size)} (${r.size} bytes)`)];
  if (r.sha256) {
    const copySum = el('button', { type: 'button', onclick: (e) => copy(r.sha256, e.target) }, 'Copy');
    copySum.setAttribute('aria-label', 'Copy the SHA-256 of ' + r.name);
    rows.push(el('dt', {}, 'SHA-256'), el('dd', {}, el('code', { class: 'sha' }, r.sha256), ' ', copySum));
  }
  item.view.result.replaceChildren(el('dl', {}, ...rows));
}

let drawPending = false;
function scheduleDraw() {
  if (!drawPending) {
    drawPending = true;
    requestAnimationFrame(draw);
  }
}

function draw() {
  drawPending = false;
  let size = 0;
  let sent = 0;
  let rate = 0;
  let active = 0;
  for (const item of items) {
    const v = item.view;
    size += item.size;
    sent += item.sent;
    const r = item.state === 'uploading' ? item.rate.get() : 0;
    rate += r;
    if (item.state === 'uploading' || item.state === 'queued') active++;
    v.bar.value = item.size ? item.sent / item.size : item.state === 'done' ? 1 : 0;
    let fig = `${fmtBytes(item.sent)} of ${fmtBytes(item.size)}`;
    if (item.state === 'uploading' && r > 0) fig += ` · ${fmtBytes(r)}/s · ${fmtTime((item.size - item.sent) / r)} left`;
    v.figures.textContent = fig;
    const words = {
      queued: 'Waiting',
      uploading: item.retrying || (item.resumed ? 'Uploading (resumed)' : 'Uploading'),
      paused: 'Paused',
      done: 'Done',
      error: item.error,
    };
    v.status.textContent = words[item.state] || '';
    v.status.setAttribute('role', item.state === 'error' ? 'alert' : 'status');
    v.li.dataset.state = item.state;
    v.pauseBtn.textContent = item.state === 'uploading' || item.state === 'queued' ? 'Pause' : item.state === 'error' ? 'Retry' : 'Resume';
    v.pauseBtn.setAttribute('aria-label', v.pauseBtn.textContent + ' ' + item.path);
    v.actions.hidden = item.state === 'done';
    if (item.state === 'done' && item.result && v.shown !== 'done') {
      drawResult(item);
      v.shown = 'done';
    }
  }
  $('total-bar').value = size ? sent / size : 0;
  let text = `${items.length} file${items.length === 1 ? '' : 's'} · ${fmtBytes(sent)} of ${fmtBytes(size)}`;
  if (rate > 0) text += ` · ${fmtBytes(rate)}/s · ${fmtTime((size - sent) / rate)} left`;
  else if (active === 0 && items.length && items.every((i) => i.state === 'done')) text += ' · all done';
  $('total-text').textContent = text;
  if (!items.length) $('total').hidden = true;
}

// --- unfinished uploads from an earlier visit ----------------------------------------------------

async function refreshUnfinished() {
  const storage = tus.defaultOptions.urlStorage;
  let stored = [];
  try {
    stored = await storage.findAllUploads();
  } catch {
    return;
  }
  const inPage = new Set(items.filter((i) => i.state !== 'done').map((i) => i.path));
  const list = $('unfinished-list');
  list.replaceChildren();
  for (const u of stored) {
    const path = (u.metadata && (u.metadata.relativePath || u.metadata.filename)) || '?';
    if (inPage.has(path) || !u.uploadUrl) continue;
    const li = el('li', {}, el('span', { class: 'name' }, path), ' ', el('span', { class: 'figures' }, fmtBytes(u.size)));
    const discard = el('button', {
      type: 'button',
      onclick: async () => {
        await storage.removeUpload(u.urlStorageKey);
        fetch(u.uploadUrl, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0', ...authHeaders() } }).catch(() => {});
        refreshUnfinished();
      },
    }, 'Discard');
    discard.setAttribute('aria-label', 'Discard the unfinished upload of ' + path);
    li.append(' ', discard);
    list.append(li);
    fetch(u.uploadUrl, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0', ...authHeaders() }, cache: 'no-store' })
      .then((res) => {
        if (res.status === 404) {
          storage.removeUpload(u.urlStorageKey);
          li.remove();
          $('unfinished').hidden = !list.children.length;
          return;
        }
        const off = Number(res.headers.get('Upload-Offset'));
        if (Number.isFinite(off) && u.size) li.querySelector('.figures').textContent = `${fmtBytes(off)} of ${fmtBytes(u.size)} sent`;
      })
      .catch(() => {});
  }
  $('unfinished').hidden = !list.children.length;
}

// --- choosing files: picker, folder picker, drop, paste -----------------------------------------

$('pick-files').addEventListener('change', (e) => {
  addFiles([...e.target.files].map((file) => ({ file, path: file.name })));
  e.target.value = '';
});
$('pick-folder').addEventListener('change', (e) => {
  addFiles([...e.target.files].map((file) => ({ file, path: file.webkitRelativePath || file.name })));
  e.target.value = '';
});

function readEntries(reader) {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walk(entry, out, depth = 0) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ file, path: entry.fullPath.replace(/^\/+/, '') || file.name });
  } else if (entry.isDirectory && depth < 64) {
    const reader = entry.createReader();
    for (let batch = await readEntries(reader); batch.length; batch = await readEntries(reader))
      for (const child of batch) await walk(child, out, depth + 1);
  }
}

const drop = $('drop');
for (const ev of ['dragenter', 'dragover']) {
  document.addEventListener(ev, (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
}
document.addEventListener('dragleave', (e) => {
  if (!e.relatedTarget) drop.classList.remove('over');
});
document.addEventListener('drop', async (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const dt = e.dataTransfer;
  const entries = [...(dt.items || [])].map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
  if (entries.length && entries.every(Boolean)) {
    const out = [];
    for (const entry of entries) await walk(entry, out);
    addFiles(out);
  } else {
    addFiles([...dt.files].map((file) => ({ file, path: file.name })));
  }
});
document.addEventListener('paste', (e) => {
  const files = [...((e.clipboardData && e.clipboardData.files) || [])];
  if (files.length) {
    e.preventDefault();
    addFiles(files.map((file) => ({ file, path: file.name })));
  }
});

$('pause-all').addEventListener('click', () => items.forEach(pause));
$('resume-all').addEventListener('click', () => items.forEach(resume));
$('clear-done').addEventListener('click', () => {
  for (const item of items.filter((i) => i.state === 'done')) {
    item.view.li.remove();
    items.splice(items.indexOf(item), 1);
  }
  scheduleDraw();
});

// --- the listing ------------------------------------------------------------------------------

let listTimer = 0;
function scheduleList() {
  clearTimeout(listTimer);
  listTimer = setTimeout(loadList, 300);
}

const digestCache = new Map(); // name → hex SHA-256 ('' when the server keeps none)

async function loadDigests(rows) {
  const queue = rows.slice(0, 200); // the first rows only: one HEAD each
  const worker = async () => {
    for (let row = queue.shift(); row; row = queue.shift()) {
      const key = row.name + '|' + row.mtime + '|' + row.size;
      if (!digestCache.has(key)) {
        try {
          const res = await fetch(fileURL(row.name), { method: 'HEAD', cache: 'no-store', headers: authHeaders() });
          digestCache.set(key, res.ok ? sha256Of(res.headers.get('Repr-Digest')) : '');
        } catch {
          continue;
        }
      }
      row.cell.replaceChildren(digestCell(digestCache.get(key), row.name));
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

function digestCell(hex, name) {
  if (!hex) return '—';
  const b = el('button', { type: 'button', class: 'small', onclick: (e) => copy(hex, e.target) }, 'Copy');
  b.setAttribute('aria-label', 'Copy the SHA-256 of ' + name);
  return el('span', {}, el('code', { class: 'sha', title: hex }, hex.slice(0, 16) + '…'), ' ', b);
}

async function remove(name, tr) {
  if (!confirm(`Delete ${name} from the server?`)) return;
  let msg;
  try {
    const res = await fetch(fileURL(name), { method: 'DELETE', headers: authHeaders() });
    if (res.ok) {
      tr.remove();
      announce(`${name} deleted`);
      return;
    }
    if (res.status === 401 || res.status === 403) {
      access.remove = false; // not ours to delete: no more Delete buttons
      for (const b of $('files').querySelectorAll('button.delete')) b.remove();
      $('list-status').textContent = `Files cannot be deleted with ${token ? 'this token' : 'this link'} (HTTP ${res.status}).`;
      return;
    }
    let detail = '';
    try {
      detail = (await res.json()).error || '';
    } catch {
      /* no JSON */
    }
    msg = `Could not delete ${name}: HTTP ${res.status}${detail ? ', ' + detail : ''}`;
  } catch (err) {
    msg = `Could not delete ${name}: ${err.message}`;
  }
  $('list-status').textContent = msg;
}

async function loadList() {
  const status = $('list-status');
  let data;
  try {
    const res = await fetch(new URL('files/', base), { cache: 'no-store', headers: authHeaders() });
    if (res.status === 401 || res.status === 403) {
      access.required = true; // the server has access control, and this page may not list
      access.list = false;
      drawAccess();
      return;
    }
    access.list = true;
    drawAccess();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    data = await res.json();
  } catch (err) {
    status.textContent = 'The list of stored files could not be loaded: ' + err.message;
    return;
  }
  const files = data.files.slice().sort((a, b) => b.mtime - a.mtime || a.name.localeCompare(b.name));
  const tbody = $('files').tBodies[0];
  const rows = [];
  tbody.replaceChildren(
    ...files.map((f) => {
      const cell = el('td', { class: 'digest' }, '…');
      const del = access.remove ? el('button', { type: 'button', class: 'small delete', onclick: () => remove(f.name, tr) }, 'Delete') : null;
      if (del) del.setAttribute('aria-label', 'Delete ' + f.name);
      const when = new Date(f.mtime * 1000);
      const tr = el(
        'tr',
        {},
        el('td', { class: 'name' }, el('a', { href: fileURL(f.name), download: '' }, f.name)),
        el('td', { class: 'num' }, fmtBytes(f.size)),
        el('td', {}, el('time', { datetime: when.toISOString() }, when.toLocaleString())),
        cell,
        el('td', {}, del),
      );
      tr.dataset.name = f.name;
      rows.push({ name: f.name, size: f.size, mtime: f.mtime, cell });
      return tr;
    }),
  );
  status.textContent = files.length
    ? `${files.length} file${files.length === 1 ? '' : 's'}${data.truncated ? ' (the server lists no more)' : ''}`
    : 'No files stored yet.';
  loadDigests(rows);
}

// --- access: what the link or the token allows ----------------------------------------------------

function drawAccess() {
  const note = $('access-note');
  let text = '';
  let alert = false;
  if (grant && !token) {
    const until = new Date(grant.expires * 1000).toLocaleString();
    if (grantExpired()) {
      text = `This upload link expired on ${until}. Ask whoever sent it for a new one.`;
      alert = true;
    } else {
      text = `This link lets you send files${grant.max != null ? ` of up to ${fmtBytes(grant.max)} each` : ''} until ${until}.`;
    }
  } else if (access.required && !token) {
    text = 'This server takes files only through an upload link or with an access token: open the link you were given, or paste a token.';
    alert = true;
  } else if (token && !access.list) {
    text = 'The token is in use for uploads; it does not allow listing the stored files.';
  }
  note.textContent = text;
  note.hidden = !text;
  note.className = alert ? 'access-note alert' : 'access-note';
  note.setAttribute('role', alert ? 'alert' : 'status');
  $('token-form').hidden = !!token || !!grant || !access.required;
  $('token-in-use').hidden = !token;
  $('stored').hidden = !access.list;
  $('skip-stored').hidden = !access.list;
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const v = $('token').value.trim();
  if (!v) return;
  token = v;
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    /* kept in this page only */
  }
  $('token').value = '';
  for (const item of items) if (item.upload) item.upload.options.headers = authHeaders();
  access.remove = true;
  drawAccess();
  loadList();
});
$('token-forget').addEventListener('click', () => {
  token = '';
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* nothing kept */
  }
  for (const item of items) if (item.upload) item.upload.options.headers = {};
  drawAccess();
  loadList();
});

$('refresh').addEventListener('click', loadList);
$('curl-hint').textContent = `curl -T FILE ${new URL('files/', base).href}`;
if (!tus.isSupported) $('drop').prepend(el('p', { role: 'alert' }, 'This browser cannot upload files with this page.'));
loadList();
refreshUnfinished();
drawAccess();
window.sluicePage = { items, CHUNK, PARALLEL_FILES, access }; // for the browser tests and the curious
