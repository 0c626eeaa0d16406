import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_MAX_MS } from './fleetsource-reconciler.js';
import { LeaderElector } from './leader-election.js';
import { leaderElectionTimings, UsageError } from './main.js';

describe('fetch failure back-off', () => {
  it('doubles from 2 s per failure in a row and stops at the 5 min cap', () => {
    expect(DEFAULT_BACKOFF_BASE_MS).toBe(2000);
    expect(DEFAULT_BACKOFF_MAX_MS).toBe(300_000);
    const delays = Array.from({ length: 12 }, (_, i) => backoffDelayMs(i + 1));
    expect(delays).toEqual([2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000, 300_000, 300_000]);
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThanOrEqual(delays[i - 1]!);
  });

  it('never exceeds the cap, even after very many failures (no overflow to Infinity or NaN)', () => {
    for (const n of [20, 64, 1024, 10_000, Number.MAX_SAFE_INTEGER]) expect(backoffDelayMs(n)).toBe(DEFAULT_BACKOFF_MAX_MS);
    expect(backoffDelayMs(50, 100, 1500)).toBe(1500);
  });

  it('honours a custom base and cap, and treats a count below 1 as the first failure', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, 100, 1000))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffDelayMs(0, 100, 1000)).toBe(100);
    expect(backoffDelayMs(-3)).toBe(2000);
  });
});

describe('leader election timings', () => {
  it('default to client-go values when no flag is given: 15 s lease, 10 s renew deadline, 2 s retry', () => {
    expect(leaderElectionTimings({})).toEqual({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
  });

  it('take the flags when given, and refuse a value that is not a duration', () => {
    expect(leaderElectionTimings({ 'lease-duration': '6s', 'renew-deadline': '4s', 'retry-period': '500ms' })).toEqual({
      leaseDurationMs: 6000,
      renewDeadlineMs: 4000,
      retryPeriodMs: 500,
    });
    expect(() => leaderElectionTimings({ 'lease-duration': 'soon' })).toThrow(UsageError);
    expect(() => leaderElectionTimings({ 'retry-period': 'soon' })).toThrow('--retry-period "soon" is not a duration like 15s or 500ms');
  });

  it('LeaderElector itself uses the same defaults and refuses inconsistent timings', () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const base = { kc, namespace: 'ns', name: 'lease', identity: 'me', onStartedLeading: () => undefined, onStoppedLeading: () => undefined };
    expect(new LeaderElector(base).timings).toEqual({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(/lease duration > renew deadline/);
  });
});
