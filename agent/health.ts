// Post-boot health checks that decide whether a freshly booted slot becomes permanent.
// Checks are plain async functions, so a node can configure (and a test inject) its own. Operators
// configure them with `osfleet agent --health-check …` / `--health-checks FILE` (parseHealthConfig).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { parseDuration as parseGoDuration } from '../api/duration.js';

export interface HealthCheck {
  name: string;
  /** This check's time limit per attempt; HealthOptions.timeoutMs when absent. */
  timeoutMs?: number;
  /** Resolves when healthy; rejects with a message a person understands when not. */
  check(signal: AbortSignal): Promise<void>;
}

export interface HealthResult {
  ok: boolean;
  /** "name: why" for every check still failing after the last attempt. */
  failures: string[];
}

export interface HealthOptions {
  /** Rounds before the slot is declared unhealthy (default 10). */
  attempts?: number;
  /** Pause between rounds (default 3 s). */
  intervalMs?: number;
  /** Per-check time limit for checks without their own (default 10 s). */
  timeoutMs?: number;
}

export const HEALTH_DEFAULTS = { attempts: 10, intervalMs: 3000, timeoutMs: 10_000 } as const;

/** Run all checks, repeating failing ones until they pass or attempts run out. */
export async function runHealthChecks(checks: readonly HealthCheck[], opts: HealthOptions = {}): Promise<HealthResult> {
  const attempts = opts.attempts ?? HEALTH_DEFAULTS.attempts;
  const intervalMs = opts.intervalMs ?? HEALTH_DEFAULTS.intervalMs;
  let pending = [...checks];
  let failures: string[] = [];
  for (let round = 0; round < attempts && pending.length > 0; round++) {
    if (round > 0) await new Promise((r) => setTimeout(r, intervalMs));
    const results = await Promise.all(pending.map((c) => runOne(c, c.timeoutMs ?? opts.timeoutMs ?? HEALTH_DEFAULTS.timeoutMs)));
    failures = results.filter((r): r is string => r !== undefined);
    pending = pending.filter((_, i) => results[i] !== undefined);
  }
  return { ok: pending.length === 0, failures: pending.length === 0 ? [] : failures };
}

/** undefined when healthy, else "name: why". The time limit holds even for a check that ignores its signal. */
async function runOne(c: HealthCheck, timeoutMs: number): Promise<string | undefined> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      ac.abort(new Error(`no answer within ${formatDuration(timeoutMs)}`));
      resolve('timeout');
    }, timeoutMs);
  });
  try {
    const r = await Promise.race([c.check(ac.signal).then(() => 'ok' as const), timedOut]);
    return r === 'ok' ? undefined : `${c.name}: no answer within ${formatDuration(timeoutMs)}`;
  } catch (err) {
    return `${c.name}: ${ac.signal.aborted ? `no answer within ${formatDuration(timeoutMs)}` : (err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

/** The agent reaches `url` and gets any HTTP answer (401/403 count: the server is up). */
export function httpReachable(name: string, url: string, opts: { ca?: string | Buffer } = {}): HealthCheck {
  return {
    name,
    check: (signal) => httpGet(url, signal, opts.ca, (status) => (status >= 500 ? `${url} answered ${status}` : undefined)),
  };
}

/** An HTTP(S) GET of `url` must answer 2xx. Redirects are not followed (a 3xx fails, saying so). */
export function httpGetOk(name: string, url: string, opts: { ca?: string | Buffer; timeoutMs?: number } = {}): HealthCheck {
  return {
    name,
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    check: (signal) =>
      httpGet(url, signal, opts.ca, (status, location) => {
        if (status >= 200 && status < 300) return undefined;
        if (status >= 300 && status < 400) return `GET ${url} answered ${status} (a redirect${location ? ` to ${location}` : ''}; redirects are not followed, give the final URL)`;
        return `GET ${url} answered ${status}, expected 2xx`;
      }),
  };
}

function httpGet(url: string, signal: AbortSignal, ca: string | Buffer | undefined, judge: (status: number, location?: string) => string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.get(u, { signal, agent: false, ...(ca ? { ca } : {}) }, (res) => {
      res.resume();
      const problem = judge(res.statusCode ?? 0, res.headers.location);
      if (problem) reject(new Error(problem));
      else resolve();
    });
    req.on('error', (err) => reject(new Error(`${url} unreachable: ${err.message}`)));
  });
}

/** A command that must exit 0. Killed (SIGKILL) when its time is up; the last line it printed explains a failure. */
export function commandSucceeds(name: string, argv: readonly string[], opts: { timeoutMs?: number } = {}): HealthCheck {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error(`health check ${name}: empty command`);
  const shown = argv.join(' ');
  return {
    name,
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    check: (signal) =>
      new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], signal, killSignal: 'SIGKILL' });
        let out = '';
        const keep = (d: Buffer) => {
          out = (out + d.toString('utf8')).slice(-4096);
        };
        child.stdout.on('data', keep);
        child.stderr.on('data', keep);
        child.on('error', (err) => {
          if (!signal.aborted) reject(new Error(`cannot run "${shown}": ${err.message}`));
        });
        child.on('close', (code, sig) => {
          if (code === 0) return resolve();
          if (signal.aborted) return reject(new Error('timed out'));
          const last = out.trim().split('\n').pop()?.trim().slice(0, 300);
          reject(new Error(`"${shown}" ${code !== null ? `exited with code ${code}` : `was killed by ${sig}`}${last ? `: ${last}` : ''}`));
        });
      }),
  };
}

// ---------------------------------------------------------------------------
// Configuration: `--health-check` flags and a `--health-checks` JSON file.

/** "500ms", "5s", "2m", "1m30s" (the Go syntax of api/duration.ts); a bare number is seconds. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const r = parseGoDuration(s);
  if (!r.ok) throw new Error(`"${text}" is not a duration (examples: 500ms, 10s, 2m, 1m30s)`);
  if (r.ms <= 0) throw new Error(`duration "${text}" must be greater than zero`);
  return Math.round(r.ms);
}

function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** Names of the checks the agent always runs. */
export const BUILTIN_CHECKS = ['agent', 'kubernetes-api'] as const;

function checkName(name: string, where: string): string {
  if (!NAME.test(name)) throw new Error(`${where}: check name "${name}" must be letters, digits, ".", "_" or "-" (at most 63, starting with a letter or digit)`);
  if ((BUILTIN_CHECKS as readonly string[]).includes(name)) throw new Error(`${where}: "${name}" is the name of a built-in check; pick another name`);
  return name;
}

function httpUrl(url: string, where: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`${where}: "${url}" is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`${where}: URL ${url} must be http:// or https://`);
  return url;
}

