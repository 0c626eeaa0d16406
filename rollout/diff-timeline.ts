// `osfleet diff` has no fleet to simulate, so its picture is the windows ahead of each policy the
// change touches: when the change may start rolling out, in the policy's zone.
import type { OS } from '../api/resources.js';
import { buildTimeline } from './timeline.js';
import { timelineMarkdown } from './timeline-mermaid.js';

/** Markdown with one gantt chart of maintenance and deny windows per named policy; '' when none. */
export function windowsAheadMarkdown(oses: readonly OS[], policies: readonly string[], now: number): string {
  const wanted = oses.filter((o) => policies.includes(o.metadata.name)).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  if (wanted.length === 0) return '';
  const out = [
    '### When the changed policies may roll out',
    '',
    `Maintenance and deny windows of the week from ${new Date(now).toISOString()}, in each policy's zone. \`osfleet plan --fleet\` adds the batches.`,
    '',
  ];
  for (const os of wanted) {
    const zone = os.spec.maintenanceWindows[0]?.timeZone ?? 'UTC';
    const timeline = buildTimeline(
      {
        name: os.metadata.name,
        version: os.spec.osVersion.version,
        timeZone: zone,
        batches: [],
        soaks: [],
        maintenanceWindows: os.spec.maintenanceWindows,
        denyWindows: os.spec.denyWindows,
        finishedAt: null,
      },
      now,
    );
    out.push(`#### ${os.metadata.name}`, '');
    const any = os.spec.maintenanceWindows.length + os.spec.denyWindows.length > 0;
    out.push(any ? timelineMarkdown(timeline) : 'No maintenance or deny windows: changes may start at any time.', '');
  }
  return out.join('\n');
}
