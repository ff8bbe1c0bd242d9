// The upload page in a real browser: Debian's Chromium, headless, driven by playwright-core,
// against the real sluice binary (through a TCP proxy the test controls where a test needs to cut,
// slow down or restart). Run by CTest (browser_page); SCREENSHOTS=DIR also saves the pictures of
// the README there.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as h from './lib.mjs';

const SHOTS = process.env.SCREENSHOTS || '';
let browser;

before(async () => {
  browser = await h.launch();
});
after(async () => {
  await browser.close();
});

async function shot(page, name) {
  if (SHOTS) {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, name), fullPage: true });
  }
}

// A server on a fresh root (and a scratch directory for the files the browser sends).
async function setup(t, args = []) {
  const dir = h.tempDir('t');
  mkdirSync(join(dir, 'root'));
  mkdirSync(join(dir, 'src'));
  const ctx = { dir, root: join(dir, 'root'), src: join(dir, 'src'), srv: await h.startServer(join(dir, 'root'), args) };
  t.after(async () => {
    if (ctx.proxy) await ctx.proxy.close();
    await h.stopServer(ctx.srv);
    h.cleanup(dir);
  });
  return ctx;
}

function assertClean(page) {
  assert.deepEqual(page.problems, [], 'no third-party request, no script error');
}

test('the page: served with its headers, no third-party request, a small upload with its link, size and SHA-256', async (t) => {
  const ctx = await setup(t);
  const res = await fetch(ctx.srv.url + '/');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-security-policy'), /default-src 'none'; script-src 'self'/);
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  const html = await res.text();
  const js = /src="(ui\/app-[A-Z0-9]+\.js)"/.exec(html)[1];
  const asset = await fetch(`${ctx.srv.url}/${js}`);
  assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(asset.headers.get('content-type'), 'text/javascript; charset=utf-8');

  const page = await h.openPage(browser, ctx.srv.url + '/');
  const f = await h.randomFile(ctx.src, 'hello.bin', 100_000);
  await page.setInputFiles('#pick-files', f.path);
  await h.waitState(page, 'hello.bin', 'done');
  const result = page.locator('li.item[data-path="hello.bin"] .result');
  await result.locator('code.sha').waitFor({ timeout: h.LIMIT });
  assert.equal(await result.locator('code.sha').textContent(), f.sha256);
  assert.match(await result.textContent(), /100000 bytes/);
  assert.equal(await result.locator('a').getAttribute('href'), ctx.srv.url + '/files/hello.bin');
  assert.equal(await h.sha256File(join(ctx.root, 'hello.bin')), f.sha256);
  assert.ok(await page.locator('li.item[data-path="hello.bin"] .actions').isHidden(), 'no pause or cancel once done');
  assertClean(page);
});

test('200 MiB through the page, the connection cut and the server restarted mid-way: resumed, byte-identical', async (t) => {
  const ctx = await setup(t);
  const size = 200 * h.MiB;
  const f = await h.randomFile(ctx.src, 'big.bin', size);
  ctx.proxy = await h.startProxy(ctx.srv.port);
  // 16 MiB PATCHes: several complete (and are durable) before the cut.
  const page = await h.openPage(browser, ctx.proxy.url + '/?chunk=16');
  await page.setInputFiles('#pick-files', f.path);
  await ctx.proxy.after(90 * h.MiB);
  ctx.proxy.hold(); // nothing more reaches the server: the cut is mid-way, whatever the speed
  const sentBeforeCut = ctx.proxy.up;
  await h.stopServer(ctx.srv, 'SIGKILL');
  ctx.srv = await h.startServer(ctx.root);
  ctx.proxy.target = ctx.srv.port;
  ctx.proxy.cut();
  ctx.proxy.release();
  await h.waitState(page, 'big.bin', 'done', 120_000);
  assert.equal(await h.sha256File(join(ctx.root, 'big.bin')), f.sha256);
  const resent = ctx.proxy.up - sentBeforeCut;
  assert.ok(resent < size - 32 * h.MiB, `resumed from the server's offset, not from 0 (${resent} bytes after the cut)`);
  await shot(page, 'ui-resumed.png');
  assertClean(page);
});

