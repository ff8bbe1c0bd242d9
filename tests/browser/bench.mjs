// The upload page against curl -T, same server, same file, same run (docs/BENCHMARKS.md):
//   node tests/browser/bench.mjs [SIZE_MIB [ROUNDS [CHUNKS]]]     e.g. 1024 3 64,all
// Each round uploads the file once with `curl -T` (PUT /files/) and once through the page in
// headless Chromium per chunk size (tus, one file, PATCHes of CHUNK MiB; "all": one PATCH),
// alternating, deleting each stored file before the next. Times: curl from start to exit (201:
// committed); the page from the upload's start to the answer of its last PATCH (committed).
import { spawnSync } from 'node:child_process';
import { rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import * as h from './lib.mjs';

const sizeMiB = Number(process.argv[2] || 1024);
const rounds = Number(process.argv[3] || 3);
const chunks = (process.argv[4] || '64').split(',');
const dir = h.tempDir('bench');
const root = join(dir, 'root');
spawnSync('mkdir', ['-p', root]);
const f = await h.randomFile(dir, 'bench.bin', sizeMiB * h.MiB);
const srv = await h.startServer(root);
const browser = await h.launch();
const results = { curl: [] };
for (const c of chunks) results['page, chunk ' + c] = [];
const mbps = (seconds) => f.size / 1e6 / seconds;

try {
  for (let round = 0; round < rounds; round++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('curl', ['-sS', '-f', '-o', '/dev/null', '-T', f.path, `${srv.url}/files/curl.bin`]);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error('curl: ' + r.stderr);
    if ((await h.sha256File(join(root, 'curl.bin'))) !== f.sha256) throw new Error('curl: wrong bytes');
    unlinkSync(join(root, 'curl.bin'));
    results.curl.push(mbps(secs));
    for (const c of chunks) {
      const page = await h.openPage(browser, `${srv.url}/?chunk=${c}&parallel=1`);
      await page.setInputFiles('#pick-files', f.path);
      await h.waitState(page, 'bench.bin', 'done', 600_000);
      const ms = await page.evaluate(() => window.sluicePage.items[0].finishedAt - window.sluicePage.items[0].startedAt);
      await page.context().close();
      if ((await h.sha256File(join(root, 'bench.bin'))) !== f.sha256) throw new Error('page: wrong bytes');
      unlinkSync(join(root, 'bench.bin'));
      results['page, chunk ' + c].push(mbps(ms / 1000));
    }
  }
} finally {
  await browser.close();
  await h.stopServer(srv);
  rmSync(dir, { recursive: true, force: true });
}
const median = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
const curl = median(results.curl);
console.log(`| client (${sizeMiB} MiB, ${rounds} rounds, alternated) | MB/s per round | median | vs curl |`);
console.log('|---|---|---|---|');
for (const [k, v] of Object.entries(results))
  console.log(`| ${k} | ${v.map((x) => x.toFixed(0)).join(', ')} | ${median(v).toFixed(0)} | ${(median(v) / curl).toFixed(2)}× |`);
