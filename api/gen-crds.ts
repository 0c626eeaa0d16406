// `npm run gen`: writes crds/ from the schemas in api/. A unit test fails when crds/ is stale.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateCrdFiles } from './crds.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'crds');
mkdirSync(dir, { recursive: true });
const files = generateCrdFiles();
for (const existing of readdirSync(dir)) {
  if (!files.has(existing)) rmSync(join(dir, existing));
}
for (const [name, content] of files) writeFileSync(join(dir, name), content);
console.log(`wrote ${files.size} files to crds/`);
