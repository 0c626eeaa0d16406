// The validator is total: thousands of random mutations of the example documents (wrong types,
// deleted fields, garbage values, broken bytes) are all reported, never thrown.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parseAllDocuments, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { validateAndRender } from './index.js';
import type { SourceFile } from './load.js';
import { emptyCatalogue } from './catalogue.js';

const examples = join(dirname(fileURLToPath(import.meta.url)), '../examples/gitrepo');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : n.endsWith('.yaml') ? [p] : [];
  });
}

const texts = walk(examples).map((p) => ({ path: relative(examples, p), text: readFileSync(p, 'utf8') }));
const docs: unknown[] = texts.flatMap((t) => parseAllDocuments(t.text).map((d) => d.toJS()));
const enc = new TextEncoder();

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const garbage: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, true, false, 0, -1, 1.5, 1e300, -0, '', ' ', '\n', '100%', '0%', '150%', '-5%', '..', '/etc/passwd', 'x'.repeat(300), 'Europe/Nowhere', '0 0 * *', '99h', '0s', '-1h', '\u0000', 'ä€😀', '{}', '[]', '*a', '&a', '!!binary', 'https://', 'ftp://x'),
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.array(fc.oneof(fc.integer(), fc.string()), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.integer(), fc.string(), fc.constant(null)), { maxKeys: 3 }),
);

/** Every path (list of keys / indexes) inside a value. */
function paths(v: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

type Op = { kind: 'replace' | 'delete' | 'rename' | 'wrap'; pick: number; value: Json; name: string };

function mutate(doc: unknown, ops: Op[]): unknown {
  let d = structuredClone(doc);
  for (const op of ops) {
    const all = paths(d);
    const path = all[op.pick % all.length]!;
    if (path.length === 0) {
      d = op.kind === 'replace' ? op.value : d;
      continue;
    }
    let parent = d as Record<string | number, unknown>;
    for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
    const last = path[path.length - 1]!;
    if (op.kind === 'replace') parent[last] = op.value;
    else if (op.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else if (op.kind === 'rename' && !Array.isArray(parent)) {
      parent[op.name] = parent[last];
      delete parent[last];
    } else if (op.kind === 'wrap') parent[last] = [parent[last]];
  }
  return d;
}

function check(files: SourceFile[]): void {
  const r = validateAndRender(files, { partial: true, catalogue: emptyCatalogue() });
  for (const d of [...r.errors, ...r.warnings]) {
    expect(d.message).not.toMatch(/internal error/);
    expect(d.message).not.toMatch(/\n/);
    expect(d.line).toBeGreaterThanOrEqual(1);
    expect(d.col).toBeGreaterThanOrEqual(1);
  }
}

describe('validator totality', () => {
  it('reports and never throws on structurally mutated documents (2,000 runs)', { timeout: 300_000 }, () => {
    const op = fc.record({
      kind: fc.constantFrom<Op['kind']>('replace', 'delete', 'rename', 'wrap'),
      pick: fc.nat(),
      value: garbage,
      name: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('spec', 'kind', 'metadata', 'name', 'sysctl', 'batches', '__proto__', 'constructor')),
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(docs.length - 1), fc.array(op, { minLength: 1, maxLength: 4 })), { minLength: 1, maxLength: 3 }), (edits) => {
        const mutated = docs.map((d) => d);
        for (const [i, ops] of edits) mutated[i] = mutate(mutated[i], ops);
        const text = mutated.map((d) => stringify(d)).join('---\n');
        check([{ path: 'mutated.yaml', bytes: enc.encode(text) }]);
      }),
      { numRuns: 2000 },
    );
  });

  it('reports and never throws on byte-level garbage in the example files (1,000 runs)', { timeout: 300_000 }, () => {
    fc.assert(
      fc.property(fc.nat(texts.length - 1), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 12 }), fc.boolean(), (fi, at, junk, truncate) => {
        const bytes = enc.encode(texts[fi]!.text);
        const pos = at % bytes.length;
        const mutated = truncate ? bytes.slice(0, pos) : new Uint8Array([...bytes.slice(0, pos), ...junk, ...bytes.slice(pos)]);
        const files = texts.map((t, i) => ({ path: t.path, bytes: i === fi ? mutated : enc.encode(t.text) }));
        check(files);
      }),
      { numRuns: 1000 },
    );
  });
});
