import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignBatches, plan } from './planner.js';
import { applyInstantly, initialFleet, simulate, type SimNode } from './simulate.js';
import type { Action, Fleet, FleetNode, RolloutPolicy, Strategy } from './types.js';
import type { WindowSpec } from './windows.js';
import { referenceBatches, referenceIsOpen } from './testing/reference.js';

const OLD = '24.03';
const NEW = '24.03-SP1';
const t = (s: string) => Date.parse(s);
const MIN = 60_000;

function policy(over: Partial<RolloutPolicy> = {}, strategy: Partial<Strategy> = {}): RolloutPolicy {
  return {
    name: 'workers',
    generation: 1,
    selector: { matchLabels: { role: 'worker' } },
    target: { version: NEW, image: { url: 'https://images.example.com/root.img', sha256: 'a'.repeat(64) } },
    strategy: { batches: [1, '50%', '100%'], maxUnavailable: 1, soakMs: 0, failureBudget: 2, stageOutsideWindows: false, ...strategy },
    maintenanceWindows: [{ schedule: '0 2 * * *', duration: '4h', timeZone: 'UTC' }],
    denyWindows: [],
    paused: false,
    ...over,
  };
}

function nodes(count: number, extra: Partial<SimNode> = {}): SimNode[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `n${String(i).padStart(2, '0')}`,
    labels: { role: 'worker', 'topology.kubernetes.io/zone': `z${i % 3}` },
    osVersion: OLD,
    ...extra,
  }));
}

/** Plans and applies until nothing changes at this instant; returns every action taken. */
function settle(fleet: Fleet, policies: RolloutPolicy[], now: number): Action[] {
  const all: Action[] = [];
  for (let i = 0; i < 200; i++) {
    const r = plan(fleet, policies, now);
    r.policyStatus.forEach((s, k) => (policies[k]!.memory = s.memory));
    if (r.actions.length === 0) break;
    all.push(...r.actions);
    applyInstantly(fleet, r.actions, (p) => policies.find((x) => x.name === p)?.target.version);
  }
  return all;
}

const of = (actions: Action[], type: Action['type']) => actions.filter((a) => a.type === type).map((a) => a.node);

describe('planner: windows', () => {
  it('starts nothing outside a maintenance window when staging must wait too', () => {
    const fleet = initialFleet(nodes(3));
    const r = plan(fleet, [policy()], t('2026-06-10T12:00Z'));
    expect(r.actions).toEqual([]);
    const progressing = r.policyStatus[0]!.conditions.find((c) => c.type === 'Progressing')!;
    expect(progressing.reason).toBe('OutsideMaintenanceWindow');
    expect(r.policyStatus[0]!.nextWindow?.start).toBe('2026-06-11T02:00:00.000Z');
  });

  it('stages outside windows when stageOutsideWindows is set, but neither drains nor reboots', () => {
    const fleet = initialFleet(nodes(3));
    const actions = settle(fleet, [policy({}, { stageOutsideWindows: true })], t('2026-06-10T12:00Z'));
    expect(of(actions, 'cordon')).toEqual([]);
    expect(actions.filter((a) => a.type === 'grant' && a.permit.reboot)).toEqual([]);
    expect(actions.filter((a) => a.type === 'grant' && a.permit.stage).map((a) => a.node)).toEqual(['n00']); // the canary batch only
    expect(fleet.nodes[0]!.osnode!.status.slots?.B?.version).toBe(NEW);
  });

  it('lets a node that was drained inside the window finish its reboot after the window closed', () => {
    const fleet = initialFleet(nodes(1));
    const p = policy({}, { batches: ['100%'] });
    const first = plan(fleet, [p], t('2026-06-10T05:59Z'));
    p.memory = first.policyStatus[0]!.memory;
    applyInstantly(fleet, first.actions.filter((a) => a.type !== 'drain'), () => NEW); // staged and cordoned, drain still running
    const staged = plan(fleet, [p], t('2026-06-10T05:59:30Z'));
    applyInstantly(fleet, staged.actions, () => NEW); // cordon + drain done now
    const later = plan(fleet, [p], t('2026-06-10T07:00Z')); // window closed
    expect(later.actions.some((a) => a.type === 'grant' && a.permit.reboot)).toBe(true);
  });
});

