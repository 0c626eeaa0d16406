#!/usr/bin/env node
// Replaces a compiled api/client-node.js (a list of re-exports from @kubernetes/client-node) with a
// tree-shaken bundle of exactly those names, and writes the notices of every package bundled into
// it beside it (client-node.js.LICENSES.txt). Run by `npm run build` on dist/, and by the benchmarks
// on their own compiled copy, so that what they measure is what ships.
//
//   node hack/bundle-client-node.mjs [dist/api/client-node.js]
//
// Why: the package's index loads every generated API group and model (about 60 MiB of RSS on
// Node 24); the bundle of what osfleet uses loads in about 30 (see api/client-node.ts).
import { build } from 'esbuild';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const target = resolve(process.argv[2] ?? 'dist/api/client-node.js');
const source = readFileSync(target, 'utf8');
if (!/from ['"]@kubernetes\/client-node['"]/.test(source)) {
  // Already a bundle (a second run on the same output) or not the shim at all: say which.
  if (source.includes('osfleet: bundled @kubernetes/client-node')) process.exit(0);
  console.error(`${target}: expected re-exports from @kubernetes/client-node (the compiled api/client-node.ts)`);
  process.exit(1);
}

const result = await build({
  entryPoints: [target],
  outfile: target,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  // The syntax target follows engines (Node 20.20.2), though only the CLI's offline commands run there
  // and they never load this module (client-node 2 itself needs Node 22).
  target: 'node20',
  metafile: true,
  // The package is a dev dependency (only the bundle ships): when the file sits outside this
  // checkout (a production-only tree being assembled), resolve it from this checkout's packages.
  nodePaths: [join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules')],
  legalComments: 'none',
  logLevel: 'warning',
  // CommonJS dependencies inside an ES module still call require() for Node's built-ins.
  banner: {
    js: [
      '// osfleet: bundled @kubernetes/client-node (hack/bundle-client-node.mjs); notices in client-node.js.LICENSES.txt',
      "import { createRequire as __osfleetCreateRequire } from 'node:module';",
      'const require = __osfleetCreateRequire(import.meta.url);',
    ].join('\n'),
  },
});

// The notices: each package whose code is in the bundle, with its licence text.
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  if (resolve(input) === target) continue; // the shim itself (which may sit under node_modules/.cache)
  const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (!m) continue;
  const dir = resolve(m[1]);
  if (packages.has(dir)) continue;
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const licenceFile = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\..*)?$/i.test(f));
  packages.set(dir, {
    name: pkg.name,
    version: pkg.version,
    license: typeof pkg.license === 'string' ? pkg.license : JSON.stringify(pkg.license ?? 'UNKNOWN'),
    text: licenceFile ? readFileSync(join(dir, licenceFile), 'utf8').trim() : '(no licence file in the package)',
  });
}
const notices = [...packages.values()]
  .sort((a, b) => a.name.localeCompare(b.name))
  .map((p) => `${p.name}@${p.version} (${p.license})\n\n${p.text}\n`)
  .join(`\n${'-'.repeat(72)}\n\n`);
writeFileSync(
  `${target}.LICENSES.txt`,
  `Packages bundled into ${target.split('/').slice(-2).join('/')} by hack/bundle-client-node.mjs.\n\n${notices}`,
);
