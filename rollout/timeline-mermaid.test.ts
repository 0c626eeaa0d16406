import { beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadAndRender, defaultCatalogue, sysctlNeedsReboot } from '../render/index.js';
import { readFleetFile } from '../cli/plan.js';
import { buildPlan, type PlanReport } from './plan-report.js';
import { formatPlanMarkdown } from './plan-markdown.js';
import { buildTimeline } from './timeline.js';
import { timelineToMermaid } from './timeline-mermaid.js';
import { localTime } from './zone.js';
import { windowsAheadMarkdown } from './diff-timeline.js';
import type { OS, OSConfig } from '../api/resources.js';

// The real Mermaid gantt parser (jison grammar + gantt database, as GitHub runs it). Mermaid
// sanitises titles with DOMPurify, which needs a DOM; Node has none, so its HTML sanitiser is
// replaced by the identity here. Parsing and date handling stay Mermaid's own.
interface GanttTask {
  section: string;
  task: string;
  id: string;
  startTime: Date;
  endTime: Date;
  active?: boolean;
  crit?: boolean;
  done?: boolean;
}
interface Gantt {
  title: string;
  todayMarker: string;
  tasks: GanttTask[];
}
let parseGantt: (src: string) => Promise<Gantt>;

beforeAll(async () => {
  const purify = (await import('dompurify')).default as unknown as Record<string, unknown>;
  purify.addHook ??= () => undefined;
  purify.sanitize ??= (s: string) => s;
  const mermaid = (await import('mermaid')).default;
  parseGantt = async (src) => {
    const ok = await mermaid.parse(src);
    expect(ok && (ok as { diagramType: string }).diagramType).toBe('gantt');
    const d = (await mermaid.mermaidAPI.getDiagramFromText(src)) as unknown as {
      db: { getTasks(): GanttTask[]; getDiagramTitle(): string; getTodayMarker(): string };
    };
    return { title: d.db.getDiagramTitle(), todayMarker: d.db.getTodayMarker(), tasks: d.db.getTasks().map((t) => ({ ...t, task: t.task.trim() })) };
  };
});

const repo = fileURLToPath(new URL('../examples/gitrepo', import.meta.url));
const fleetFile = fileURLToPath(new URL('../examples/fleet.yaml', import.meta.url));
const cat = defaultCatalogue();
const isRebootSysctl = (k: string) => sysctlNeedsReboot(cat, k);
const now = Date.parse('2026-11-25T12:00:00Z'); // a Wednesday

/** The wall-clock reading Mermaid gave a date (it reads dates on the process's local clock). */
const wall = (d: Date) => `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()} ${d.getHours()}:${d.getMinutes()}`;
const wallIn = (zone: string, ms: number) => {
  const t = localTime(zone, ms);
  return `${t.year}-${t.month}-${t.day} ${t.hour}:${t.minute}`;
};

function mermaidBlocks(md: string): string[] {
  return [...md.matchAll(/```mermaid\n([\s\S]*?)\n```/g)].map((m) => m[1]!);
}

async function examplePlan(edit: (os: OS) => OS = (o) => o): Promise<PlanReport> {
  const r = await loadAndRender(repo);
  expect(r.errors).toEqual([]);
  const objects = r.objects.map((o) => (o.kind === 'OS' ? edit(o as OS) : o)) as Array<OS | OSConfig>;
  return buildPlan({ objects, nodes: await readFleetFile(fleetFile), now, isRebootSysctl });
}