describe('planner: batches, canary, soak, maxUnavailable', () => {
  it('updates the canary first, soaks, then the next batch, never more than maxUnavailable at once', () => {
    const fleet = initialFleet(nodes(6));
    const p = policy({}, { batches: [1, '50%', '100%'], maxUnavailable: 2, soakMs: 30 * MIN });
    const at = t('2026-06-10T02:00Z');
    const a1 = settle(fleet, [p], at);
    expect(of(a1, 'cordon')).toEqual(['n00']);
    expect(p.memory!.soakUntil).toBe('2026-06-10T02:30:00.000Z');
    expect(settle(fleet, [p], at + 10 * MIN)).toEqual([]); // soaking
    const a2 = settle(fleet, [p], at + 30 * MIN);
    expect(of(a2, 'cordon')).toEqual(['n01', 'n02']);
    const a3 = settle(fleet, [p], at + 60 * MIN);
    expect(of(a3, 'cordon')).toEqual(['n03', 'n04', 'n05']);
    const s = plan(fleet, [p], at + 61 * MIN).policyStatus[0]!;
    expect(s.counts).toMatchObject({ total: 6, updated: 6, failed: 0 });
    expect(s.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'RolloutComplete' });
  });

  it('says Ready only once every updated node is given back: a cordon of ours still held keeps it False, naming the node', () => {
    const fleet = initialFleet(nodes(2));
    const p = policy({}, { batches: ['100%'], maxUnavailable: 2 });
    const at = t('2026-06-10T02:00Z');
    settle(fleet, [p], at);
    const ready = (r: ReturnType<typeof plan>) => r.policyStatus[0]!.conditions.find((c) => c.type === 'Ready');
    const progressing = (r: ReturnType<typeof plan>) => r.policyStatus[0]!.conditions.find((c) => c.type === 'Progressing');
    expect(ready(plan(fleet, [p], at + MIN))).toMatchObject({ status: 'True', reason: 'RolloutComplete' });

    // GIVEN n01 runs the target but its uncordon did not land (a failed write, retried next pass).
    const n01 = fleet.nodes[1]!;
    n01.cordonedByUs = true;
    n01.unschedulable = true;
    const held = plan(fleet, [p], at + 2 * MIN);
    expect(held.policyStatus[0]!.counts).toMatchObject({ total: 2, updated: 2 });
    expect(ready(held)).toMatchObject({ status: 'False', reason: 'RolloutInProgress' });
    expect(ready(held)!.message).toBe(`All 2 node(s) run ${NEW}; 1 still cordoned by osfleet until Ready: n01.`);
    expect(progressing(held)).toMatchObject({ status: 'True', reason: 'Uncordoning' });
    expect(of(held.actions, 'uncordon')).toEqual(['n01']);

    // A node not Ready after its reboot is held too (and not uncordoned before it is Ready).
    n01.ready = false;
    const notReady = plan(fleet, [p], at + 3 * MIN);
    expect(ready(notReady)).toMatchObject({ status: 'False', reason: 'RolloutInProgress' });
    expect(of(notReady.actions, 'uncordon')).toEqual([]);

    // Given back: Ready.
    n01.ready = true;
    applyInstantly(fleet, plan(fleet, [p], at + 4 * MIN).actions, () => NEW);
    expect(n01.cordonedByUs).toBe(false);
    expect(ready(plan(fleet, [p], at + 5 * MIN))).toMatchObject({ status: 'True', reason: 'RolloutComplete' });
  });

  it('holds the next batch while a rebooted node fails its health gate (NotReady, or its checked pods not Ready)', () => {
    const fleet = initialFleet(nodes(4));
    const p = policy({}, { batches: [1, '100%'], maxUnavailable: 2 });
    const at = t('2026-06-10T02:00Z');
    const canary = fleet.nodes[0]!;
    // GIVEN the canary has rebooted into the new version, but its gate does not pass: the executor
    // reports such a node as not ready to the planner.
    for (let i = 0; i < 50 && canary.osnode?.status.bootedVersion !== NEW; i++) {
      const r = plan(fleet, [p], at);
      p.memory = r.policyStatus[0]!.memory;
      applyInstantly(fleet, r.actions, () => NEW);
    }
    expect(canary.osnode?.status.bootedVersion).toBe(NEW);
    canary.ready = false;
    // WHEN the planner runs again, and again an hour later
    const held = [...settle(fleet, [p], at + MIN), ...settle(fleet, [p], at + 60 * MIN)];
    // THEN the canary stays cordoned and no node of the next batch starts
    expect(of(held, 'uncordon')).toEqual([]);
    expect(of(held, 'cordon')).toEqual([]);
    expect(canary.cordonedByUs).toBe(true);
    // AND once the gate passes, the canary is uncordoned and the next batch goes.
    canary.ready = true;
    const next = settle(fleet, [p], at + 61 * MIN);
    expect(of(next, 'uncordon')).toContain(canary.name);
    expect(of(next, 'cordon').length).toBeGreaterThan(0);
  });

  it('reboots nodes in the planned order: a node staged early does not overtake an earlier one still downloading', () => {
    const fleet = initialFleet(nodes(3));
    const p = policy({}, { batches: ['100%'], maxUnavailable: 1 });
    const at = t('2026-06-10T02:00Z');
    const started = plan(fleet, [p], at);
    p.memory = started.policyStatus[0]!.memory;
    expect(of(started.actions, 'grant')).toEqual(['n00', 'n01', 'n02']);
    for (const a of started.actions) {
      const os = fleet.nodes.find((n) => n.name === a.node)!.osnode!;
      if (a.type === 'setTarget') os.spec.target = a.target;
      if (a.type === 'grant') os.spec.permit = a.permit;
    }
    // The last node in order finishes its download first; the first is still downloading.
    const stage = (name: string) => {
      const os = fleet.nodes.find((n) => n.name === name)!.osnode!;
      os.status = { ...os.status, phase: 'Staged', slots: { ...os.status.slots, B: { version: NEW } }, observedPermitToken: os.spec.permit!.token };
    };
    stage('n02');
    expect(of(plan(fleet, [p], at + MIN).actions, 'cordon')).toEqual([]);
    stage('n00');
    expect(of(plan(fleet, [p], at + 2 * MIN).actions, 'cordon')).toEqual(['n00']);
  });

  it('withdraws the permit of a node that is done and uncordoned, so a stale reboot grant cannot be reused', () => {
    const fleet = initialFleet(nodes(1));
    const p = policy({}, { batches: ['100%'] });
    const at = t('2026-06-10T02:00Z');
    settle(fleet, [p], at);
    const os = fleet.nodes[0]!.osnode!;
    expect(os.status.bootedVersion).toBe(NEW);
    expect(fleet.nodes[0]!.cordonedByUs).toBe(false);
    expect(os.spec.permit).toMatchObject({ stage: false, applySettings: false, reboot: false });
    // Nothing more to do: no further grants once withdrawn.
    expect(plan(fleet, [p], at + MIN).actions).toEqual([]);
  });

  it('counts nodes NotReady or cordoned by others against maxUnavailable', () => {
    const fleet = initialFleet(nodes(4));
    for (const n of fleet.nodes) n.osnode!.status.slots = { A: { version: OLD }, B: { version: NEW } }; // staged already
    fleet.nodes[3]!.ready = false;
    const p = policy({}, { batches: ['100%'], maxUnavailable: 2 });
    const r = plan(fleet, [p], t('2026-06-10T02:00Z'));
    expect(of(r.actions, 'cordon')).toEqual(['n00']); // 1 NotReady + 1 = 2
    fleet.nodes[1]!.unschedulable = true; // someone else cordoned n01
    fleet.nodes[0]!.unschedulable = true;
    fleet.nodes[0]!.cordonedByUs = true;
    const r2 = plan(fleet, [{ ...p, memory: r.policyStatus[0]!.memory }], t('2026-06-10T02:01Z'));
    expect(of(r2.actions, 'cordon')).toEqual([]);
  });
});

