// `osfleet plan` as Markdown for a pull-request comment: per policy, a timeline chart, the batches
// with their start times in the policy's zone (and in UTC when that differs), and which nodes reboot.
import { describeWindow } from '../render/diff.js';
import type { PlanReport } from './plan-report.js';
import { buildTimeline } from './timeline.js';
import { timelineMarkdown } from './timeline-mermaid.js';

const isUTC = (zone: string) => ['UTC', 'Etc/UTC', 'Etc/UCT', 'UCT', 'Etc/Universal', 'Universal', 'Zulu', 'Etc/Zulu'].includes(zone);

const list = (names: readonly string[], max = 8) =>
  names.length <= max ? names.map((n) => `\`${n}\``).join(', ') : `${names.slice(0, max).map((n) => `\`${n}\``).join(', ')} and ${names.length - max} more`;

export function formatPlanMarkdown(r: PlanReport): string {
  const out: string[] = ['## osfleet rollout plan', '', `Simulated from ${r.now} with nodes that succeed at once; real nodes take longer, so later batches may start in later windows.`, ''];
  for (const p of r.policies) {
    out.push(`### ${p.name} → ${p.version}`, '');
    const settings = p.settingsChanges
      ? `${p.settingsChanges} change settings (${p.settingsReboots === 0 ? 'all live, no reboot' : `${p.settingsReboots} need a reboot: kernel arguments or boot-time sysctls`})`
      : 'settings unchanged';
    out.push(`${p.selected} node(s) selected: ${p.versionChanges} change OS version, ${settings}.`);
    out.push(
      p.maintenanceWindows.length
        ? `Maintenance windows: ${p.maintenanceWindows.map(describeWindow).join('; ')}.`
        : 'No maintenance windows: changes may start at any time.',
    );
    if (p.denyWindows.length) out.push(`Deny windows: ${p.denyWindows.map(describeWindow).join('; ')}.`);
    out.push('');
    if (p.batches.length === 0) {
      out.push('Nothing to do: every selected node already runs this version with these settings.', '');
    } else {
      out.push(timelineMarkdown(buildTimeline(p, Date.parse(r.now))), '');
      const utc = isUTC(p.timeZone);
      out.push(
        utc ? '| batch | starts (UTC) | nodes | reboot |' : `| batch | starts (${p.timeZone}) | starts (UTC) | nodes | reboot |`,
        utc ? '|---|---|---|---|' : '|---|---|---|---|---|',
      );
      for (const b of p.batches) {
        const reboot = b.reboot.length === b.nodes.length ? 'all' : b.reboot.length === 0 ? 'none (live settings)' : list(b.reboot);
        const when = b.start === null ? ['not within the simulated horizon', '—'] : [b.startLocal, b.start];
        const cols = utc ? [b.start === null ? when[0] : b.start] : when;
        out.push(`| ${b.index + 1}${b.index === 0 ? ' (canary)' : ''} | ${cols.join(' | ')} | ${list(b.nodes)} | ${b.start === null ? '—' : reboot} |`);
      }
      // The simulator lists only batches that take nodes: a share that rounds to what the batch
      // before already took (10% of 3 nodes) adds none.
      const present = new Set(p.batches.map((b) => b.index));
      const last = Math.max(...present);
      const empty = Array.from({ length: last }, (_, i) => i).filter((i) => !present.has(i)).map((i) => String(i + 1));
      if (empty.length) {
        const many = empty.length > 1;
        out.push('', `Batch${many ? 'es' : ''} ${empty.join(', ')} add${many ? '' : 's'} no node: ${many ? 'their shares' : 'its share'} of ${p.selected} node(s) round${many ? '' : 's'} to no more than the batch before.`);
      }
      out.push('');
      if (p.finishedAt) out.push(`All nodes done by ${p.finishedAt}.`, '');
    }
    if (p.problem) out.push(`**${p.problem.reason}**: ${p.problem.message}${p.notUpdated.length ? ` Not updated: ${list(p.notUpdated)}.` : ''}`, '');
  }
  if (r.conflicts.length) {
    out.push('### Conflicts', '', 'These nodes are selected by more than one RolloutPolicy and are left alone until the selectors are made disjoint:', '');
    for (const c of r.conflicts) out.push(`- \`${c.node}\`: ${c.policies.map((p) => `\`${p}\``).join(', ')}`);
    out.push('');
  }
  if (r.unmanagedNodes.length) out.push(`Not selected by any RolloutPolicy (OS left alone): ${list(r.unmanagedNodes)}.`, '');
  return out.join('\n');
}