test('a folder of nested files keeps its structure in the stored names', async (t) => {
  const ctx = await setup(t);
  const tree = join(ctx.src, 'tree');
  mkdirSync(join(tree, 'sub', 'deeper'), { recursive: true });
  const files = { 'tree/a.txt': 'alpha\n', 'tree/sub/b.txt': 'beta\n', 'tree/sub/deeper/c.txt': 'gamma\n' };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(ctx.src, name), body);
  const page = await h.openPage(browser, ctx.srv.url + '/');
  await page.setInputFiles('#pick-folder', tree);
  for (const name of Object.keys(files)) await h.waitState(page, name, 'done');
  for (const [name, body] of Object.entries(files)) assert.equal(readFileSync(join(ctx.root, name), 'utf8'), body);
  const listed = (await h.listing(ctx.srv.url)).map((e) => e.name).sort();
  assert.deepEqual(listed, Object.keys(files).sort());
  await page.locator('tr[data-name="tree/sub/deeper/c.txt"]').waitFor({ timeout: h.LIMIT });
  assertClean(page);
});

test('pause and resume: the upload continues from where it stopped', async (t) => {
  const ctx = await setup(t);
  const f = await h.randomFile(ctx.src, 'paused.bin', 24 * h.MiB);
  ctx.proxy = await h.startProxy(ctx.srv.port);
  ctx.proxy.rate = 16 * h.MiB; // bytes per second: slow enough to pause mid-way
  const page = await h.openPage(browser, ctx.proxy.url + '/?chunk=4');
  await page.setInputFiles('#pick-files', f.path);
  await h.waitSent(page, 'paused.bin', 6 * h.MiB);
  await shot(page, 'ui-uploading.png');
  await page.getByRole('button', { name: 'Pause paused.bin' }).click();
  await h.waitState(page, 'paused.bin', 'paused');
  await shot(page, 'ui-paused.png');
  const sentAtPause = ctx.proxy.up;
  assert.equal((await h.listing(ctx.srv.url)).length, 0, 'nothing stored while paused');
  ctx.proxy.rate = 0;
  await page.getByRole('button', { name: 'Resume paused.bin' }).click();
  await h.waitState(page, 'paused.bin', 'done');
  assert.equal(await h.sha256File(join(ctx.root, 'paused.bin')), f.sha256);
  assert.ok(ctx.proxy.up - sentAtPause < f.size - 4 * h.MiB, 'resumed, not restarted');
  assertClean(page);
});

test('a reload mid-way: the page offers the unfinished upload, and the same file resumes it', async (t) => {
  const ctx = await setup(t);
  const f = await h.randomFile(ctx.src, 'reload.bin', 24 * h.MiB);
  ctx.proxy = await h.startProxy(ctx.srv.port);
  ctx.proxy.rate = 16 * h.MiB;
  const page = await h.openPage(browser, ctx.proxy.url + '/?chunk=4');
  await page.setInputFiles('#pick-files', f.path);
  await h.waitSent(page, 'reload.bin', 10 * h.MiB);
  await page.reload();
  const unfinished = page.locator('#unfinished');
  await unfinished.getByText('reload.bin').waitFor({ timeout: h.LIMIT });
  await unfinished.getByText(/MiB of 24\.0 MiB sent/).waitFor({ timeout: h.LIMIT });
  const sentAtReload = ctx.proxy.up;
  ctx.proxy.rate = 0;
  await page.setInputFiles('#pick-files', f.path);
  await h.waitState(page, 'reload.bin', 'done');
  assert.ok(await page.evaluate(() => window.sluicePage.items[0].resumed), 'resumed from the stored upload');
  assert.equal(await h.sha256File(join(ctx.root, 'reload.bin')), f.sha256);
  assert.ok(ctx.proxy.up - sentAtReload < f.size - 4 * h.MiB, 'resumed, not restarted');
  assert.ok(await unfinished.isHidden(), 'no unfinished upload left');
  assertClean(page);
});

