// `osfleet status` as text: the dashboard's overview in lines. On a terminal with bars and colour,
// piped as plain `key: value` lines a script can grep. Pure.
import type { FleetView, NodeView, OSView } from './fleet-view.js';

export interface StatusTextOptions {
  tty: boolean;
  /** Terminal width (tty only). */
  columns?: number;
  now: number;
  /** Nodes listed per OS at most (those not Idle or Done). */
  maxNodes?: number;
}

const ESC = '\u001b[';
const colour = (tty: boolean, code: string, s: string) => (tty ? `${ESC}${code}m${s}${ESC}0m` : s);
const STATE_COLOUR: Record<string, string> = { Done: '32', Progressing: '34', Waiting: '33', Paused: '33', Halted: '1;31' };

export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m ${s % 60}s`;
}

export function bar(fraction: number, width: number): string {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.round(f * width);
  return `${'█'.repeat(full)}${'░'.repeat(width - full)}`;
}

function windowText(o: OSView, now: number): string {
  if (o.windowOpen) return o.windowCloses ? `window open, closes in ${duration(Date.parse(o.windowCloses) - now)}` : 'window open';
  if (o.nextWindow) return `next window in ${duration(Date.parse(o.nextWindow) - now)} (${o.nextWindow})`;
  return 'no window ahead';
}

function nodeLine(n: NodeView, tty: boolean): string {
  const slots = `A:${n.bootedSlot === 'A' ? '*' : ''}${n.slotA ?? '-'} B:${n.bootedSlot === 'B' ? '*' : ''}${n.slotB ?? '-'}`;
  const dl = n.download === null ? '' : tty ? `  ${bar(n.download, 10)} ${Math.round(n.download * 100)}%` : ` download=${Math.round(n.download * 100)}%`;
  const phase = n.phase === 'Failed' || n.phase === 'RolledBack' ? colour(tty, '31', n.phase) : n.phase;
  return tty
    ? `    ${n.name}  ${phase}  ${slots}  booted ${n.bootedVersion ?? '-'}${dl}${n.message ? `  ${n.message}` : ''}`
    : `node ${n.name} os=${n.os ?? '-'} phase=${n.phase} slots=${slots} booted=${n.bootedVersion ?? '-'}${dl}`;
}

/** The status as lines (no trailing newline). */
export function statusLines(v: FleetView, o: StatusTextOptions): string[] {
  const out: string[] = [];
  const tty = o.tty;
  for (const s of v.sources) {
    const ready = s.suspended ? 'Suspended' : s.ready ? 'Ready' : s.reason;
    out.push(
      tty
        ? `FleetSource ${s.name}  ${colour(tty, s.ready ? '32' : '31', ready)}  ${s.appliedRevision ?? 'nothing applied'}${s.ready ? '' : `\n    ${s.message}`}`
        : `fleetsource ${s.name} ready=${s.ready} reason=${s.reason} applied=${s.appliedRevision ?? '-'} message=${JSON.stringify(s.message)}`,
    );
  }
  if (v.sources.length === 0) out.push(tty ? 'No FleetSources.' : 'fleetsources none');
  for (const os of v.oses) {
    const frac = os.total ? os.updated / os.total : 0;
    if (tty) {
      out.push('');
      out.push(`OS ${os.name} → ${os.version}  ${colour(tty, STATE_COLOUR[os.state] ?? '0', os.state)}`);
      out.push(`  ${bar(frac, Math.max(10, Math.min(30, (o.columns ?? 80) - 60)))} ${os.updated}/${os.total} updated, ${os.inProgress} in progress, ${os.failed} failed`);
      out.push(`  batch ${os.batch} of ${os.totalBatches}  ·  failure budget ${os.failureBudgetLeft} of ${os.failureBudget} left  ·  ${windowText(os, o.now)}`);
      if (os.reason && os.state !== 'Done') out.push(`  ${colour(tty, os.state === 'Halted' ? '31' : '33', `${os.reason}: ${os.message}`)}`);
    } else {
      out.push(
        `os ${os.name} version=${os.version} state=${os.state} updated=${os.updated}/${os.total} inProgress=${os.inProgress} failed=${os.failed} ` +
          `batch=${os.batch}/${os.totalBatches} budgetLeft=${os.failureBudgetLeft}/${os.failureBudget} window=${JSON.stringify(windowText(os, o.now))}` +
          (os.reason && os.state !== 'Done' ? ` reason=${os.reason} message=${JSON.stringify(os.message)}` : ''),
      );
    }
    const busy = v.nodes.filter((n) => n.os === os.name && n.phase !== 'Idle' && n.phase !== 'Done');
    const max = o.maxNodes ?? 20;
    for (const n of busy.slice(0, max)) out.push(nodeLine(n, tty));
    if (busy.length > max) out.push(tty ? `    … and ${busy.length - max} more` : `nodes-more os=${os.name} count=${busy.length - max}`);
  }
  return out;
}
