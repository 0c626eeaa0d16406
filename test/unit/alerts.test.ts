// The alerting rules in deploy/monitoring/: promtool's own checks and unit tests, and every metric
// they use is one the controller registers (the integration test checks a live scrape too).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ControllerMetrics } from '../../controller/metrics.js';
import { RolloutMetrics } from '../../controller/rollout/metrics.js';
import { MONITORING_DIR as dir, ruleMetricNames } from '../harness/alert-rules.js';

const run = promisify(execFile);

async function promtool(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd: dir });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('promtool is not installed: apt-get install prometheus (listed in hack/apt-packages.txt)');
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('alerting rules', () => {
  it('pass `promtool check rules`', async () => {
    const r = await promtool(['check', 'rules', 'osfleet-alerts.rules.yaml']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/SUCCESS: 7 rules found/);
  });

  it('pass their promtool unit tests (halt, stuck phases, FleetSource, webhook signatures, leader)', async () => {
    const r = await promtool(['test', 'rules', 'osfleet-alerts.test.yaml']);
    expect(r.code, r.out).toBe(0);
  });

  it('use only metrics the controller registers', async () => {
    const c = new ControllerMetrics();
    new RolloutMetrics(c.registry);
    const registered = new Set(c.registry.getMetricsAsArray().map((m) => m.name));
    const used = ruleMetricNames();
    expect(used.length).toBeGreaterThanOrEqual(7);
    expect(used.filter((n) => !registered.has(n))).toEqual([]);
  });
});
