// Structural validation: walks a JSON schema (the TypeBox schemas of api/) against a parsed document,
// reporting every mismatch at the key or value it concerns. The schemas stay the one source of truth.
import { DNS1123_SUBDOMAIN, GO_DURATION, PERCENT, SHA256_HEX } from '../api/common.js';
import type { Diagnostic, Severity } from './diagnostics.js';
import { show } from './diagnostics.js';
import { keyPosition, scalarSource, valuePosition, type ParsedDocument, type Position } from './parse.js';
import { didYouMean } from '../api/suggest.js';

/** Where a value sits: its parent container and key (undefined parent = the document's top node). */
export interface Site {
  doc: ParsedDocument;
  parent: object | undefined;
  key: string | number | undefined;
}

export function valuePos(s: Site): Position {
  if (s.parent === undefined || s.key === undefined) return s.doc.start;
  const src = s.doc.sources.get(s.parent);
  return src ? valuePosition(src, s.key) : s.doc.start;
}

export function keyPos(s: Site): Position {
  if (s.parent === undefined || s.key === undefined) return s.doc.start;
  const src = s.doc.sources.get(s.parent);
  return src ? keyPosition(src, s.key) : s.doc.start;
}

/** Original text of a scalar value, when there is one. */
export function sourceText(s: Site): string | undefined {
  if (s.parent === undefined || s.key === undefined) return undefined;
  const src = s.doc.sources.get(s.parent);
  return src ? scalarSource(src, s.key) : undefined;
}

export function child(doc: ParsedDocument, parent: object, key: string | number): Site {
  return { doc, parent, key };
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `spec.image.sha256`, `spec.strategy.batches[2]`, `spec.sysctl["net.core.somaxconn"]`. */
const identCache = new Map<string, boolean>();

export function fieldPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  let ident = identCache.get(key);
  if (ident === undefined) {
    ident = IDENT.test(key);
    if (identCache.size < 10_000) identCache.set(key, ident);
  }
  if (ident) return base ? `${base}.${key}` : key;
  return `${base}[${JSON.stringify(key)}]`;
}

export type Emit = (severity: Severity, pos: Position, message: string) => void;

export function emitter(doc: ParsedDocument, out: Diagnostic[]): Emit {
  return (severity, pos, message) => out.push({ severity, path: doc.path, line: pos.line, col: pos.col, message });
}

type Schema = Record<string, unknown> & {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  patternProperties?: Record<string, Schema>;
  items?: Schema;
  anyOf?: Schema[];
  const?: unknown;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
};

const PATTERN_WORDS: Record<string, string> = {
  [DNS1123_SUBDOMAIN]: 'a DNS-1123 name: lowercase letters, digits, "-" and ".", starting and ending with a letter or digit',
  [GO_DURATION]: 'a duration such as 90s, 30m, 4h or 1h30m',
  [PERCENT]: 'a percent such as "10%"',
  [SHA256_HEX]: 'a sha256 digest: 64 lowercase hexadecimal characters',
};

const regexCache = new Map<string, RegExp>();
function regex(p: string): RegExp {
  let r = regexCache.get(p);
  if (!r) {
    r = new RegExp(p);
    regexCache.set(p, r);
  }
  return r;
}

/** What a schema accepts, in words. */
export function describe(s: Schema): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(', ');
  if (s.anyOf) {
    if (s.anyOf.every((a) => a.const !== undefined)) return `one of ${s.anyOf.map((a) => JSON.stringify(a.const)).join(', ')}`;
    return s.anyOf.map(describe).join(' or ');
  }
  switch (s.type) {
    case 'string':
      return s.pattern ? (PATTERN_WORDS[s.pattern] ?? `text matching /${s.pattern}/`) : 'a string';
    case 'integer':
      return 'a whole number';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'a list';
    case 'object':
      return 'a mapping (key: value)';
    default:
      return 'a value';
  }
}

function kindOf(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** How a wrong value looked, e.g. `a number (24.10)`, `"abc"`, `a list`, `nothing`. */
export function got(v: unknown, text?: string): string {
  if (v === null || v === undefined) return 'nothing (an empty value)';
  if (typeof v === 'number') return `a number (${text ?? v})`;
  if (typeof v === 'boolean') return `${text ?? v} (a boolean)`;
  if (typeof v === 'string') return show(v);
  return show(v);
}

function typeMatches(s: Schema, v: unknown): boolean {
  const k = kindOf(v);
  switch (s.type) {
    case 'string':
      return k === 'string';
    case 'integer':
      return k === 'integer';
    case 'number':
      return k === 'integer' || k === 'number';
    case 'boolean':
      return k === 'boolean';
    case 'array':
      return k === 'array';
    case 'object':
      return k === 'object';
    default:
      return true;
  }
}

function dnsSuggestion(v: string): string {
  const s = v.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 253);
  return s && regex(DNS1123_SUBDOMAIN).test(s) ? s : '';
}

