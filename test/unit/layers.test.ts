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
