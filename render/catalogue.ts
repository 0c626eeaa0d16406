// The sysctl / kernel-argument catalogue (policies/*.yaml): loading it and judging keys and values against it.
// The rules are data in policies/; this module only reads them. Loading happens on first use, never on import.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export interface UnsafeRule {
  values?: string[];
  below?: number;
  above?: number;
  pattern?: string;
  reason: string;
}

export interface SysctlEntry {
  key: string;
  apply: 'live' | 'reboot';
  type?: 'integer' | 'integers' | 'string' | 'enum';
  min?: number;
  max?: number;
  count?: number;
  values?: string[];
  pattern?: string;
  forbidden?: string;
  unsafe: UnsafeRule[];
  description?: string;
}

export interface KernelArgEntry {
  name: string;
  values?: string[];
  flag?: boolean;
  forbidden?: string;
  unsafe: UnsafeRule[];
  description?: string;
}

export interface Catalogue {
  sysctls: Map<string, SysctlEntry>;
  /** Entries written `prefix.*`: every key under the prefix (the `prefix.` part, with the dot). */
  sysctlPrefixes: Map<string, SysctlEntry>;
  /** Keyed by the argument name with `-` written `_` (the kernel and systemd treat them alike). */
  kernelArgs: Map<string, KernelArgEntry>;
}

/** A kernel argument name as the kernel and systemd compare it: `-` and `_` are the same character. */
export function kernelArgKey(name: string): string {
  return name.replace(/-/g, '_');
}

export const SYSCTL_CATALOGUE_FILE = 'sysctl-catalogue.yaml';
export const KERNEL_ARG_CATALOGUE_FILE = 'kernel-arg-catalogue.yaml';

function asRecord(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function rules(v: unknown): UnsafeRule[] {
  if (!Array.isArray(v)) return [];
  return v.map((r) => {
    const o = asRecord(r);
    const rule: UnsafeRule = { reason: str(o.reason) ?? 'marked unsafe by the catalogue' };
    if (Array.isArray(o.values)) rule.values = o.values.map((x) => String(x));
    if (num(o.below) !== undefined) rule.below = num(o.below);
    if (num(o.above) !== undefined) rule.above = num(o.above);
    if (str(o.pattern) !== undefined) rule.pattern = str(o.pattern);
    return rule;
  });
}

/** Build a catalogue from the text of the two policy files. */
export function parseCatalogue(sysctlYaml: string, kernelArgYaml: string): Catalogue {
  const sysctls = new Map<string, SysctlEntry>();
  const sysctlPrefixes = new Map<string, SysctlEntry>();
  for (const [key, raw] of Object.entries(asRecord(asRecord(parse(sysctlYaml)).sysctls))) {
    const o = asRecord(raw);
    const entry: SysctlEntry = { key, apply: o.apply === 'reboot' ? 'reboot' : 'live', unsafe: rules(o.unsafe) };
    const t = str(o.type);
    if (t === 'integer' || t === 'integers' || t === 'string' || t === 'enum') entry.type = t;
    if (num(o.min) !== undefined) entry.min = num(o.min);
    if (num(o.max) !== undefined) entry.max = num(o.max);
    if (num(o.count) !== undefined) entry.count = num(o.count);
    if (Array.isArray(o.values)) entry.values = o.values.map((x) => String(x));
    if (str(o.pattern) !== undefined) entry.pattern = str(o.pattern);
    if (str(o.forbidden) !== undefined) entry.forbidden = str(o.forbidden);
    if (str(o.description) !== undefined) entry.description = str(o.description);
    if (key.endsWith('.*')) sysctlPrefixes.set(key.slice(0, -1), entry);
    else sysctls.set(key, entry);
  }
  const kernelArgs = new Map<string, KernelArgEntry>();
  for (const [name, raw] of Object.entries(asRecord(asRecord(parse(kernelArgYaml)).kernelArgs))) {
    const o = asRecord(raw);
    const entry: KernelArgEntry = { name, unsafe: rules(o.unsafe) };
    if (Array.isArray(o.values)) entry.values = o.values.map((x) => String(x));
    if (o.flag === true) entry.flag = true;
    if (str(o.forbidden) !== undefined) entry.forbidden = str(o.forbidden);
    if (str(o.description) !== undefined) entry.description = str(o.description);
    kernelArgs.set(kernelArgKey(name), entry);
  }
  return { sysctls, sysctlPrefixes, kernelArgs };
}

/** The folder holding the shipped catalogue, found from this module (works from source and from dist/). */
export function policiesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'policies');
    if (existsSync(join(candidate, SYSCTL_CATALOGUE_FILE))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('osfleet: policies/sysctl-catalogue.yaml not found next to the installed package');
}

let cached: Catalogue | undefined;

/** The catalogue shipped in policies/ (read once, then cached). */
export function defaultCatalogue(): Catalogue {
  if (!cached) {
    const dir = policiesDir();
    cached = parseCatalogue(readFileSync(join(dir, SYSCTL_CATALOGUE_FILE), 'utf8'), readFileSync(join(dir, KERNEL_ARG_CATALOGUE_FILE), 'utf8'));
  }
  return cached;
}

export function emptyCatalogue(): Catalogue {
  return { sysctls: new Map(), sysctlPrefixes: new Map(), kernelArgs: new Map() };
}