test('the listing: sizes, digests, a download, a delete', async (t) => {
  const ctx = await setup(t);
  const a = await h.randomFile(ctx.src, 'report.pdf', 300_000);
  const b = await h.randomFile(ctx.src, 'notes.txt', 1234);
  const page = await h.openPage(browser, ctx.srv.url + '/');
  await page.setInputFiles('#pick-files', [a.path, b.path]);
  await h.waitState(page, 'report.pdf', 'done');
  await h.waitState(page, 'notes.txt', 'done');
  const row = page.locator('tr[data-name="report.pdf"]');
  await row.locator('code.sha').waitFor({ timeout: h.LIMIT });
  assert.equal(await row.locator('code.sha').getAttribute('title'), a.sha256);
  assert.match(await row.textContent(), /293 KiB/);
  await shot(page, 'ui-done.png');
  const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('link', { name: 'report.pdf' }).click()]);
  const saved = join(ctx.dir, 'downloaded');
  await download.saveAs(saved);
  assert.equal(await h.sha256File(saved), a.sha256);
  page.once('dialog', (d) => d.accept());
  await page.locator('tr[data-name="notes.txt"]').getByRole('button', { name: 'Delete notes.txt' }).click();
  await page.locator('tr[data-name="notes.txt"]').waitFor({ state: 'detached', timeout: h.LIMIT });
  assert.deepEqual((await h.listing(ctx.srv.url)).map((e) => e.name), ['report.pdf']);
  assertClean(page);
});

test('refused uploads are shown as a clear message: a hook says no (403), too large (413)', async (t) => {
  const hooks = h.tempDir('hooks');
  t.after(() => h.cleanup(hooks));
  writeFileSync(join(hooks, 'request'), '#!/bin/sh\ncat >/dev/null\necho "uploads are closed today" >&2\nexit 1\n');
  chmodSync(join(hooks, 'request'), 0o755);
  const ctx = await setup(t, ['--hook-exec', hooks]);
  const f = await h.randomFile(ctx.src, 'no.bin', 5000);
  let page = await h.openPage(browser, ctx.srv.url + '/');
  await page.setInputFiles('#pick-files', f.path);
  await h.waitState(page, 'no.bin', 'error');
  const alert = page.locator('li.item[data-path="no.bin"] [role="alert"]');
  assert.match(await alert.textContent(), /The server refused this upload.*\(HTTP 403\)/);
  await page.context().close();

  const small = await setup(t, ['--max-size', '1K']);
  page = await h.openPage(browser, small.srv.url + '/');
  await page.setInputFiles('#pick-files', f.path);
  await h.waitState(page, 'no.bin', 'error');
  assert.match(await page.locator('li.item[data-path="no.bin"] [role="alert"]').textContent(), /Too large for this server.*\(HTTP 413\)/);
  await shot(page, 'ui-refused.png');
  assert.equal((await h.listing(small.srv.url)).length, 0);
  assertClean(page);
});

test('under --mount /api/upload/: the page, an upload, the listing, a download link', async (t) => {
  const ctx = await setup(t, ['--mount', '/api/upload/']);
  const nope = await fetch(ctx.srv.url + '/');
  assert.equal(nope.status, 404, 'nothing outside the mount');
  const page = await h.openPage(browser, ctx.srv.url + '/api/upload'); // redirected to the slash
  assert.equal(page.url(), ctx.srv.url + '/api/upload/');
  const f = await h.randomFile(ctx.src, 'mounted.bin', 70_000);
  await page.setInputFiles('#pick-files', f.path);
  await h.waitState(page, 'mounted.bin', 'done');
  const link = page.locator('tr[data-name="mounted.bin"] a');
  await link.waitFor({ timeout: h.LIMIT });
  const href = await link.getAttribute('href');
  assert.equal(href, ctx.srv.url + '/api/upload/files/mounted.bin');
  const got = Buffer.from(await (await fetch(href)).arrayBuffer());
  assert.equal(h.sha256(got), f.sha256);
  assertClean(page);
});

test('on a phone-sized screen', async (t) => {
  const ctx = await setup(t);
  const f = await h.randomFile(ctx.src, 'phone.jpg', 40_000);
  const page = await h.openPage(browser, ctx.srv.url + '/', { width: 390, height: 844 });
  await page.setInputFiles('#pick-files', f.path);
  await h.waitState(page, 'phone.jpg', 'done');
  await page.locator('tr[data-name="phone.jpg"] code.sha').waitFor({ timeout: h.LIMIT });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling (${width} px)`);
  await shot(page, 'ui-phone.png');
  assertClean(page);
});

test('--no-ui: GET / is not the page', async (t) => {
  const ctx = await setup(t, ['--no-ui']);
  assert.equal((await fetch(ctx.srv.url + '/')).status, 404);
  assert.equal((await fetch(ctx.srv.url + '/files/')).status, 200);
});
