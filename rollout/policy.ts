// An OS object (the controller's cache, or a rendered one for `osfleet plan`) → the planner's
// RolloutPolicy, with the memory its status carries. Pure.
import { parseDuration } from '../api/duration.js';
import type { OSSpec, OSStatus } from '../api/resources.js';
import { memoryFromStatus } from './memory.js';
import type { RolloutPolicy } from './types.js';
import type { WindowSpec } from './windows.js';

/** What toPolicy reads of an OS object. */
export interface OSLike {
  metadata: { name: string; generation?: number };
  spec: OSSpec;
  status?: OSStatus;
}

/** The windows of an OS spec with the time zone defaulted (UTC). */
export function windowsOf(ws: OSSpec['maintenanceWindows'] | undefined): WindowSpec[] {
  return (ws ?? []).map((w) => ({ schedule: w.schedule, duration: w.duration, timeZone: w.timeZone ?? 'UTC' }));
}

export function toPolicy(os: OSLike): RolloutPolicy {
  const s = os.spec.strategy ?? ({} as Partial<OSSpec['strategy']>);
  const soak = parseDuration(s?.soak ?? '0s');
  return {
    name: os.metadata.name,
    generation: os.metadata.generation ?? 0,
    selector: os.spec.nodeSelector ?? {},
    target: { version: os.spec.osVersion.version, image: os.spec.osVersion.image },
    strategy: {
      batches: s?.batches ?? [1, '100%'],
      maxUnavailable: s?.maxUnavailable ?? 1,
      soakMs: soak.ok ? soak.ms : 0,
      failureBudget: s?.failureBudget ?? 1,
      stageOutsideWindows: s?.stageOutsideWindows ?? false,
    },
    maintenanceWindows: windowsOf(os.spec.maintenanceWindows),
    denyWindows: windowsOf(os.spec.denyWindows),
    paused: os.spec.paused ?? false,
    memory: memoryFromStatus(os.status),
  };
}