// ---------- judging sysctls ----------

export { sysctlKeyProblem, sysctlValueProblem } from '../api/settings-syntax.js';

function normalise(value: string): string {
  return value.trim().split(/\s+/).join(' ');
}

function matchesRule(rule: UnsafeRule, value: string): boolean {
  const v = normalise(value);
  if (rule.values?.includes(v)) return true;
  const n = /^-?\d+$/.test(v) ? Number(v) : undefined;
  if (n !== undefined && rule.below !== undefined && n < rule.below) return true;
  if (n !== undefined && rule.above !== undefined && n > rule.above) return true;
  if (rule.pattern !== undefined) {
    try {
      if (new RegExp(rule.pattern).test(v)) return true;
    } catch {
      return false;
    }
  }
  return false;
}

export type SysctlVerdict =
  | { kind: 'unknown' }
  | { kind: 'forbidden'; reason: string }
  | { kind: 'invalid'; reason: string }
  | { kind: 'unsafe'; reason: string }
  | { kind: 'ok'; entry: SysctlEntry };

function intProblem(s: string, e: { min?: number; max?: number }): string | undefined {
  if (!/^-?\d+$/.test(s)) return `${JSON.stringify(s)} is not a whole number`;
  const n = Number(s);
  if (e.min !== undefined && n < e.min) return `${s} is below the minimum ${e.min}`;
  if (e.max !== undefined && n > e.max) return `${s} is above the maximum ${e.max}`;
  return undefined;
}

/** Judge one sysctl key / value (value already known to be one clean line) against the catalogue. */
export function judgeSysctl(cat: Catalogue, key: string, value: string): SysctlVerdict {
  const e = cat.sysctls.get(key) ?? sysctlByPrefix(cat, key);
  if (!e) return { kind: 'unknown' };
  if (e.forbidden !== undefined) return { kind: 'forbidden', reason: e.forbidden };
  const v = normalise(value);
  let problem: string | undefined;
  switch (e.type) {
    case 'integer':
      problem = intProblem(v, e);
      if (problem && e.min !== undefined && e.max !== undefined && /^-?\d+$/.test(v)) problem += ` (allowed: ${e.min}..${e.max})`;
      break;
    case 'integers': {
      const parts = v.split(' ');
      if (e.count !== undefined && parts.length !== e.count) problem = `expects ${e.count} whole numbers separated by spaces, got ${parts.length}`;
      else for (const p of parts) { problem = intProblem(p, e); if (problem) break; }
      break;
    }
    case 'enum':
      if (e.values && !e.values.includes(v)) problem = `${JSON.stringify(v)} is not one of ${e.values.join(', ')}`;
      break;
    case 'string':
      if (e.pattern !== undefined && !new RegExp(e.pattern).test(v)) problem = `${JSON.stringify(v)} does not look like a valid value`;
      break;
    default:
      break;
  }
  if (problem) return { kind: 'invalid', reason: problem };
  for (const rule of e.unsafe) if (matchesRule(rule, v)) return { kind: 'unsafe', reason: rule.reason };
  return { kind: 'ok', entry: e };
}

function sysctlByPrefix(cat: Catalogue, key: string): SysctlEntry | undefined {
  for (const [prefix, e] of cat.sysctlPrefixes) if (key.startsWith(prefix)) return e;
  return undefined;
}

/** Whether changing this key only takes effect after a reboot (unknown keys apply live). */
export function sysctlNeedsReboot(cat: Catalogue, key: string): boolean {
  return cat.sysctls.get(key)?.apply === 'reboot';
}

// ---------- judging kernel arguments ----------

export { kernelArgProblem, kernelArgName } from '../api/settings-syntax.js';
import { kernelArgName } from '../api/settings-syntax.js';

export type KernelArgVerdict =
  | { kind: 'unknown' }
  | { kind: 'forbidden'; reason: string }
  | { kind: 'invalid'; reason: string }
  | { kind: 'unsafe'; reason: string }
  | { kind: 'ok'; entry: KernelArgEntry };

/** Judge a kernel argument being added (`adding`) or removed against the catalogue. */
export function judgeKernelArg(cat: Catalogue, arg: string, adding: boolean): KernelArgVerdict {
  const name = kernelArgName(arg);
  const e = cat.kernelArgs.get(kernelArgKey(name));
  if (!e) return { kind: 'unknown' };
  if (e.forbidden !== undefined) return { kind: 'forbidden', reason: e.forbidden };
  if (!adding) return { kind: 'ok', entry: e };
  const hasValue = arg.includes('=');
  const value = hasValue ? arg.slice(name.length + 1) : undefined;
  if (e.flag && hasValue) return { kind: 'invalid', reason: `${name} takes no value; write just ${JSON.stringify(name)}` };
  if (e.values && value === undefined) return { kind: 'invalid', reason: `${name} needs a value: one of ${e.values.join(', ')}` };
  if (e.values && value !== undefined && !e.values.includes(value)) return { kind: 'invalid', reason: `${JSON.stringify(value)} is not a value of ${name}; allowed: ${e.values.join(', ')}` };
  for (const rule of e.unsafe) if (value !== undefined && matchesRule(rule, value)) return { kind: 'unsafe', reason: rule.reason };
  return { kind: 'ok', entry: e };
}
