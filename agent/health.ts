// Post-boot health checks that decide whether a freshly booted slot becomes permanent.
// Checks are plain async functions, so a node can configure (and a test inject) its own.
import http from 'node:http';
import https from 'node:https';

export interface HealthCheck {
  name: string;
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
  /** Per-check time limit (default 10 s). */
  timeoutMs?: number;
}

/** Run all checks, repeating failing ones until they pass or attempts run out. */
export async function runHealthChecks(checks: readonly HealthCheck[], opts: HealthOptions = {}): Promise<HealthResult> {
  const attempts = opts.attempts ?? 10;
  const intervalMs = opts.intervalMs ?? 3000;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let pending = [...checks];
  let failures: string[] = [];
  for (let round = 0; round < attempts && pending.length > 0; round++) {
    if (round > 0) await new Promise((r) => setTimeout(r, intervalMs));
    const results = await Promise.all(
      pending.map(async (c) => {
        const signal = AbortSignal.timeout(timeoutMs);
        try {
          await c.check(signal);
          return undefined;
        } catch (err) {
          return `${c.name}: ${signal.aborted ? `no answer within ${timeoutMs} ms` : (err as Error).message}`;
        }
      }),
    );
    failures = results.filter((r): r is string => r !== undefined);
    pending = pending.filter((_, i) => results[i] !== undefined);
  }
  return { ok: pending.length === 0, failures: pending.length === 0 ? [] : failures };
}

/** The agent reaches `url` and gets any HTTP answer (401/403 count: the server is up). */
export function httpReachable(name: string, url: string, opts: { ca?: string | Buffer } = {}): HealthCheck {
  return {
    name,
    check: (signal) =>
      new Promise((resolve, reject) => {
        const u = new URL(url);
        const mod = u.protocol === 'https:' ? https : http;
        const req = mod.get(u, { signal, agent: false, ...(opts.ca ? { ca: opts.ca } : {}) }, (res) => {
          res.resume();
          if ((res.statusCode ?? 0) >= 500) reject(new Error(`${url} answered ${res.statusCode}`));
          else resolve();
        });
        req.on('error', (err) => reject(new Error(`${url} unreachable: ${err.message}`)));
      }),
  };
}