function patternHint(pattern: string, v: string): string {
  if (pattern === SHA256_HEX) {
    if (v.length !== 64) return ` (got ${v.length} characters)`;
    if (/^[0-9a-fA-F]+$/.test(v)) return '; write it in lowercase';
    return '; only 0-9 and a-f are allowed';
  }
  if (pattern === DNS1123_SUBDOMAIN) {
    const s = dnsSuggestion(v);
    return s && s !== v ? `; for example ${JSON.stringify(s)}` : '';
  }
  if (pattern === GO_DURATION) {
    if (/^\d+$/.test(v.trim())) return `; add a unit, e.g. "${v.trim()}m"`;
    return '; units are ns, us, ms, s, m and h';
  }
  if (pattern === PERCENT) {
    if (/^\d+(\.\d+)?\s*%$/.test(v)) return '; use a whole percent without spaces, e.g. "10%"';
    return '';
  }
  return '';
}

function wrongTypeHint(s: Schema, v: unknown, text: string | undefined): string {
  const wantsString = s.type === 'string' || (s.anyOf?.some((a) => a.type === 'string' && !a.pattern) ?? false);
  if (wantsString && (typeof v === 'number' || typeof v === 'boolean')) {
    const shown = text ?? String(v);
    return `; put it in quotes: "${shown}"`;
  }
  if (s.type === 'string' && s.pattern === GO_DURATION && typeof v === 'number') return `; add a unit, e.g. "${text ?? v}m"`;
  if (s.type === 'boolean' && typeof v === 'string' && /^(yes|no|on|off|true|false)$/i.test(v)) return `; write true or false without quotes`;
  if ((s.type === 'integer' || s.anyOf?.some((a) => a.type === 'integer')) && typeof v === 'string' && /^-?\d+$/.test(v)) return '; remove the quotes';
  return '';
}

/**
 * Check `value` against `schema`. Emits diagnostics through `emit` (when given) and returns whether it
 * matched. `path` is the field path used in messages (e.g. `spec.image.sha256`).
 */
