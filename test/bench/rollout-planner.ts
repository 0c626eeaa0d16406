// Benchmark of the rollout planner: one plan() over fleets of 1k, 10k and 50k nodes in the middle
// of a rollout (some updated, some in progress, the rest pending), three policies, real windows.
import { plan } from '../../rollout/planner.js';
import type { Fleet, FleetNode, RolloutPolicy } from '../../rollout/types.js';

const OLD = '24.03';
const NEW = '24.03-SP1';
const DIGEST = 'b'.repeat(64);

function policies(): RolloutPolicy[] {
  const base = (name: string, role: string, zone: string): RolloutPolicy => ({
    name,
    generation: 3,
    selector: { matchLabels: { role }, matchExpressions: [{ key: 'osfleet.dev/skip', operator: 'DoesNotExist' }] },
    target: { version: NEW, image: { url: 'https://images.example.com/root.img', sha256: DIGEST } },
    strategy: { batches: [1, '10%', '50%', '100%'], maxUnavailable: '10%', soakMs: 0, failureBudget: '5%', stageOutsideWindows: true },
    maintenanceWindows: [{ schedule: '0 1 * * *', duration: '6h', timeZone: zone }],
    denyWindows: [{ schedule: '0 0 20 12 *', duration: '336h', timeZone: 'UTC' }],
    paused: false,
  });
  return [base('workers', 'worker', 'Europe/Berlin'), base('edge', 'edge', 'America/New_York'), base('infra', 'infra', 'Asia/Kolkata')];
}

function fleet(size: number): Fleet {
  const roles = ['worker', 'worker', 'worker', 'edge', 'infra'];
  const nodes: FleetNode[] = [];
  for (let i = 0; i < size; i++) {
    const role = roles[i % roles.length]!;
    const updated = i % 10 < 3;
    const inFlight = i % 10 === 3 && i % 20 === 3;
    nodes.push({
      name: `node-${String(i).padStart(6, '0')}`,
      labels: { role, 'topology.kubernetes.io/zone': `zone-${i % 3}`, 'kubernetes.io/hostname': `node-${i}` },
      ready: true,
      unschedulable: false,
      cordonedByUs: false,
      drained: false,
      desiredConfig: { hash: 'sha256:cfg', needsReboot: false },
      osnode: {
        spec: {},
        status: {
          phase: updated ? 'Done' : inFlight ? 'Staged' : 'Idle',
          bootedSlot: 'A',
          bootedVersion: updated ? NEW : OLD,
          slots: { A: { version: updated ? NEW : OLD }, B: { version: inFlight ? NEW : OLD } },
          appliedConfigHash: 'sha256:cfg',
          pendingReboot: [],
        },
      },
    });
  }
  return { nodes };
}

/** Writes what the controller would have written earlier (targets, permits), so the fleet is mid-rollout. */
function settle(f: Fleet, ps: RolloutPolicy[], now: number): void {
  const byName = new Map(f.nodes.map((n) => [n.name, n]));
  for (const a of plan(f, ps, now).actions) {
    const os = byName.get(a.node)?.osnode;
    if (!os) continue;
    if (a.type === 'setTarget') {
      os.spec.target = a.target;
      os.spec.configHash = a.configHash;
    } else if (a.type === 'grant') {
      os.spec.permit = a.permit;
    }
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function measure(size: number, runs: number): number {
  const f = fleet(size);
  const ps = policies();
  const now = Date.parse('2026-06-10T02:00:00Z');
  settle(f, ps, now);
  for (let i = 0; i < 5; i++) plan(f, ps, now + i * 1000); // warm-up: JIT, window and zone caches
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    plan(f, ps, now + i * 1000);
    times.push(performance.now() - t0);
  }
  return median(times);
}

export async function run(): Promise<Array<{ name: string; value: number; unit: string }>> {
  // A first pass warms the JIT on every size; the second pass is the measurement.
  measure(1_000, 5);
  measure(10_000, 5);
  measure(50_000, 3);
  const k1 = measure(1_000, 41);
  const k10 = measure(10_000, 31);
  const k50 = measure(50_000, 15);
  const round = (x: number) => Math.round(x * 100) / 100;
  return [
    { name: 'rollout.planner_1k_ms', value: round(k1), unit: 'ms' },
    { name: 'rollout.planner_10k_ms', value: round(k10), unit: 'ms' },
    { name: 'rollout.planner_50k_ms', value: round(k50), unit: 'ms' },
    { name: 'rollout.planner_50k_over_10k', value: round(k50 / k10), unit: 'ratio' },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await run()) process.stdout.write(`${JSON.stringify(line)}\n`);
}