describe('planner: failures', () => {
  function failOnReboot(fleet: Fleet, names: string[], actions: Action[]) {
    for (const a of actions) {
      if (a.type === 'grant' && a.permit.reboot && names.includes(a.node)) {
        const st = fleet.nodes.find((n) => n.name === a.node)!.osnode!.status;
        st.phase = 'RolledBack';
        st.bootedVersion = OLD;
        st.bootedSlot = 'A';
      }
    }
  }

  it('halts at the failure budget with the failed nodes named, and resumes on a new generation', () => {
    const fleet = initialFleet(nodes(6));
    const p = policy({}, { batches: [1, '100%'], maxUnavailable: 3, failureBudget: 2 });
    const at = t('2026-06-10T02:00Z');
    for (let i = 0; i < 10; i++) {
      const r = plan(fleet, [p], at + i * MIN);
      p.memory = r.policyStatus[0]!.memory;
      applyInstantly(fleet, r.actions, () => NEW);
      failOnReboot(fleet, ['n01', 'n02'], r.actions);
    }
    const s = plan(fleet, [p], at + 20 * MIN).policyStatus[0]!;
    const paused = s.conditions.find((c) => c.type === 'Paused')!;
    expect(paused).toMatchObject({ status: 'True', reason: 'FailureBudgetReached' });
    expect(paused.message).toContain('n01, n02');
    expect(s.conditions.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'FailureBudgetReached' });
    expect(s.counts.failed).toBe(2);
    // Failed nodes were given back.
    expect(fleet.nodes.filter((n) => n.cordonedByUs).map((n) => n.name)).toEqual([]);
    // Halted: nothing new starts.
    const halted = plan(fleet, [p], at + 21 * MIN);
    expect(halted.actions.filter((a) => a.type === 'cordon' || a.type === 'setTarget')).toEqual([]);
    // A new generation resumes and retries the failed nodes.
    p.memory = s.memory;
    const resumed = settle(fleet, [{ ...p, generation: 2 }], at + 22 * MIN);
    expect(of(resumed, 'setTarget')).toEqual(expect.arrayContaining(['n01', 'n02']));
  });

  it('halts when the canary fails, even below the failure budget', () => {
    const fleet = initialFleet(nodes(4));
    const p = policy({}, { batches: [1, '100%'], failureBudget: 3 });
    const at = t('2026-06-10T02:00Z');
    for (let i = 0; i < 6; i++) {
      const r = plan(fleet, [p], at + i * MIN);
      p.memory = r.policyStatus[0]!.memory;
      applyInstantly(fleet, r.actions, () => NEW);
      failOnReboot(fleet, ['n00'], r.actions);
    }
    const s = plan(fleet, [p], at + 10 * MIN).policyStatus[0]!;
    expect(s.conditions.find((c) => c.type === 'Paused')).toMatchObject({ status: 'True', reason: 'CanaryFailed' });
    expect(s.counts.updated).toBe(0);
  });

  it('resumes a halted rollout when paused is toggled', () => {
    const fleet = initialFleet(nodes(3));
    const p = policy({}, { batches: ['100%'], failureBudget: 1 });
    const at = t('2026-06-10T02:00Z');
    for (let i = 0; i < 6; i++) {
      const r = plan(fleet, [p], at + i * MIN);
      p.memory = r.policyStatus[0]!.memory;
      applyInstantly(fleet, r.actions, () => NEW);
      failOnReboot(fleet, ['n00'], r.actions);
    }
    expect(p.memory!.halted?.reason).toBe('FailureBudgetReached');
    p.memory = plan(fleet, [{ ...p, paused: true }], at + 10 * MIN).policyStatus[0]!.memory;
    const r = plan(fleet, [p], at + 11 * MIN);
    expect(r.policyStatus[0]!.memory.halted).toBeUndefined();
  });
});