describe('the plan timeline as a Mermaid gantt chart', () => {
  it('draws each policy as a chart Mermaid parses: windows, batches and soaks at their wall times in the policy zone', async () => {
    const plan = await examplePlan();
    const md = formatPlanMarkdown(plan);
    const blocks = mermaidBlocks(md);
    expect(blocks).toHaveLength(plan.policies.length);
    for (const [i, p] of plan.policies.entries()) {
      const g = await parseGantt(blocks[i]!);
      expect(g.title).toBe(`${p.name} → ${p.version}, times in ${p.timeZone}`);
      expect(g.todayMarker).toBe('off');
      const batches = g.tasks.filter((t) => t.section === 'batches');
      const started = p.batches.filter((b) => b.start !== null);
      expect(batches.map((t) => wall(t.startTime))).toEqual(started.map((b) => wallIn(p.timeZone, Date.parse(b.start!))));
      const windows = g.tasks.filter((t) => t.section === 'maintenance windows');
      expect(windows.length).toBeGreaterThan(0);
      expect(windows.every((w) => w.active === true)).toBe(true);
      // Every batch starts inside a drawn maintenance window.
      for (const b of batches) expect(windows.some((w) => w.startTime <= b.startTime && b.startTime < w.endTime)).toBe(true);
      const soaks = g.tasks.filter((t) => t.section === 'soak');
      expect(soaks).toHaveLength(p.soaks.length);
      for (const s of soaks) expect(s.endTime > s.startTime).toBe(true);
    }
    const workers = await parseGantt(blocks[plan.policies.findIndex((p) => p.name === 'workers')]!);
    // Weekday window 01:00-05:00 Europe/Berlin, drawn as such whatever zone the viewer is in.
    const w0 = workers.tasks.find((t) => t.id === 'w0')!;
    expect([w0.startTime.getHours(), w0.endTime.getHours()]).toEqual([1, 5]);
    expect(workers.tasks.find((t) => t.id === 'b0')!.task).toBe('batch 1 canary, 1 node');
  });

  it('shows deny windows, and a window months ahead with its date', async () => {
    // Only on 1 June at 03:00 Tokyo: the plan of 25 November must still find it.
    const plan = await examplePlan((os) =>
      os.metadata.name === 'edge-tokyo'
        ? { ...os, spec: { ...os.spec, maintenanceWindows: [{ schedule: '0 3 1 6 *', duration: '6h', timeZone: 'Asia/Tokyo' }] } }
        : os,
    );
    const edge = plan.policies.find((p) => p.name === 'edge-tokyo')!;
    expect(edge.batches[0]!.startLocal).toBe('2027-06-01T03:00:00+09:00');
    const md = formatPlanMarkdown(plan);
    expect(md).not.toContain('not within the simulated horizon');
    const g = await parseGantt(timelineToMermaid(buildTimeline(edge, now)));
    expect(wall(g.tasks.find((t) => t.id === 'b0')!.startTime)).toBe('2027-6-1 3:0');
    const deny = g.tasks.filter((t) => t.section === 'deny windows');
    expect(deny.length).toBeGreaterThan(0);
    expect(deny.every((d) => d.crit === true)).toBe(true);
    // The year-end freeze: 15 December 00:00 for 21 days.
    expect(wall(deny[0]!.startTime)).toBe('2026-12-15 0:0');
    expect(wall(deny[0]!.endTime)).toBe('2027-1-5 0:0');
  });

  it('keeps names with Mermaid syntax characters inside the chart', async () => {
    const plan = await examplePlan((os) => ({ ...os, spec: { ...os.spec, osVersion: { ...os.spec.osVersion, version: 'v1:2#3;4' } } }));
    const g = await parseGantt(timelineToMermaid(buildTimeline(plan.policies[0]!, now)));
    expect(g.title).toContain('v1 2 3 4');
    expect(g.tasks.length).toBeGreaterThan(0);
  });
});

describe('the diff timeline', () => {
  it('charts the week of windows ahead for each policy the change touches, and only those', async () => {
    const r = await loadAndRender(repo);
    const oses = r.objects.filter((o): o is OS => o.kind === 'OS');
    const md = windowsAheadMarkdown(oses, ['edge-tokyo'], now);
    expect(md).toContain('#### edge-tokyo');
    expect(md).not.toContain('#### workers');
    const blocks = mermaidBlocks(md);
    expect(blocks).toHaveLength(1);
    const g = await parseGantt(blocks[0]!);
    const windows = g.tasks.filter((t) => t.section === 'maintenance windows');
    // Every night 02:30-05:30 Tokyo, for the seven days from Wednesday 25 November 21:00 Tokyo.
    expect(windows.map((w) => wall(w.startTime))).toEqual(['2026-11-26 2:30', '2026-11-27 2:30', '2026-11-28 2:30', '2026-11-29 2:30', '2026-11-30 2:30', '2026-12-1 2:30', '2026-12-2 2:30']);
    expect(windows.every((w) => w.endTime.getTime() - w.startTime.getTime() === 3 * 3_600_000)).toBe(true);
    expect(windowsAheadMarkdown(oses, [], now)).toBe('');
  });
});

describe('the plan table', () => {
  it('has one time column for a policy in UTC and two for a policy in another zone', async () => {
    const plan = await examplePlan((os) =>
      os.metadata.name === 'workers'
        ? { ...os, spec: { ...os.spec, maintenanceWindows: os.spec.maintenanceWindows.map((w) => ({ ...w, timeZone: 'UTC' })) } }
        : os,
    );
    const md = formatPlanMarkdown(plan);
    const section = (name: string) => md.split('\n### ').find((s) => s.startsWith(`${name} `))!;
    const workers = section('workers');
    expect(workers).toContain('| batch | starts (UTC) | nodes | reboot |');
    expect(workers).not.toContain('starts (UTC) | starts (UTC)');
    expect(workers).toMatch(/\| 1 \(canary\) \| 2026-11-26T01:00:00\.000Z \| `gpu-1` \| all \|/);
    expect(section('edge-tokyo')).toContain('| batch | starts (Asia/Tokyo) | starts (UTC) | nodes | reboot |');
  });
});
