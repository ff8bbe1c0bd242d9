// The browser tests' harness: the real sluice binary on an ephemeral port with a fresh root,
// a TCP proxy in front of it that the tests control (a rate limit, a cut of every connection,
// a new target after a restart), Debian's Chromium driven by playwright-core, and small helpers.
// Every wait is bounded (LIMIT); tests wait on conditions, never on time.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const TOP = join(here, '..', '..');
export const BIN = process.env.SLUICE_BIN || join(TOP, 'build', 'sluice');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const LIMIT = 60_000; // ms: the hang guard of every wait, never what a test asserts
export const MiB = 1024 * 1024;

export function tempDir(tag) {
  return mkdtempSync(join(tmpdir(), `sluice-browser-${tag}-`));
}

// sluice on 127.0.0.1 (port 0 unless given), root `root`; resolves once it listens.
export async function startServer(root, args = [], port = 0) {
  const proc = spawn(BIN, ['--listen', `127.0.0.1:${port}`, '--root', root, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('sluice did not start: ' + log)), LIMIT);
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on('exit', (code) => reject(new Error(`sluice exited (${code}): ${log}`)));
  });
  const srv = { proc, port: await listening, root, log: () => log };
  srv.url = `http://127.0.0.1:${srv.port}`;
  srv.exited = new Promise((resolve) => proc.on('exit', resolve));
  return srv;
}

export async function stopServer(srv, signal = 'SIGTERM') {
  if (srv.proc.exitCode === null && srv.proc.signalCode === null) srv.proc.kill(signal);
  await withLimit(srv.exited, 'sluice to stop');
}

export function withLimit(promise, what, ms = LIMIT) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms for ${what}`)), ms);
    }),
  ]);
}

// A TCP proxy to target port: counts the bytes clients send (up), can limit their rate (bytes
// per second), hold them (no more forwarded), and cut every open connection.
export async function startProxy(targetPort) {
  const p = { target: targetPort, up: 0, rate: 0, held: false, conns: new Set(), waiting: [] };
  const forward = (client, upstream, d) => {
    p.up += d.length;
    if (!upstream.write(d)) {
      client.pause();
      upstream.once('drain', () => !p.held && client.resume());
    }
    if (p.rate > 0) {
      client.pause();
      setTimeout(() => !p.held && client.resume(), (d.length / p.rate) * 1000);
    }
    for (const w of p.waiting.filter((w) => p.up >= w.bytes)) {
      p.waiting.splice(p.waiting.indexOf(w), 1);
      w.resolve();
    }
  };
  p.server = net.createServer((client) => {
    const upstream = net.connect(p.target, '127.0.0.1');
    const pair = { client, upstream };
    p.conns.add(pair);
    client.on('data', (d) => {
      if (p.held) client.pause();
      forward(client, upstream, d);
    });
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      p.conns.delete(pair);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    if (p.held) client.pause();
  });
  await new Promise((resolve) => p.server.listen(0, '127.0.0.1', resolve));
  p.port = p.server.address().port;
  p.url = `http://127.0.0.1:${p.port}`;
  // Resolves once clients have sent `bytes` in all.
  p.after = (bytes) => withLimit(new Promise((resolve) => (p.up >= bytes ? resolve() : p.waiting.push({ bytes, resolve }))), `${bytes} bytes through the proxy`);
  p.hold = () => {
    p.held = true;
    for (const { client } of p.conns) client.pause();
  };
  p.release = () => {
    p.held = false;
    for (const { client } of p.conns) client.resume();
  };
  p.cut = () => {
    for (const { client, upstream } of p.conns) {
      client.destroy();
      upstream.destroy();
    }
    p.conns.clear();
  };
  p.close = () => {
    p.cut();
    return new Promise((resolve) => p.server.close(resolve));
  };
  return p;
}

// A file of `size` random bytes; returns its path and SHA-256 (hex).
export async function randomFile(dir, name, size) {
  const path = join(dir, name);
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let left = size; left > 0; ) {
    const n = Math.min(left, 4 * MiB);
    const buf = randomBytes(n);
    hash.update(buf);
    if (!out.write(buf)) await new Promise((resolve) => out.once('drain', resolve));
    left -= n;
  }
  await new Promise((resolve, reject) => out.end((err) => (err ? reject(err) : resolve())));
  return { path, sha256: hash.digest('hex'), size };
}

export async function sha256File(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

export function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex');
}

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [],
  });
}

// A page on `url` that fails the test on any request to another origin and on script errors.
export async function openPage(browser, url, viewport = { width: 1000, height: 900 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const origin = new URL(url).origin;
  page.problems = [];
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (u.protocol.startsWith('http') && u.origin !== origin) page.problems.push('third-party request: ' + req.url());
  });
  page.on('pageerror', (err) => page.problems.push('page error: ' + err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/Failed to load resource|ERR_CONNECTION|net::ERR/.test(msg.text()))
      page.problems.push('console error: ' + msg.text());
  });
  await page.goto(url);
  return page;
}

// Wait until the page's upload of `path` is in `state` (done, error, paused, uploading).
export async function waitState(page, path, state, ms = LIMIT) {
  await page.waitForFunction(
    ([p, s]) => window.sluicePage && window.sluicePage.items.some((i) => i.path === p && i.state === s),
    [path, state],
    { timeout: ms, polling: 50 },
  );
}

// Wait until the page has sent at least `bytes` of `path`.
export async function waitSent(page, path, bytes) {
  await page.waitForFunction(
    ([p, b]) => window.sluicePage && window.sluicePage.items.some((i) => i.path === p && i.sent >= b),
    [path, bytes],
    { timeout: LIMIT, polling: 20 },
  );
}

export async function listing(url) {
  const res = await fetch(url + '/files/');
  if (!res.ok) throw new Error('GET /files/: ' + res.status);
  return (await res.json()).files;
}

export function cleanup(dir) {
  rmSync(dir, { recursive: true, force: true });
}

export function readText(path) {
  return readFileSync(path, 'utf8');
}
