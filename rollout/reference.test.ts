// The planner's windows and batches against oracles written from the README alone
// (rollout/testing/reference.ts): brute force over wall-clock minutes with Intl for zones.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { referenceBatches, referenceIsOpen, type RefWindow } from './testing/reference.js';
import { assignBatches } from './planner.js';
import { isOpen } from './windows.js';
import { initialFleet } from './simulate.js';
import type { RolloutPolicy } from './types.js';

const t = (iso: string) => Date.parse(iso);
const MIN = 60_000;

const WINDOWS: RefWindow[][] = [
  [{ schedule: '0 2 * * *', duration: '4h', timeZone: 'Europe/Berlin' }],
  [{ schedule: '30 2 * * *', duration: '4h', timeZone: 'Europe/Berlin' }],
  [{ schedule: '*/20 2 * * *', duration: '30m', timeZone: 'Europe/Berlin' }],
  [{ schedule: '30 1 * * 1-5', duration: '90m', timeZone: 'America/New_York' }],
  [{ schedule: '0 1 * * *', duration: '2h', timeZone: 'America/New_York' }],
  [{ schedule: '15 2 * * 0', duration: '3h', timeZone: 'Australia/Lord_Howe' }],
  [{ schedule: '0 */6 * * *', duration: '1h', timeZone: 'Asia/Kolkata' }],
  [{ schedule: '0 22 1,15 * 5', duration: '6h', timeZone: 'UTC' }],
];
const DENY: RefWindow[][] = [[], [{ schedule: '0 0 * * 3', duration: '24h', timeZone: 'UTC' }], [{ schedule: '0 3 * * *', duration: '1h', timeZone: 'Europe/Berlin' }]];
/** DST changes of 2026 in the zones above, where hand-written zone arithmetic goes wrong. */
const TRANSITIONS = ['2026-03-08T07:00Z', '2026-11-01T06:00Z', '2026-03-29T01:00Z', '2026-10-25T01:00Z', '2026-04-04T15:00Z', '2026-10-03T15:30Z'].map(t);

describe('the reference windows follow the README example (Europe/Berlin, 30 2 * * *, 4h)', () => {
  const w = [{ schedule: '30 2 * * *', duration: '4h', timeZone: 'Europe/Berlin' }];
  it('opens at 03:00 CEST when 02:30 does not exist, and only once on the day 02:30 happens twice', () => {
    expect(referenceIsOpen(w, [], t('2026-03-29T00:59Z'))).toBe(false);
    expect(referenceIsOpen(w, [], t('2026-03-29T01:00Z'))).toBe(true);
    expect(referenceIsOpen(w, [], t('2026-03-29T04:59Z'))).toBe(true);
    expect(referenceIsOpen(w, [], t('2026-03-29T05:00Z'))).toBe(false);
    expect(referenceIsOpen(w, [], t('2026-10-25T00:30Z'))).toBe(true);
    expect(referenceIsOpen(w, [], t('2026-10-25T04:29Z'))).toBe(true);
    expect(referenceIsOpen(w, [], t('2026-10-25T04:30Z'))).toBe(false); // no second opening at 02:30 CET
  });
});

describe('isOpen agrees with the reference', () => {
  const instant = fc.oneof(
    fc.integer({ min: 0, max: 365 * 24 * 60 }).map((m) => t('2026-01-01T00:00Z') + m * MIN),
    fc.tuple(fc.constantFrom(...TRANSITIONS), fc.integer({ min: -12 * 60, max: 12 * 60 })).map(([at, m]) => at + m * MIN),
  );

  it('at random instants of 2026 and around every DST change', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: WINDOWS.length - 1 }), fc.integer({ min: 0, max: DENY.length - 1 }), instant, (wi, di, at) => {
        expect(isOpen(WINDOWS[wi]!, DENY[di]!, at), `${JSON.stringify(WINDOWS[wi])} deny ${JSON.stringify(DENY[di])} at ${new Date(at).toISOString()}`).toBe(
          referenceIsOpen(WINDOWS[wi]!, DENY[di]!, at),
        );
      }),
      { numRuns: 400 },
    );
  });

  it('minute by minute through both Berlin DST changes', () => {
    for (const day of ['2026-03-29T00:00Z', '2026-10-25T00:00Z']) {
      for (let m = 0; m < 8 * 60; m += 7) {
        const at = t(day) + m * MIN;
        for (const w of WINDOWS.slice(0, 3)) expect(isOpen(w, [], at), `${w[0]!.schedule} at ${new Date(at).toISOString()}`).toBe(referenceIsOpen(w, [], at));
      }
    }
  });
});

describe('assignBatches agrees with the reference', () => {
  it('for random fleets, zones and batch lists', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 5 }),
        fc.boolean(),
        fc.constantFrom<(number | string)[]>([1, '100%'], [1, '10%', '50%', '100%'], ['100%'], [2, '30%', '100%'], [1, 3, '25%', '100%'], [5, '10%', '100%']),
        (size, zones, someUnzoned, batches) => {
          const nodes = Array.from({ length: size }, (_, i) => ({
            name: `node-${String.fromCharCode(97 + ((i * 7) % 26))}${i}`,
            zone: zones === 0 || (someUnzoned && i % 4 === 3) ? undefined : `zone-${String.fromCharCode(99 - (i % zones))}`,
          }));
          const fleet = initialFleet(
            nodes.map((n) => ({ name: n.name, labels: { role: 'worker', ...(n.zone ? { 'topology.kubernetes.io/zone': n.zone } : {}) }, osVersion: '1', appliedConfigHash: 'h', desiredConfig: { hash: 'h', needsReboot: false } })),
          );
          const p: RolloutPolicy = {
            name: 'workers',
            generation: 1,
            selector: { matchLabels: { role: 'worker' } },
            target: { version: '2', image: { url: 'https://images.example.com/root.img', sha256: 'a'.repeat(64) } },
            strategy: { batches, maxUnavailable: 1, soakMs: 0, failureBudget: 1, stageOutsideWindows: false },
            maintenanceWindows: [],
            denyWindows: [],
            paused: false,
          };
          const got = assignBatches(fleet, [p])[0]!.batches.map((b) => b.nodes);
          expect(got).toEqual(referenceBatches(nodes, batches));
        },
      ),
      { numRuns: 300 },
    );
  });
});
