// A timeline as a Mermaid `gantt` block, which GitHub and GitLab draw in a pull-request comment.
// Times are wall-clock times in the policy's zone (Mermaid has no zones), named in the title; the
// viewer's "today" marker is off because it would be drawn in the viewer's zone.
import { localTime } from './zone.js';
import type { Timeline, TimelineRow } from './timeline.js';

const SECTIONS: ReadonlyArray<{ row: TimelineRow; title: string; tag: string; id: string }> = [
  { row: 'maintenance', title: 'maintenance windows', tag: 'active, ', id: 'w' },
  { row: 'deny', title: 'deny windows', tag: 'crit, ', id: 'd' },
  { row: 'batch', title: 'batches', tag: '', id: 'b' },
  { row: 'soak', title: 'soak', tag: 'done, ', id: 's' },
];

/** Mermaid reads `:` as the start of task data and `#` / `;` as comments and statement ends. */
function text(s: string): string {
  return s.replace(/[:;#\r\n]+/g, ' ').replace(/\s+/g, ' ').trim();
}

/** `YYYY-MM-DD HH:mm` on the wall clock of `zone`. */
export function wallTime(zone: string, ms: number): string {
  const t = localTime(zone, ms);
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${t.year}-${p2(t.month)}-${p2(t.day)} ${p2(t.hour)}:${p2(t.minute)}`;
}

/** The gantt chart's source, without the Markdown fence. */
export function timelineToMermaid(t: Timeline): string {
  const out = [
    'gantt',
    `  title ${text(`${t.policy} → ${t.version}, times in ${t.timeZone}`)}`,
    '  dateFormat YYYY-MM-DD HH:mm',
    `  axisFormat ${t.to - t.from > 3 * 86_400_000 ? '%b %d' : '%b %d %H:%M'}`,
    '  todayMarker off',
  ];
  for (const s of SECTIONS) {
    const bars = t.bars.filter((b) => b.row === s.row);
    if (bars.length === 0) continue;
    out.push(`  section ${s.title}`);
    bars.forEach((b, i) => out.push(`  ${text(b.label)} :${s.tag}${s.id}${i}, ${wallTime(t.timeZone, b.start)}, ${wallTime(t.timeZone, b.end)}`));
  }
  return out.join('\n');
}

/** The chart as a fenced Markdown block. */
export function timelineMarkdown(t: Timeline): string {
  return ['```mermaid', timelineToMermaid(t), '```'].join('\n');
}