export function checkSchema(schema: Schema, value: unknown, path: string, site: Site, emit: Emit | null): boolean {
  const label = path || 'document';
  // The scalar's original text is only needed for messages: look it up lazily.
  let cached: string | undefined | null = null;
  const lazy = () => (cached === null ? (cached = sourceText(site)) : cached);
  // An empty value is reported once, at its key.
  if ((value === null || value === undefined) && schema.type !== 'null') {
    emit?.('error', keyPos(site), `${label}: is empty; expected ${describe(schema)}`);
    return false;
  }
  if (schema.anyOf) {
    for (const alt of schema.anyOf) if (checkSchema(alt, value, path, site, null)) return true;
    if (!emit) return false;
    if (schema.anyOf.every((a) => a.const !== undefined)) {
      const options = schema.anyOf.map((a) => String(a.const));
      emit('error', valuePos(site), `${label}: must be ${describe(schema)}, got ${got(value, lazy())}${typeof value === 'string' ? didYouMean(value, options) : ''}`);
      return false;
    }
    // One alternative of the right type: its specific complaint says more than "expected X or Y".
    const sameType = schema.anyOf.filter((a) => typeMatches(a, value) && a.type !== undefined);
    if (sameType.length === 1) {
      const alt = sameType[0]!;
      // Keep the union's words ("a whole number or a percent") for pattern failures.
      if (alt.type === 'string' && alt.pattern && typeof value === 'string' && !regex(alt.pattern).test(value)) {
        emit('error', valuePos(site), `${label}: must be ${describe(schema)}, got ${got(value, lazy())}${patternHint(alt.pattern, value)}`);
        return false;
      }
      return checkSchema(alt, value, path, site, emit);
    }
    emit('error', valuePos(site), `${label}: must be ${describe(schema)}, got ${got(value, lazy())}${wrongTypeHint(schema, value, lazy())}`);
    return false;
  }
  if (schema.const !== undefined) {
    if (value === schema.const) return true;
    emit?.('error', valuePos(site), `${label}: must be ${JSON.stringify(schema.const)}, got ${got(value, lazy())}`);
    return false;
  }
  if (!typeMatches(schema, value)) {
    emit?.('error', valuePos(site), `${label}: must be ${describe(schema)}, got ${got(value, lazy())}${wrongTypeHint(schema, value, lazy())}`);
    return false;
  }
  if (schema.enum && !schema.enum.includes(value)) {
    emit?.('error', valuePos(site), `${label}: must be one of ${describe(schema)}, got ${got(value, lazy())}${typeof value === 'string' ? didYouMean(value, schema.enum.map(String)) : ''}`);
    return false;
  }
  switch (schema.type) {
    case 'string': {
      const v = value as string;
      if (schema.minLength !== undefined && v.length < schema.minLength) {
        emit?.('error', valuePos(site), `${label}: must not be empty`);
        return false;
      }
      if (schema.maxLength !== undefined && v.length > schema.maxLength) {
        emit?.('error', valuePos(site), `${label}: is ${v.length} characters long, at most ${schema.maxLength} are allowed`);
        return false;
      }
      if (schema.pattern && !regex(schema.pattern).test(v)) {
        emit?.('error', valuePos(site), `${label}: must be ${describe(schema)}, got ${got(v, lazy())}${patternHint(schema.pattern, v)}`);
        return false;
      }
      return true;
    }
    case 'integer':
    case 'number': {
      const v = value as number;
      if (schema.type === 'integer' && !Number.isSafeInteger(v)) {
        emit?.('error', valuePos(site), `${label}: ${lazy() ?? v} is too large for a whole number; quote it if it is meant as text`);
        return false;
      }
      if (schema.minimum !== undefined && v < schema.minimum) {
        emit?.('error', valuePos(site), `${label}: must be at least ${schema.minimum}, got ${lazy() ?? v}`);
        return false;
      }
      if (schema.maximum !== undefined && v > schema.maximum) {
        emit?.('error', valuePos(site), `${label}: must be at most ${schema.maximum}, got ${lazy() ?? v}`);
        return false;
      }
      return true;
    }
    case 'boolean':
      return true;
    case 'array': {
      const arr = value as unknown[];
      let ok = true;
      if (schema.minItems !== undefined && arr.length < schema.minItems) {
        emit?.('error', valuePos(site), `${label}: needs at least ${schema.minItems} item${schema.minItems === 1 ? '' : 's'}`);
        ok = false;
      }
      if (schema.maxItems !== undefined && arr.length > schema.maxItems) {
        emit?.('error', valuePos(site), `${label}: has ${arr.length} items, at most ${schema.maxItems} are allowed`);
        ok = false;
      }
      if (schema.items) {
        for (let i = 0; i < arr.length; i++) {
          if (!checkSchema(schema.items, arr[i], fieldPath(path, i), child(site.doc, arr, i), emit)) {
            ok = false;
            if (!emit) return false;
          }
        }
      }
      return ok;
    }
    case 'object': {
      const obj = value as Record<string, unknown>;
      let ok = true;
      const props = schema.properties ?? {};
      for (const req of schema.required ?? []) {
        if (!(req in obj)) {
          ok = false;
          if (!emit) return false;
          const desc = typeof props[req]?.description === 'string' ? (props[req]!.description as string) : undefined;
          const where = path ? `${label}` : 'document';
          emit('error', keyPos(site), `${where}: missing required field "${req}"${desc ? ` (${trimDot(desc)})` : ''}`);
        }
      }
      const patterns = schema.patternProperties ? Object.entries(schema.patternProperties) : [];
      for (const key of Object.keys(obj)) {
        const sub = props[key];
        const childSite = child(site.doc, obj, key);
        const childPath = fieldPath(path, key);
        if (sub) {
          if (!checkSchema(sub, obj[key], childPath, childSite, emit)) {
            ok = false;
            if (!emit) return false;
          }
          continue;
        }
        const pp = patterns.find(([p]) => regex(p).test(key));
        if (pp) {
          if (!checkSchema(pp[1], obj[key], childPath, childSite, emit)) {
            ok = false;
            if (!emit) return false;
          }
          continue;
        }
        if (schema.additionalProperties === false || (patterns.length === 0 && schema.additionalProperties === undefined && Object.keys(props).length > 0)) {
          ok = false;
          if (!emit) return false;
          const known = Object.keys(props);
          const hint = didYouMean(key, known);
          const list = hint || (known.length > 0 ? `; known fields here: ${known.join(', ')}` : '; this mapping takes no fields');
          emit('error', keyPos(childSite), `${childPath}: unknown field ${JSON.stringify(key)}${list}`);
        } else if (typeof schema.additionalProperties === 'object') {
          if (!checkSchema(schema.additionalProperties as Schema, obj[key], childPath, childSite, emit)) {
            ok = false;
            if (!emit) return false;
          }
        }
      }
      return ok;
    }
    default:
      return true;
  }
}

function trimDot(s: string): string {
  return s.replace(/\.$/, '');
}
