// The diff report as Markdown for a pull-request comment, written for a reviewer who has never seen osfleet.
import { formatDiagnostic } from './diagnostics.js';
import type { DiffReport, SettingChange } from './diff.js';

/** Inline code that survives backticks and pipes inside table cells. */
export function code(s: string): string {
  const text = s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  const ticks = text.includes('`') ? '``' : '`';
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${text}${pad}${ticks}`;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function shortRev(r: string): string {
  if (/^[0-9a-f]{40}$/.test(r)) return r.slice(0, 12);
  if (r.startsWith('sha256:')) return `${r.slice(0, 19)}…`;
  return r;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function nodes(selector: string): string {
  return selector === 'all nodes' ? 'all nodes' : `nodes matching ${code(selector)}`;
}

function settingRow(s: SettingChange): string {
  const what = s.kind === 'sysctl' ? `sysctl ${code(s.key)}` : `kernel argument ${code(s.key)} (${s.list === 'add' ? 'add' : 'remove'})`;
  const flag = s.unknown ? ' ⚠ not in catalogue' : '';
  if (s.kind === 'kernelArg') {
    const change = s.after !== undefined ? (s.list === 'add' ? 'now added to the command line' : 'now removed from the command line') : s.list === 'add' ? 'no longer added' : 'no longer removed';
    return `| ${what}${flag} | ${change} | **after reboot** |`;
  }
  const before = s.before !== undefined ? code(s.before) : '—';
  const after = s.after !== undefined ? code(s.after) : '— (no longer set by this document)';
  return `| ${what}${flag} | ${before} → ${after} | ${s.reboot ? '**after reboot**' : 'live, no reboot'} |`;
}

/** Markdown for a PR comment. */
export function formatDiffMarkdown(r: DiffReport): string {
  const out: string[] = [];
  const changedObjects = r.objects.filter((o) => o.change !== 'moved' && o.change !== 'invalid');
  out.push(`## osfleet: what this change does to the fleet`);
  out.push('');
  out.push(`Comparing ${code(shortRev(r.from))} (before) with ${code(shortRev(r.to))} (after).`);
  out.push('');
  const summary: string[] = [];
  if (r.errors.length) summary.push(`**${plural(r.errors.length, 'validation error')}** — the controller will not apply this revision until fixed`);
  if (r.versions.length) summary.push(plural(r.versions.length, 'OS version change'));
  if (r.settings.length) summary.push(plural(r.settings.length, 'node-settings change'));
  if (r.policies.length) summary.push(plural(r.policies.length, 'rollout-policy change'));
  if (r.reboots.length) summary.push(`${plural(r.reboots.length, 'change')} that ${r.reboots.length === 1 ? 'needs' : 'need'} node reboots`);
  if (r.unknownSettings.length) summary.push(`${plural(r.unknownSettings.length, 'setting')} not in osfleet's catalogue`);
  if (!r.hasChanges && !r.errors.length) summary.push('no change to what is rendered (comments, formatting or file moves only)');
  out.push(`**Summary:** ${summary.join('; ')}.`);
  out.push('');
  out.push('> osfleet renders this repository into `OS` objects (one per RolloutPolicy: which OS version a group of nodes runs, and when and how fast it may roll out) and `OSConfig` objects (one per NodeSettings: sysctl and kernel-argument settings for a group of nodes). Nodes are chosen by label selectors. A reboot happens node by node, in the batches and maintenance windows of the policy that selects the node.');
  out.push('');

  if (r.errors.length) {
    out.push('### ❌ Validation errors in the new revision');
    out.push('');
    out.push('These must be fixed before merging; until then the cluster keeps the last good revision.');
    out.push('');
    out.push('```');
    for (const e of r.errors) out.push(formatDiagnostic(e));
    out.push('```');
    out.push('');
  }

  if (r.versions.length) {
    out.push('### OS version changes');
    out.push('');
    out.push('| Policy | Nodes | Before | After | How it rolls out |');
    out.push('|---|---|---|---|---|');
    for (const v of r.versions) {
      const before = v.from ? `${code(v.from.version)} (${cell(v.from.name)})` : '— (new policy)';
      const after = v.to ? `${code(v.to.version)} (${cell(v.to.name)})${v.imageOnly ? ' — same version, new image digest' : ''}` : '— (policy removed: these nodes keep the version they run)';
      const how = v.to
        ? `${v.paused ? '**paused** — nothing happens until unpaused; then ' : ''}reboots in batches ${code(v.batches.map(String).join(', '))}, ${v.windows.length ? `only during: ${cell(v.windows.join('; '))}` : 'at any time (no maintenance window)'}`
        : '—';
      out.push(`| ${code(v.policy)} | ${nodes(v.selector)} | ${before} | ${after} | ${how} |`);
    }
    out.push('');
  }

  if (r.settings.length) {
    out.push('### Node settings changes');
    out.push('');
    for (const s of r.settings) {
      const head = s.change === 'added' ? 'new' : s.change === 'removed' ? 'removed' : 'changed';
      out.push(`#### ${code(s.config)} (${head}) — ${nodes(s.selector)}, priority ${s.priority}`);
      out.push('');
      if (s.previousSelector !== undefined) out.push(`- Selector changed: before ${nodes(s.previousSelector)}.`);
      if (s.previousPriority !== undefined) out.push(`- Priority changed from ${s.previousPriority} to ${s.priority} (higher wins where two NodeSettings set the same key).`);
      if (s.change === 'removed') out.push('- This NodeSettings document was removed: its settings are no longer applied by osfleet to these nodes.');
      if (s.previousSelector !== undefined || s.previousPriority !== undefined || s.change === 'removed') out.push('');
      if (s.settings.length) {
        out.push('| Setting | Change | Takes effect |');
        out.push('|---|---|---|');
        for (const c of s.settings) out.push(settingRow(c));
        out.push('');
      }
    }
  }

  if (r.unknownSettings.length) {
    out.push('### ⚠ Settings osfleet does not know');
    out.push('');
    out.push("These are not in osfleet's catalogue (`policies/`), so their values are not range-checked; sysctls are applied live. Check the spelling and the value.");
    out.push('');
    for (const u of r.unknownSettings) out.push(`- ${u.kind === 'sysctl' ? 'sysctl' : 'kernel argument'} ${code(u.key)} in ${code(u.config)}`);
    out.push('');
  }

  if (r.policies.length) {
    out.push('### Rollout policy changes');
    out.push('');
    for (const p of r.policies) {
      out.push(`#### ${code(p.policy)} — ${nodes(p.selector)}`);
      out.push('');
      out.push('| What | Before | After |');
      out.push('|---|---|---|');
      const label: Record<string, string> = {
        batches: 'Batches (cumulative share of nodes)',
        maxUnavailable: 'Max nodes down at once',
        soak: 'Wait after each batch',
        failureBudget: 'Failures that halt the rollout',
        stageOutsideWindows: 'Download images outside windows',
        maintenanceWindows: 'Maintenance windows (reboots allowed)',
        denyWindows: 'Deny windows (nothing starts)',
        nodeSelector: 'Nodes selected',
        paused: 'Paused',
        drain: 'Drain',
        healthChecks: 'Health checks after reboot',
      };
      for (const c of [...p.pace, ...p.windows, ...p.other]) out.push(`| ${label[c.field] ?? c.field} | ${cell(c.before)} | ${cell(c.after)} |`);
      out.push('');
    }
  }

  if (r.reboots.length) {
    out.push('### Needs a reboot');
    out.push('');
    for (const b of r.reboots) out.push(`- ${b.kind} ${code(b.name)} (${nodes(b.selector)}): ${cell(b.reason)}`);
    out.push('');
  }

  if (r.objects.length) {
    out.push('<details><summary>Rendered objects</summary>');
    out.push('');
    out.push('| Change | Kind | Name | Source file | Fields |');
    out.push('|---|---|---|---|---|');
    for (const o of r.objects) {
      const file = o.sourceFile ? code(o.sourceFile) : '';
      const moved = o.change === 'moved' && o.previousSourceFile ? ` (was ${code(o.previousSourceFile)})` : '';
      const change = o.change === 'invalid' ? 'not rendered (validation errors)' : o.change;
      out.push(`| ${change} | ${o.kind} | ${code(o.name)} | ${file}${moved} | ${o.fields.map(code).join(', ')} |`);
    }
    out.push('');
    out.push('</details>');
    out.push('');
  }

  if (r.warnings.length) {
    out.push('<details><summary>Warnings (legal, but check them)</summary>');
    out.push('');
    out.push('```');
    for (const w of r.warnings) out.push(formatDiagnostic(w));
    out.push('```');
    out.push('');
    out.push('</details>');
    out.push('');
  }
  if (!changedObjects.length && !r.errors.length) {
    out.push('_Nothing to roll out._');
    out.push('');
  }
  return `${out.join('\n').replace(/\n+$/, '')}\n`;
}
