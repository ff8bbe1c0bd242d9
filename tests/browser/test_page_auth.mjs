// The upload page on a server with access control (--sign-key and --token-file; docs/security.md,
// "The upload page"), in Debian's Chromium driven by playwright-core. Run by CTest
// (browser_page_auth).
//
// - opened with a link made by `sluice sign --page /`: the page uploads with tus through the
//   grant (the creation signed by the link, PATCH and HEAD through the signed Location), paused and
//   resumed, to a byte-identical file; the listing and delete are not shown;
// - opened with an expired link, or one whose signature was altered: the refusal is said in words,
//   nothing is stored;
// - opened without a link: the upload is refused with a message saying what is needed; a pasted
//   token (write and list, no delete) then uploads, shows the listing, and a refused delete takes
//   the Delete buttons away.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as h from './lib.mjs';

const TOKEN = 'page-test-token-' + randomBytes(12).toString('hex');
let browser;

before(async () => {
  browser = await h.launch();
});
after(async () => {
  await browser.close();
});

async function setup(t) {
  const dir = h.tempDir('auth');
  for (const d of ['root', 'src']) mkdirSync(join(dir, d));
  const key = randomBytes(48).toString('base64');
  writeFileSync(join(dir, 'sign.key'), key + '\n', { mode: 0o600 });
  writeFileSync(join(dir, 'tokens'), `${TOKEN} write,list\n`, { mode: 0o600 });
  const root = join(dir, 'root');
  const srv = await h.startServer(root, ['--sign-key', join(dir, 'sign.key'), '--token-file', join(dir, 'tokens')]);
  const ctx = { dir, root, src: join(dir, 'src'), srv, key: join(dir, 'sign.key'), keyText: key };
  t.after(async () => {
    if (ctx.proxy) await ctx.proxy.close();
    await h.stopServer(ctx.srv);
    h.cleanup(dir);
  });
  return ctx;
}

// The signature docs/security.md gives, computed here: for links sluice sign will not make.
function sign(key, method, path, expires, max) {
  const msg = `sluice-v1\n${method}\n${path}\n${expires}\n${max == null ? '' : max}\n`;
  return createHmac('sha256', key).update(msg).digest('hex');
}

const stored = (root) => readdirSync(root).filter((n) => n !== '.sluice');
const note = (page) => page.locator('#access-note');
const itemAlert = (page, name) => page.locator(`li.item[data-path="${name}"] [role="alert"]`);

function assertClean(page) {
  assert.deepEqual(page.problems, [], 'no third-party request, no script error');
}

test('a signed page link: upload through the grant, paused and resumed (HEAD), byte-identical; no listing, no delete', async (t) => {
  const ctx = await setup(t);
  const link = execFileSync(h.BIN, ['sign', '--key', ctx.key, '--page', '/', '--expires', '3600', '--max-size', '64M'], {
    encoding: 'utf8',
  }).trim();
  assert.match(link, /^\/\?sl-expires=\d+&sl-max=67108864&sl-sig=[0-9a-f]{64}$/);
  const f = await h.randomFile(ctx.src, 'granted.bin', 12 * h.MiB);
  ctx.proxy = await h.startProxy(ctx.srv.port);
  ctx.proxy.rate = 8 * h.MiB; // bytes per second: slow enough to pause mid-way
  const page = await h.openPage(browser, ctx.proxy.url + link + '&chunk=2');
  const seen = [];
  page.on('response', (res) => seen.push([res.request().method(), new URL(res.url()), res.status()]));
  await note(page).getByText(/This link lets you send files of up to 64\.0 MiB each until/).waitFor({ timeout: h.LIMIT });
  await page.locator('#stored').waitFor({ state: 'hidden', timeout: h.LIMIT });
  assert.ok(await page.locator('#token-form').isHidden(), 'no token asked for with a link');

  await page.setInputFiles('#pick-files', f.path);
  await h.waitSent(page, 'granted.bin', 3 * h.MiB);
  await page.getByRole('button', { name: 'Pause granted.bin' }).click();
  await h.waitState(page, 'granted.bin', 'paused');
  const sentAtPause = ctx.proxy.up;
  ctx.proxy.rate = 0;
  await page.getByRole('button', { name: 'Resume granted.bin' }).click();
  await h.waitState(page, 'granted.bin', 'done');
  assert.equal(await h.sha256File(join(ctx.root, 'granted.bin')), f.sha256);
  assert.ok(ctx.proxy.up - sentAtPause < f.size - 2 * h.MiB, 'resumed, not restarted');

  const tus = seen.filter(([, u]) => u.pathname.startsWith('/uploads/'));
  const create = tus.filter(([m]) => m === 'POST');
  assert.equal(create.length, 1, 'one creation');
  assert.equal(create[0][2], 201);
  assert.equal(create[0][1].search, link.slice(1), "the creation carries the link's grant unchanged");
  const patches = tus.filter(([m]) => m === 'PATCH');
  assert.ok(patches.length >= 2, `several PATCHes (${patches.length})`);
  const heads = tus.filter(([m]) => m === 'HEAD');
  assert.ok(heads.length >= 1, 'the resume asked the offset');
  for (const [m, u, st] of [...patches, ...heads]) {
    assert.match(u.pathname, /^\/uploads\/[0-9a-f]{32}$/);
    assert.ok(u.searchParams.get('sl-sig'), `${m} through the signed Location`);
    assert.ok(st === 204 || st === 200, `${m} ${st}`);
  }
  // The page asks for nothing it may not have: the listing was refused once, then hidden.
  assert.ok(await page.locator('button.delete').count() === 0, 'no Delete button');
  assertClean(page);
});