describe('planner: settings, rollback, conflicts', () => {
  it('applies live sysctl changes in batches without drain or reboot', () => {
    const sim = nodes(4, { osVersion: NEW, appliedConfigHash: 'sha256:old', desiredConfig: { hash: 'sha256:new', needsReboot: false } });
    const fleet = initialFleet(sim);
    const p = policy({}, { batches: [1, '100%'], soakMs: 10 * MIN });
    const a1 = settle(fleet, [p], t('2026-06-10T02:00Z'));
    expect(a1.filter((a) => a.type === 'grant' && a.permit.applySettings).map((a) => a.node)).toEqual(['n00']);
    const a2 = settle(fleet, [p], t('2026-06-10T02:10Z'));
    const all = [...a1, ...a2];
    expect(of(all, 'cordon')).toEqual([]);
    expect(of(all, 'drain')).toEqual([]);
    expect(all.some((a) => a.type === 'grant' && a.permit.reboot)).toBe(false);
    expect(fleet.nodes.every((n) => n.osnode!.status.appliedConfigHash === 'sha256:new')).toBe(true);
  });

  it('drains and reboots for kernel-argument changes', () => {
    const sim = nodes(2, { osVersion: NEW, appliedConfigHash: 'sha256:old', desiredConfig: { hash: 'sha256:karg', needsReboot: true } });
    const fleet = initialFleet(sim);
    const all = settle(fleet, [policy({}, { batches: ['100%'] })], t('2026-06-10T02:00Z'));
    expect(of(all, 'cordon')).toEqual(['n00', 'n01']);
    expect(all.filter((a) => a.type === 'grant' && a.permit.reboot).map((a) => a.node)).toEqual(['n00', 'n01']);
  });

  it('treats a target equal to the other slot as a rollback: no staging, straight to drain', () => {
    const fleet = initialFleet(nodes(1, { osVersion: NEW }));
    const st = fleet.nodes[0]!.osnode!.status;
    st.slots = { A: { version: NEW }, B: { version: OLD } };
    const r = plan(fleet, [policy({ target: { version: OLD, image: { url: 'https://x/old.img', sha256: 'b'.repeat(64) } } })], t('2026-06-10T02:00Z'));
    const grant = r.actions.find((a) => a.type === 'grant');
    expect(grant?.type === 'grant' && grant.permit.stage).toBe(false);
    expect(of(r.actions, 'cordon')).toEqual(['n00']);
  });

  it('stages again when the other slot holds the target version under a different digest (re-published image)', () => {
    const fleet = initialFleet(nodes(1, { osVersion: NEW }));
    const st = fleet.nodes[0]!.osnode!.status;
    st.slots = { A: { version: NEW }, B: { version: OLD, sha256: 'c'.repeat(64) } };
    const r = plan(fleet, [policy({ target: { version: OLD, image: { url: 'https://x/old.img', sha256: 'b'.repeat(64) } } })], t('2026-06-10T02:00Z'));
    const grant = r.actions.find((a) => a.type === 'grant');
    expect(grant?.type === 'grant' && grant.permit.stage).toBe(true);
    expect(of(r.actions, 'cordon')).toEqual([]);
  });

  it('leaves a node selected by two policies alone and reports the conflict on both', () => {
    const fleet = initialFleet(nodes(2));
    fleet.nodes[0]!.labels = { ...fleet.nodes[0]!.labels, edge: 'true' };
    const edge = policy({ name: 'edge', selector: { matchLabels: { edge: 'true' } } });
    const r = plan(fleet, [policy(), edge], t('2026-06-10T02:00Z'));
    expect(r.actions.filter((a) => a.node === 'n00')).toEqual([]);
    expect(r.conflicts).toEqual([{ node: 'n00', policies: ['edge', 'workers'] }]);
    for (const s of r.policyStatus) {
      expect(s.conditions.find((c) => c.type === 'Conflict')).toMatchObject({ status: 'True', reason: 'NodeSelectedTwice' });
      expect(s.conflictedNodes).toEqual(['n00']);
    }
  });

  it('issues deterministic tokens: the same state plans the same actions', () => {
    const a = plan(initialFleet(nodes(5)), [policy()], t('2026-06-10T02:00Z'));
    const b = plan(initialFleet(nodes(5)), [policy()], t('2026-06-10T02:00Z'));
    expect(a).toEqual(b);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over random fleets, windows, failures and clocks.

const WINDOWS: WindowSpec[][] = [
  [],
  [{ schedule: '0 2 * * *', duration: '4h', timeZone: 'Europe/Berlin' }],
  [{ schedule: '30 1 * * 1-5', duration: '90m', timeZone: 'America/New_York' }],
  [{ schedule: '15 2 * * 0', duration: '3h', timeZone: 'Australia/Lord_Howe' }],
  [{ schedule: '0 */6 * * *', duration: '1h', timeZone: 'Asia/Kolkata' }],
];
const DENY: WindowSpec[][] = [[], [{ schedule: '0 0 * * 3', duration: '24h', timeZone: 'UTC' }]];

const scenario = fc.record({
  size: fc.integer({ min: 1, max: 25 }),
  zones: fc.integer({ min: 0, max: 4 }),
  batches: fc.constantFrom<(number | string)[]>([1, '100%'], [1, '10%', '50%', '100%'], ['100%'], [2, '30%', '100%']),
  maxUnavailable: fc.constantFrom<number | string>(1, 2, 3, '20%'),
  soakMs: fc.constantFrom(0, 20 * MIN, 3 * 60 * MIN),
  failureBudget: fc.constantFrom<number | string>(1, 2, '20%'),
  stageOutsideWindows: fc.boolean(),
  windows: fc.integer({ min: 0, max: WINDOWS.length - 1 }),
  deny: fc.integer({ min: 0, max: DENY.length - 1 }),
  start: fc.integer({ min: 0, max: 365 * 24 * 60 }).map((m) => t('2026-01-01T00:00Z') + m * MIN),
  kind: fc.constantFrom('os', 'liveSettings', 'rebootSettings', 'rollback'),
  seed: fc.integer(),
  failRate: fc.constantFrom(0, 0, 0.1, 0.3),
  flapRate: fc.constantFrom(0, 0.05),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

function build(s: Scenario): { fleet: Fleet; p: RolloutPolicy } {
  const sim: SimNode[] = Array.from({ length: s.size }, (_, i) => ({
    name: `node-${i}`,
    labels: { role: 'worker', ...(s.zones > 0 ? { 'topology.kubernetes.io/zone': `zone-${i % s.zones}` } : {}) },
    osVersion: s.kind === 'os' ? OLD : NEW,
    appliedConfigHash: 'sha256:old',
    desiredConfig: { hash: s.kind === 'liveSettings' || s.kind === 'rebootSettings' ? 'sha256:new' : 'sha256:old', needsReboot: s.kind === 'rebootSettings' },
  }));
  const fleet = initialFleet(sim);
  let target = NEW;
  if (s.kind === 'rollback') {
    target = OLD;
    for (const n of fleet.nodes) n.osnode!.status.slots = { A: { version: NEW }, B: { version: OLD } };
  }
  const p = policy(
    { target: { version: target, image: { url: 'https://x/img', sha256: 'c'.repeat(64) } }, maintenanceWindows: WINDOWS[s.windows]!, denyWindows: DENY[s.deny]! },
    { batches: s.batches, maxUnavailable: s.maxUnavailable, soakMs: s.soakMs, failureBudget: s.failureBudget, stageOutsideWindows: s.stageOutsideWindows },
  );
  return { fleet, p };
}

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function share(v: number | string, total: number): number {
  return Math.max(1, typeof v === 'number' ? v : Math.floor((parseFloat(v) * total) / 100 + 1e-9));
}

describe('planner properties', () => {
  it('never breaks maxUnavailable, windows, batch order or the failure budget', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { fleet, p } = build(s);
        const random = rng(s.seed);
        const maxU = share(s.maxUnavailable, s.size);
        const budget = share(s.failureBudget, s.size);
        const batchOf = new Map<string, number>();
        // Oracles written from the README alone (rollout/testing/reference.ts), not the planner's own code.
        const expected = referenceBatches(
          fleet.nodes.map((n) => ({ name: n.name, zone: n.labels['topology.kubernetes.io/zone'] })),
          p.strategy.batches,
        ).map((nodes, index) => ({ index, nodes }));
        expected.forEach((b) => b.nodes.forEach((n) => batchOf.set(n, b.index)));
        const cordonedInWindow = new Set<string>();
        const batches = expected.filter((b) => b.nodes.length > 0);
        // Zone spread: in the rollout order, no zone gets two nodes ahead of another that still has nodes.
        if (s.zones > 1) {
          const order = batches.flatMap((b) => b.nodes);
          const zoneOf = (n: string) => fleet.nodes.find((x) => x.name === n)!.labels['topology.kubernetes.io/zone']!;
          const left = new Map<string, number>();
          for (const n of order) left.set(zoneOf(n), (left.get(zoneOf(n)) ?? 0) + 1);
          const taken = new Map<string, number>([...left.keys()].map((z) => [z, 0]));
          for (const n of order) {
            const z = zoneOf(n);
            const behind = [...taken].filter(([oz, c]) => oz !== z && (left.get(oz) ?? 0) > c).map(([, c]) => c);
            if (behind.length) expect(taken.get(z)!).toBeLessThanOrEqual(Math.min(...behind));
            taken.set(z, taken.get(z)! + 1);
          }
        }
        // Soak: when the test first sees a batch finished (each node updated, or failed).
        const target = () => p.target.version;
        const finishedNode = (n: FleetNode) =>
          n.osnode?.status.phase === 'Failed' ||
          (n.osnode?.status.bootedVersion === target() && n.osnode?.status.appliedConfigHash === n.desiredConfig?.hash && (n.ready || !n.cordonedByUs));
        const doneAt = new Map<number, number>();
        const everCordoned = new Set<string>();
        let lastBatch = 0;
        let now = s.start;
        for (let step = 0; step < 120; step++) {
          // External trouble: nodes go NotReady and come back.
          for (const n of fleet.nodes) {
            if (!n.cordonedByUs && random() < s.flapRate) n.ready = !n.ready;
          }
          // Kernel-argument changes take effect only through a drain and a reboot.
          if (s.kind === 'rebootSettings') {
            for (const n of fleet.nodes) {
              const st = n.osnode?.status;
              const inEffect = st?.phase !== 'Failed' && st?.appliedConfigHash === n.desiredConfig?.hash && (st?.pendingReboot?.length ?? 0) === 0;
              if (inEffect) expect(everCordoned.has(n.name), `${n.name}: kernel args in effect without a drain`).toBe(true);
            }
          }
          batches.forEach((b, i) => {
            if (!doneAt.has(i) && b.nodes.every((n) => finishedNode(fleet.nodes.find((x) => x.name === n)!))) doneAt.set(i, now);
          });
          const r = plan(fleet, [p], now);
          const status = r.policyStatus[0]!;
          const open = referenceIsOpen(p.maintenanceWindows, p.denyWindows, now);
          const unavailable = fleet.nodes.filter((n) => !n.ready || n.unschedulable).length;
          const cordons = r.actions.filter((a) => a.type === 'cordon');
          // maxUnavailable, counting nodes NotReady or cordoned by others.
          if (cordons.length > 0) expect(unavailable + cordons.length).toBeLessThanOrEqual(maxU);
          for (const a of r.actions) {
            const node = fleet.nodes.find((n) => n.name === a.node)!;
            // No new drain outside an open window; a reboot only for a node drained inside one.
            if (a.type === 'cordon') {
              expect(open).toBe(true);
              cordonedInWindow.add(a.node);
              everCordoned.add(a.node);
              // A later batch starts only after the one before it finished and soaked.
              const bi = batches.findIndex((b) => b.nodes.includes(a.node));
              if (bi > 0) {
                expect(doneAt.has(bi - 1), `batch ${bi} started before batch ${bi - 1} finished`).toBe(true);
                expect(now - doneAt.get(bi - 1)!).toBeGreaterThanOrEqual(s.soakMs);
              }
            }
            if (a.type === 'drain') expect(open || cordonedInWindow.has(a.node)).toBe(true);
            if (a.type === 'grant' && a.permit.reboot && !node.osnode?.spec.permit?.reboot) {
              expect(cordonedInWindow.has(a.node)).toBe(true);
            }
            if (a.type === 'grant' && a.permit.stage && !node.osnode?.spec.permit?.stage) expect(open || s.stageOutsideWindows).toBe(true);
            // Live settings never drain or reboot.
            if (s.kind === 'liveSettings') expect(a.type === 'cordon' || (a.type === 'grant' && a.permit.reboot)).toBe(false);

            if (s.kind === 'rollback' && a.type === 'grant') expect(a.permit.stage).toBe(false);
            // Batches in order: a node starts only in the current batch or an earlier one.
            if (a.type === 'setTarget' && node.osnode?.status.bootedVersion !== p.target.version) {
              expect(batchOf.get(a.node)!).toBeLessThanOrEqual(status.currentBatch);
            }
          }
          expect(status.currentBatch).toBeGreaterThanOrEqual(lastBatch);
          lastBatch = status.currentBatch;
          // The failure budget halts.
          if (status.counts.failed >= budget) {
            expect(status.conditions.find((c) => c.type === 'Paused')).toMatchObject({ status: 'True', reason: 'FailureBudgetReached' });
            expect(r.actions.filter((a) => a.type === 'cordon' || a.type === 'setTarget')).toEqual([]);
          }
          p.memory = status.memory;
          applyInstantly(fleet, r.actions, () => p.target.version);
          for (const a of r.actions) {
            if (a.type === 'uncordon') cordonedInWindow.delete(a.node);
            if (a.type === 'grant' && (a.permit.reboot || a.permit.applySettings) && random() < s.failRate) {
              const st = fleet.nodes.find((n) => n.name === a.node)!.osnode!.status;
              st.phase = 'Failed';
            }
          }
          now += Math.floor(random() * 180 + 1) * MIN;
        }
      }),
      { numRuns: 150 },
    );
  });

  it('eventually updates every node when windows exist and nothing fails', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { fleet, p } = build({ ...s, failRate: 0, flapRate: 0 });
        const sim: SimNode[] = fleet.nodes.map((n) => ({
          name: n.name,
          labels: { ...n.labels },
          osVersion: n.osnode!.status.bootedVersion!,
          appliedConfigHash: n.osnode!.status.appliedConfigHash,
          desiredConfig: n.desiredConfig,
        }));
        if (s.kind === 'rollback') return; // the simulator starts from single-slot nodes
        const report = simulate(sim, [p], s.start, { horizonMs: 60 * 24 * 60 * MIN });
        const out = report.policies[0]!;
        expect(out.notUpdated).toEqual([]);
        expect(out.finishedAt).not.toBeNull();
      }),
      { numRuns: 100 },
    );
  });
});

export type { FleetNode };
