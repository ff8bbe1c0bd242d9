// Bundle the upload page: node build.mjs OUTDIR. Scripts and styles get content-hashed names
// (sluice serves them as immutable), index.html names them and is revalidated on every visit.
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error('usage: node build.mjs OUTDIR');
  process.exit(2);
}
mkdirSync(out, { recursive: true });
for (const f of readdirSync(out)) rmSync(join(out, f), { recursive: true, force: true });

const result = await esbuild.build({
  entryPoints: { app: join(here, 'src/app.js'), style: join(here, 'src/style.css') },
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome100', 'firefox100', 'safari15'],
  entryNames: '[name]-[hash]',
  outdir: out,
  metafile: true,
  legalComments: 'eof', // the licences of what is bundled stay with it
  logLevel: 'warning',
});
const names = {};
for (const [file, info] of Object.entries(result.metafile.outputs)) {
  if (!info.entryPoint) continue;
  const ext = file.endsWith('.css') ? 'css' : 'js';
  names[basename(info.entryPoint).replace(/\.(js|css)$/, '') + '.' + ext] = basename(file);
}
let html = readFileSync(join(here, 'src/index.html'), 'utf8');
html = html.replace(/\{\{(app\.js|style\.css)\}\}/g, (_, k) => {
  if (!names[k]) throw new Error('no bundle for ' + k);
  return names[k];
});
writeFileSync(join(out, 'index.html'), html);