test('an expired link and an altered one: the refusal is said in words, nothing stored', async (t) => {
  const ctx = await setup(t);
  const f = await h.randomFile(ctx.src, 'late.bin', 50_000);
  const past = Math.floor(Date.now() / 1000) - 120;
  const expired = `/?sl-expires=${past}&sl-sig=${sign(ctx.keyText, 'POST', '/uploads/', past)}`;
  let page = await h.openPage(browser, ctx.srv.url + expired);
  await note(page).getByText(/This upload link expired on .*Ask whoever sent it for a new one/).waitFor({ timeout: h.LIMIT });
  assert.equal(await note(page).getAttribute('role'), 'alert');
  await page.setInputFiles('#pick-files', f.path);
  await h.waitState(page, 'late.bin', 'error');
  assert.match(await itemAlert(page, 'late.bin').textContent(), /The upload link expired on .*\(HTTP 403\)/);
  assertClean(page);
  await page.context().close();

  const future = Math.floor(Date.now() / 1000) + 3600;
  const good = sign(ctx.keyText, 'POST', '/uploads/', future);
  const altered = `/?sl-expires=${future}&sl-sig=${(good[0] === '0' ? '1' : '0') + good.slice(1)}`;
  page = await h.openPage(browser, ctx.srv.url + altered);
  await page.setInputFiles('#pick-files', f.path);
  await h.waitState(page, 'late.bin', 'error');
  assert.match(await itemAlert(page, 'late.bin').textContent(), /The upload link was refused: it is not valid for this upload \(HTTP 403\)/);
  assert.deepEqual(stored(ctx.root), [], 'nothing stored');
  assertClean(page);
});

test('no link: refused with a message; a pasted token uploads, lists, and a refused delete hides Delete', async (t) => {
  const ctx = await setup(t);
  const f = await h.randomFile(ctx.src, 'plain.bin', 80_000);
  const page = await h.openPage(browser, ctx.srv.url + '/');
  await note(page).getByText(/takes files only through an upload link or with an access token/).waitFor({ timeout: h.LIMIT });
  assert.ok(await page.locator('#stored').isHidden(), 'no listing without a right to it');
  await page.setInputFiles('#pick-files', f.path);
  await h.waitState(page, 'plain.bin', 'error');
  assert.match(await itemAlert(page, 'plain.bin').textContent(), /only through an upload link or with an access token \(HTTP 401\)/);
  assert.deepEqual(stored(ctx.root), []);

  await page.getByLabel('Access token').fill(TOKEN);
  await page.getByRole('button', { name: 'Use token' }).click();
  await page.locator('#stored').waitFor({ state: 'visible', timeout: h.LIMIT });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('sluice-token')), TOKEN);
  await page.getByRole('button', { name: 'Retry plain.bin' }).click();
  await h.waitState(page, 'plain.bin', 'done');
  assert.equal(await h.sha256File(join(ctx.root, 'plain.bin')), f.sha256);
  const row = page.locator('tr[data-name="plain.bin"]');
  await row.waitFor({ timeout: h.LIMIT });
  page.once('dialog', (d) => d.accept());
  await row.getByRole('button', { name: 'Delete plain.bin' }).click();
  await page.locator('#list-status').getByText(/cannot be deleted with this token \(HTTP 403\)/).waitFor({ timeout: h.LIMIT });
  assert.equal(await page.locator('button.delete').count(), 0, 'Delete buttons gone');
  assert.ok(existsSync(join(ctx.root, 'plain.bin')), 'still stored');
  await page.getByRole('button', { name: 'Forget it' }).click();
  await page.locator('#stored').waitFor({ state: 'hidden', timeout: h.LIMIT });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('sluice-token')), null);
  assertClean(page);
});
