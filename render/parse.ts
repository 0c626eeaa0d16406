// Parsing: bytes of a YAML file → plain values plus a map back to the source, so every later error
// can name the file, line and column of the key or value it is about. Pure (no I/O).
import { parseAllDocuments, LineCounter, isAlias, isMap, isScalar, isSeq, isPair, type Document, type Node, type YAMLMap, type YAMLSeq } from 'yaml';
import type { Diagnostic, Severity } from './diagnostics.js';
import { MAX_FILE_BYTES, type SourceFile } from './load.js';

/** A position in a file, 1-based. */
export interface Position {
  line: number;
  col: number;
}

/**
 * Where a mapping or list came from: its YAML node. Positions are looked up only when a diagnostic needs
 * one (the valid path stays cheap).
 */
export interface ContainerSource {
  node: YAMLMap | YAMLSeq;
  at: (offset: number) => Position;
}

function itemFor(src: ContainerSource, key: string | number): { key: Node | null; value: Node | null } | undefined {
  const n = src.node;
  if (isSeq(n)) {
    if (typeof key !== 'number') return undefined;
    const item = n.items[key] as Node | null | undefined;
    return item === undefined ? undefined : { key: item, value: item };
  }
  // The last pair with this key: later duplicates win in conversion, and duplicates are reported anyway.
  for (let i = n.items.length - 1; i >= 0; i--) {
    const pair = n.items[i]!;
    if (keyText(pair.key) === String(key)) return { key: pair.key as Node | null, value: pair.value as Node | null };
  }
  return undefined;
}

export function selfPosition(src: ContainerSource): Position {
  return src.at(src.node.range?.[0] ?? 0);
}

export function keyPosition(src: ContainerSource, key: string | number): Position {
  const item = itemFor(src, key);
  const r = item?.key?.range;
  return r ? src.at(r[0]) : selfPosition(src);
}

export function valuePosition(src: ContainerSource, key: string | number): Position {
  const item = itemFor(src, key);
  if (!item) return selfPosition(src);
  const v = item.value;
  // An empty value (`key:`) has no useful position of its own: point at its key.
  const empty = v === null || (isScalar(v) && v.value === null && (v.source ?? '') === '');
  const r = empty ? item.key?.range : v.range;
  return r ? src.at(r[0]) : selfPosition(src);
}

/** Original text of a scalar value (e.g. `24.10` for a number that lost its trailing zero). */
export function scalarSource(src: ContainerSource, key: string | number): string | undefined {
  const v = itemFor(src, key)?.value;
  return isScalar(v) && typeof v.source === 'string' ? v.source : undefined;
}

/** One YAML document of a file, converted to plain values with positions attached. */
export interface ParsedDocument {
  path: string;
  /** 0-based index of the document within its file. */
  index: number;
  /** Position of the document's top node. */
  start: Position;
  value: unknown;
  /** Position bookkeeping for every mapping and list inside `value`. */
  sources: WeakMap<object, ContainerSource>;
}

export interface ParseResult {
  documents: ParsedDocument[];
  diagnostics: Diagnostic[];
}

/** Most nodes alias expansion may produce in one document; beyond it the document is refused unexpanded. */
export const MAX_EXPANDED_NODES = 50_000;
/** Most aliases in one document (yaml's own default limit for conversion). */
export const MAX_ALIASES = 100;

function diag(path: string, pos: Position, severity: Severity, message: string): Diagnostic {
  return { severity, path, line: pos.line, col: pos.col, message };
}

/** Offset of the first byte that is not valid UTF-8, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) { i++; continue; }
    let n: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; }
    else return i;
    if (i + n >= b.length) return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

function positionOfByte(b: Uint8Array, offset: number): Position {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) if (b[i] === 0x0a) { line++; lineStart = i + 1; }
  // Count characters, not bytes, on the line: continuation bytes do not start a character.
  let col = 1;
  for (let i = lineStart; i < offset; i++) if ((b[i]! & 0xc0) !== 0x80) col++;
  return { line, col };
}

/** Decode a file as UTF-8, refusing anything else. */
export function decodeUtf8(file: SourceFile): { text: string } | { error: Diagnostic } {
  const b = file.bytes;
  if (b.length >= 2 && ((b[0] === 0xff && b[1] === 0xfe) || (b[0] === 0xfe && b[1] === 0xff))) {
    return { error: diag(file.path, { line: 1, col: 1 }, 'error', 'file is UTF-16 encoded; save it as UTF-8') };
  }
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(b) };
  } catch {
    const at = firstInvalidUtf8(b);
    const pos = positionOfByte(b, at < 0 ? 0 : at);
    const byte = at >= 0 ? ` (byte 0x${b[at]!.toString(16).padStart(2, '0')})` : '';
    return { error: diag(file.path, pos, 'error', `file is not valid UTF-8${byte}; save it as UTF-8`) };
  }
}