/**
 * One `--health-check` flag: `NAME[@TIMEOUT]=TARGET`, where TARGET is
 * `http://…` / `https://…` (a GET that must answer 2xx) or `exec:COMMAND ARGS…` (split on spaces;
 * must exit 0). Example: `kubelet@5s=http://127.0.0.1:10248/healthz`.
 */
export function parseHealthCheckFlag(spec: string): HealthCheck {
  const where = `--health-check ${JSON.stringify(spec)}`;
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new Error(`${where}: expected NAME[@TIMEOUT]=http(s)://URL or NAME[@TIMEOUT]=exec:COMMAND`);
  const head = spec.slice(0, eq);
  const target = spec.slice(eq + 1).trim();
  const at = head.indexOf('@');
  const name = checkName(at < 0 ? head : head.slice(0, at), where);
  let timeoutMs: number | undefined;
  if (at >= 0) {
    try {
      timeoutMs = parseDuration(head.slice(at + 1));
    } catch (err) {
      throw new Error(`${where}: timeout ${(err as Error).message}`);
    }
  }
  const t = timeoutMs !== undefined ? { timeoutMs } : {};
  if (target.startsWith('exec:')) {
    const argv = target.slice('exec:'.length).split(' ').filter(Boolean);
    if (argv.length === 0) throw new Error(`${where}: exec: needs a command`);
    return commandSucceeds(name, argv, t);
  }
  if (/^https?:\/\//i.test(target)) return httpGetOk(name, httpUrl(target, where), t);
  throw new Error(`${where}: the target must start with http://, https:// or exec:`);
}

export interface HealthConfig {
  checks: HealthCheck[];
  options: Required<HealthOptions>;
}

export interface HealthConfigInput {
  /** `--health-check` values, in order. */
  flags?: readonly string[];
  /** Contents and name of the `--health-checks` file. */
  file?: { text: string; source: string };
  /** `--health-check-attempts`, `--health-check-interval`, `--health-check-timeout` (override the file's). */
  attempts?: string;
  interval?: string;
  timeout?: string;
  /** Reads a CA bundle named by `caFile` in the file (default: readFileSync). */
  readCa?: (file: string) => Buffer;
}

const FILE_KEYS = new Set(['checks', 'attempts', 'interval', 'timeout']);
const CHECK_KEYS = new Set(['name', 'http', 'exec', 'timeout', 'caFile']);

/**
 * The operator's health checks and retry policy from flags and an optional JSON file:
 *
 *     {"checks": [{"name": "kubelet", "http": "http://127.0.0.1:10248/healthz", "timeout": "5s"},
 *                 {"name": "containerd", "exec": ["chroot", "/host", "systemctl", "is-active", "--quiet", "containerd"]}],
 *      "attempts": 10, "interval": "3s", "timeout": "10s"}
 *
 * (a bare array of checks works too). `http` may carry `caFile` (PEM) for a private CA. Every
 * problem is reported with where it is; nothing runs with a half-understood configuration.
 */
export function parseHealthConfig(input: HealthConfigInput): HealthConfig {
  const checks: HealthCheck[] = [];
  const options: Required<HealthOptions> = { ...HEALTH_DEFAULTS };
  if (input.file) {
    const src = input.file.source;
    let doc: unknown;
    try {
      doc = JSON.parse(input.file.text);
    } catch (err) {
      throw new Error(`${src}: not valid JSON: ${(err as Error).message}`);
    }
    const obj: Record<string, unknown> = Array.isArray(doc) ? { checks: doc } : isRecord(doc) ? doc : {};
    if (!Array.isArray(doc) && !isRecord(doc)) throw new Error(`${src}: expected an object with "checks", or an array of checks`);
    for (const k of Object.keys(obj)) if (!FILE_KEYS.has(k)) throw new Error(`${src}: unknown field "${k}" (known: ${[...FILE_KEYS].join(', ')})`);
    if (obj.attempts !== undefined) options.attempts = positiveInt(obj.attempts, `${src}: attempts`);
    if (obj.interval !== undefined) options.intervalMs = durationField(obj.interval, `${src}: interval`);
    if (obj.timeout !== undefined) options.timeoutMs = durationField(obj.timeout, `${src}: timeout`);
    const list = obj.checks ?? [];
    if (!Array.isArray(list)) throw new Error(`${src}: "checks" must be an array`);
    list.forEach((c, i) => checks.push(checkFromJson(c, `${src}: checks[${i}]`, input.readCa)));
  }
  for (const f of input.flags ?? []) checks.push(parseHealthCheckFlag(f));
  if (input.attempts !== undefined) options.attempts = positiveInt(/^\d+$/.test(input.attempts) ? Number(input.attempts) : input.attempts, '--health-check-attempts');
  if (input.interval !== undefined) options.intervalMs = durationField(input.interval, '--health-check-interval');
  if (input.timeout !== undefined) options.timeoutMs = durationField(input.timeout, '--health-check-timeout');
  const seen = new Set<string>();
  for (const c of checks) {
    if (seen.has(c.name)) throw new Error(`health check "${c.name}" is configured twice; names must be unique (they appear in status messages)`);
    seen.add(c.name);
  }
  return { checks, options };
}

function checkFromJson(c: unknown, where: string, readCa: ((file: string) => Buffer) | undefined): HealthCheck {
  if (!isRecord(c)) throw new Error(`${where}: expected an object like {"name": "kubelet", "http": "http://127.0.0.1:10248/healthz"}`);
  for (const k of Object.keys(c)) if (!CHECK_KEYS.has(k)) throw new Error(`${where}: unknown field "${k}" (known: ${[...CHECK_KEYS].join(', ')})`);
  if (typeof c.name !== 'string') throw new Error(`${where}: "name" is required`);
  const name = checkName(c.name, where);
  const w = `${where} (${name})`;
  const t = c.timeout !== undefined ? { timeoutMs: durationField(c.timeout, `${w}: timeout`) } : {};
  if ((c.http === undefined) === (c.exec === undefined)) throw new Error(`${w}: give exactly one of "http" (a URL) or "exec" (a command)`);
  if (c.http !== undefined) {
    if (typeof c.http !== 'string') throw new Error(`${w}: "http" must be a URL string`);
    let ca: Buffer | undefined;
    if (c.caFile !== undefined) {
      if (typeof c.caFile !== 'string') throw new Error(`${w}: "caFile" must be a path`);
      try {
        ca = readCa ? readCa(c.caFile) : readFileSync(c.caFile);
      } catch (err) {
        throw new Error(`${w}: cannot read caFile ${c.caFile}: ${(err as Error).message}`);
      }
    }
    return httpGetOk(name, httpUrl(c.http, w), { ...t, ...(ca ? { ca } : {}) });
  }
  if (c.caFile !== undefined) throw new Error(`${w}: "caFile" applies to "http" checks only`);
  const argv = typeof c.exec === 'string' ? c.exec.split(' ').filter(Boolean) : c.exec;
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a): a is string => typeof a === 'string')) {
    throw new Error(`${w}: "exec" must be a non-empty array of strings (the command and its arguments)`);
  }
  return commandSucceeds(name, argv, t);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveInt(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new Error(`${where}: ${JSON.stringify(v)} is not a whole number of at least 1`);
  return v;
}

function durationField(v: unknown, where: string): number {
  if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`${where}: expected a duration such as "10s"`);
  try {
    return parseDuration(String(v));
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
}
