import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { crdFor, generateCrdFiles, toStructural } from './crds.js';
import { RESOURCES } from './resources.js';
import { Type } from '@sinclair/typebox';
import { IntOrPercent } from './common.js';

const crdDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'crds');

describe('generated CRDs', () => {
  it('match the committed crds/ byte for byte (run `npm run gen` after changing api/)', () => {
    const generated = generateCrdFiles();
    expect(readdirSync(crdDir).sort()).toEqual([...generated.keys()].sort());
    for (const [name, content] of generated) {
      expect(readFileSync(join(crdDir, name), 'utf8'), `crds/${name} is stale`).toBe(content);
    }
  });

  it('are cluster-scoped with a status subresource and printer columns', () => {
    for (const def of RESOURCES) {
      const crd = crdFor(def) as any;
      expect(crd.spec.scope).toBe('Cluster');
      expect(crd.spec.versions[0].subresources).toEqual({ status: {} });
      expect(crd.spec.versions[0].additionalPrinterColumns.length).toBeGreaterThan(2);
    }
  });

  it('contain no constructs a structural schema forbids', () => {
    const walk = (s: any, path: string) => {
      expect(s.anyOf, `${path} has anyOf`).toBeUndefined();
      expect(s.const, `${path} has const`).toBeUndefined();
      expect(s.patternProperties, `${path} has patternProperties`).toBeUndefined();
      expect(s.additionalProperties === false, `${path} has additionalProperties: false`).toBe(false);
      if (!s['x-kubernetes-int-or-string'] && !s['x-kubernetes-preserve-unknown-fields']) {
        expect(s.type, `${path} has no type`).toBeTypeOf('string');
      }
      for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${path}.${k}`);
      if (s.items) walk(s.items, `${path}[]`);
      if (typeof s.additionalProperties === 'object') walk(s.additionalProperties, `${path}{}`);
    };
    for (const def of RESOURCES) walk((crdFor(def) as any).spec.versions[0].schema.openAPIV3Schema, def.kind);
  });
});

describe('toStructural', () => {
  it('turns a union of string literals into an enum', () => {
    expect(toStructural(Type.Union([Type.Literal('a'), Type.Literal('b')]))).toEqual({ type: 'string', enum: ['a', 'b'] });
  });
  it('turns int-or-percent into x-kubernetes-int-or-string', () => {
    expect(toStructural(IntOrPercent({ description: 'd' }))).toEqual({ description: 'd', 'x-kubernetes-int-or-string': true });
  });
  it('turns a record into additionalProperties and drops additionalProperties: false', () => {
    const s = toStructural(Type.Object({ m: Type.Record(Type.String(), Type.String()) }, { additionalProperties: false }));
    expect(s).toEqual({ type: 'object', properties: { m: { type: 'object', additionalProperties: { type: 'string' } } }, required: ['m'] });
  });
});