const YAML_HINTS: Record<string, string> = {
  DUPLICATE_KEY: 'each key may appear only once in a mapping; remove or merge the repeated one',
  BAD_INDENT: 'check the indentation of this line against the lines above',
  TAB_AS_INDENT: 'indent with spaces, not tabs',
  MULTILINE_IMPLICIT_KEY: 'a key must fit on one line; check for a missing ":" or a wrongly indented line',
  BLOCK_AS_IMPLICIT_KEY: 'check for a missing ":" or a wrongly indented line',
  MISSING_CHAR: 'a closing bracket, brace or quote is missing',
  UNEXPECTED_TOKEN: 'remove or quote the unexpected character',
  BAD_ALIAS: 'an alias (*name) must refer to an anchor (&name) defined earlier in the same document',
  ALIAS_PROPS: 'an alias cannot carry a tag or anchor',
  TAG_RESOLVE_FAILED: 'custom tags are not supported; remove the tag',
  BAD_SCALAR_START: 'quote values that start with a special character',
};

function yamlMessage(code: string, message: string, text: string, pos: [number, number]): string {
  if (code === 'DUPLICATE_KEY') {
    const m = /^("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\n]*?)(?=[ \t]*:(?:[ \t]|$))/m.exec(text.slice(pos[0], pos[0] + 1000));
    let key = (m?.[1] ?? text.slice(pos[0], pos[1])).trim();
    if (/^(["']).*\1$/.test(key)) key = key.slice(1, -1);
    return `duplicate key ${JSON.stringify(key)}: ${YAML_HINTS.DUPLICATE_KEY}`;
  }
  const hint = YAML_HINTS[code] ?? 'fix the YAML syntax';
  const first = message.split('\n')[0]!.replace(/\s+at line \d+, column \d+:?$/, '').replace(/\.$/, '');
  return `YAML syntax error: ${first}; ${hint}`;
}

/**
 * Count the nodes alias expansion would produce, without expanding. Memoised per node, so a
 * "billion laughs" document costs linear time here. Returns Infinity on a cycle or past the limit.
 */
function expandedSize(doc: Document.Parsed, root: Node | null): number {
  const memo = new Map<unknown, number>();
  const active = new Set<unknown>();
  const visit = (n: unknown): number => {
    if (n === null || n === undefined) return 1;
    const cached = memo.get(n);
    if (cached !== undefined) return cached;
    if (active.has(n)) return Infinity;
    active.add(n);
    let size = 1;
    if (isAlias(n)) {
      const target = n.resolve(doc);
      size = target ? visit(target) : 1;
    } else if (isMap(n) || isSeq(n)) {
      for (const item of n.items as unknown[]) {
        if (isPair(item)) size += visit(item.key) + visit(item.value);
        else size += visit(item);
        if (size > MAX_EXPANDED_NODES) break;
      }
    }
    active.delete(n);
    if (size > MAX_EXPANDED_NODES) size = Infinity;
    memo.set(n, size);
    return size;
  };
  return visit(root);
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) {
    const v = key.value;
    if (v === null || v === undefined) return '';
    if (typeof v === 'object') return undefined;
    return String(v);
  }
  if (key === null || key === undefined) return '';
  return undefined;
}

/** Parse one file into its documents. Empty documents (a lone `---`, comments only) are skipped. */
export function parseFile(file: SourceFile): ParseResult {
  const documents: ParsedDocument[] = [];
  const diagnostics: Diagnostic[] = [];
  if (file.bytes.length > MAX_FILE_BYTES) {
    diagnostics.push(diag(file.path, { line: 1, col: 1 }, 'error', `file is ${file.bytes.length} bytes, over the 1 MiB limit for a repository file; split it into several files`));
    return { documents, diagnostics };
  }
  const decoded = decodeUtf8(file);
  if ('error' in decoded) return { documents, diagnostics: [decoded.error] };
  const text = decoded.text;
  const lc = new LineCounter();
  const at = (offset: number): Position => {
    const p = lc.linePos(offset);
    return { line: p.line, col: p.col };
  };
  let docs: Document.Parsed[];
  try {
    const parsed = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: true });
    docs = Array.isArray(parsed) ? parsed : [];
  } catch (err) {
    diagnostics.push(diag(file.path, { line: 1, col: 1 }, 'error', `YAML could not be parsed: ${(err as Error).message.split('\n')[0]}`));
    return { documents, diagnostics };
  }
  docs.forEach((doc, index) => {
    let fatal = false;
    for (const e of doc.errors) {
      diagnostics.push(diag(file.path, at(e.pos[0]), 'error', yamlMessage(e.code, e.message, text, e.pos)));
      if (e.code !== 'DUPLICATE_KEY') fatal = true;
    }
    for (const w of doc.warnings) {
      diagnostics.push(diag(file.path, at(w.pos[0]), 'warning', yamlMessage(w.code, w.message, text, w.pos)));
    }
    if (fatal) return;
    const contents = doc.contents as Node | null;
    if (contents === null || (isScalar(contents) && contents.value === null)) return; // empty document
    const start = at(contents.range?.[0] ?? 0);
    let aliases = 0;
    let firstAlias: Position | undefined;
    const countAliases = (n: unknown): void => {
      if (isAlias(n)) {
        aliases++;
        firstAlias ??= at(n.range?.[0] ?? 0);
      } else if (isMap(n) || isSeq(n)) {
        for (const item of n.items as unknown[]) {
          if (isPair(item)) { countAliases(item.key); countAliases(item.value); }
          else countAliases(item);
        }
      }
    };
    countAliases(contents);
    if (aliases > 0 && (aliases > MAX_ALIASES || expandedSize(doc, contents) > MAX_EXPANDED_NODES)) {
      diagnostics.push(diag(file.path, firstAlias ?? start, 'error',
        `document refused: its aliases (*name) would expand to more than ${MAX_EXPANDED_NODES} nodes or use more than ${MAX_ALIASES} aliases; write the values out instead of aliasing them`));
      return;
    }
    const sources = new WeakMap<object, ContainerSource>();
    const converted = new Map<unknown, unknown>();
    const convert = (n: unknown): unknown => {
      if (isAlias(n)) {
        const target = n.resolve(doc);
        return target ? convert(target) : null;
      }
      if (isScalar(n)) return n.value;
      const done = converted.get(n);
      if (done !== undefined) return done;
      if (isMap(n)) {
        const obj: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
        converted.set(n, obj);
        sources.set(obj, { node: n, at });
        for (const pair of n.items) {
          const k = keyText(pair.key);
          if (k === undefined) {
            const keyPos = at((pair.key as Node | null)?.range?.[0] ?? (n.range?.[0] ?? 0));
            diagnostics.push(diag(file.path, keyPos, 'error', 'a mapping key must be plain text, not a list or mapping; quote it or restructure the document'));
            continue;
          }
          const v = pair.value as Node | null;
          obj[k] = v === null ? null : convert(v);
        }
        return obj;
      }
      if (isSeq(n)) {
        const arr: unknown[] = [];
        converted.set(n, arr);
        sources.set(arr, { node: n, at });
        for (const item of n.items) arr.push(convert(item));
        return arr;
      }
      return null;
    };
    documents.push({ path: file.path, index, start, value: convert(contents), sources });
  });
  return { documents, diagnostics };
}

/** Parse every file; documents keep file order (files sorted by path by the loader). */
export function parseFiles(files: readonly SourceFile[]): ParseResult {
  const documents: ParsedDocument[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const f of files) {
    const r = parseFile(f);
    documents.push(...r.documents);
    diagnostics.push(...r.diagnostics);
  }
  return { documents, diagnostics };
}
