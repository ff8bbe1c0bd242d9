// The upload page against curl -T, same server, same file, same run (docs/BENCHMARKS.md):
//   node tests/browser/bench.mjs [SIZE_MIB [ROUNDS [CHUNKS]]]     e.g. 1024 3 64,all
// Each round uploads the file once with `curl -T` (PUT /files/) and once through the page in
// headless Chromium per chunk size (tus, one file, PATCHes of CHUNK MiB; "all": one PATCH),
// alternating, deleting each stored file before the next. Times: curl from start to exit (201:
// committed); the page from the upload's start to the answer of its last PATCH (committed).
// CPU-seconds per GiB, from /proc: the server's, and the client's (curl's; the page's is every
// process under this one but the server: Chromium's browser, renderer, GPU and network processes).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
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
const cpu = { curl: [], sluice: {} };

// utime + stime (+ those of reaped children) of a process, in seconds; 0 once it is gone.
function cpuOf(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return 0;
  }
}
// What kind of Chromium process `pid` is: its --type (and utility sub-type), "browser" without.
function kindOf(pid) {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/);
    const arg = (name) => (argv.find((a) => a.startsWith(`--${name}=`)) || '').split('=')[1];
    return [arg('type') || 'browser', arg('utility-sub-type')].filter(Boolean).join(' ');
  } catch {
    return 'gone';
  }
}
// The CPU of every process below `pid` (not itself), leaving out the subtree of `skip`; with
// `kinds`, each process's CPU is also added to kinds[its kind].
function treeCpu(pid, skip, kinds) {
  const kids = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch {}
  }
  let sum = 0;
  const walk = (p) => {
    for (const k of kids.get(p) || []) {
      if (k === skip) continue;
      const c = cpuOf(k);
      sum += c;
      if (kinds) {
        const kind = kindOf(k);
        kinds[kind] = (kinds[kind] || 0) + c;
      }
      walk(k);
    }
  };
  walk(pid);
  return sum;
}
const perGiB = (s) => s / (f.size / 2 ** 30);

try {
  for (let round = 0; round < rounds; round++) {
    const t0 = process.hrtime.bigint(), s0 = cpuOf(srv.proc.pid);
    const r = spawnSync('/usr/bin/time', ['-f', '%U %S', 'curl', '-sS', '-f', '-o', '/dev/null', '-T', f.path,
      `${srv.url}/files/curl.bin`]);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    (cpu.sluice.curl ||= []).push(perGiB(cpuOf(srv.proc.pid) - s0));
    cpu.curl.push(perGiB(String(r.stderr).trim().split(/\s+/).slice(-2).reduce((a, x) => a + Number(x), 0)));
    if (r.status !== 0) throw new Error('curl: ' + r.stderr);
    if ((await h.sha256File(join(root, 'curl.bin'))) !== f.sha256) throw new Error('curl: wrong bytes');
    unlinkSync(join(root, 'curl.bin'));
    results.curl.push(mbps(secs));
    for (const c of chunks) {
      const page = await h.openPage(browser, `${srv.url}/?chunk=${c}&parallel=1`);
      const k0 = {}, k1 = {};
      const c0 = treeCpu(process.pid, srv.proc.pid, k0), s0 = cpuOf(srv.proc.pid);
      await page.setInputFiles('#pick-files', f.path);
      await h.waitState(page, 'bench.bin', 'done', 600_000);
      (cpu['page, chunk ' + c] ||= []).push(perGiB(treeCpu(process.pid, srv.proc.pid, k1) - c0));
      const split = Object.keys(k1).map((k) => `${k} ${perGiB(k1[k] - (k0[k] || 0)).toFixed(2)}`);
      console.error(`round ${round + 1}, chunk ${c}: client CPU-s per GiB by process: ${split.join(', ')}`);
      (cpu.sluice['page, chunk ' + c] ||= []).push(perGiB(cpuOf(srv.proc.pid) - s0));
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
console.log(`| client (${sizeMiB} MiB, ${rounds} rounds, alternated) | MB/s per round | median | vs curl | client CPU-s/GiB | server CPU-s/GiB |`);
console.log('|---|---|---|---|---|---|');
for (const [k, v] of Object.entries(results))
  console.log(`| ${k} | ${v.map((x) => x.toFixed(0)).join(', ')} | ${median(v).toFixed(0)} | ${(median(v) / curl).toFixed(2)}× | ${median(cpu[k]).toFixed(2)} | ${median(cpu.sluice[k]).toFixed(2)} |`);
