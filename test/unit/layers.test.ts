// The floors of the design: api → render and rollout (pure) → agent → controller → cli. A module may
// import from its own floor or below, never from above (the pure core never reaches into the controller).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FLOOR: Record<string, number> = { api: 0, render: 1, rollout: 1, agent: 2, controller: 3, cli: 4 };

function sources(dir: string): string[] {
  return readdirSync(join(repo, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !join(e.parentPath, e.name).includes('/testing/'))
    .map((e) => relative(repo, join(e.parentPath, e.name)));
}

describe('layers', () => {
  it('no production module imports from a floor above its own', () => {
    const wrong: string[] = [];
    for (const [top, floor] of Object.entries(FLOOR)) {
      for (const file of sources(top)) {
        const text = readFileSync(join(repo, file), 'utf8');
        for (const m of text.matchAll(/(?:from|import\()\s*'(\.[^']+)'/g)) {
          const target = relative(repo, resolve(repo, dirname(file), m[1]!)).split('/')[0]!;
          if ((FLOOR[target] ?? -1) > floor) wrong.push(`${file} imports ${m[1]}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('@kubernetes/client-node', () => {
  // The build bundles api/client-node.ts; a value imported from the package anywhere else would load
  // the whole package beside the bundle (tens of MiB more), and its classes would not be the bundle's.
  it('shipped modules take its values only through api/client-node.ts (types may come from the package)', () => {
    const wrong: string[] = [];
    const shipped = (JSON.parse(readFileSync(join(repo, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include;
    expect(shipped).toContain('controller');
    for (const top of shipped) {
      for (const file of sources(top)) {
        if (file === 'api/client-node.ts') continue;
        const text = readFileSync(join(repo, file), 'utf8');
        const statements = [
          ...text.matchAll(/(?:^|\n)\s*(import|export)\s+(?!type\s)[^;]*?from\s*'@kubernetes\/client-node'/g),
          ...text.matchAll(/import\(\s*'@kubernetes\/client-node'\s*\)/g),
        ];
        for (const m of statements) wrong.push(`${file}: ${m[0].trim().split('\n')[0]}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
