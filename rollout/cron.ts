// Parses 5-field cron schedules (minute hour day-of-month month day-of-week) into plain sets.
// Deliberately strict: only standard Vixie syntax (*, a, a-b, */n, a-b/n, a/n, lists, month and
// day names). The extensions some libraries accept (seconds, L, W, #, ?, H, @macros) are refused,
// so a schedule means the same thing to osfleet as to the person reading it.

export interface CronSchedule {
  /** Allowed minutes, hours, days of month, months (1-12), days of week (0-6, Sunday = 0), as lookup tables. */
  minutes: number[];
  hours: number[];
  daysOfMonth: boolean[]; // index 1..31
  months: boolean[]; // index 1..12
  daysOfWeek: boolean[]; // index 0..6
  /** Vixie rule: when both day fields are restricted, a day matches if either matches. */
  dayOr: boolean;
  source: string;
}

export type CronResult = { ok: true; schedule: CronSchedule } | { ok: false; error: string };

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldDef {
  name: string;
  min: number;
  max: number;
  names?: string[];
  namesBase?: number;
}

const FIELDS: FieldDef[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, namesBase: 1 },
  { name: 'day-of-week', min: 0, max: 7, names: DAYS, namesBase: 0 },
];

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const DAYS_IN_MONTH = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function parseValue(text: string, def: FieldDef): number | string {
  if (/^[0-9]+$/.test(text)) {
    const n = Number(text);
    if (n < def.min || n > def.max) return `${def.name} value ${n} is out of range ${def.min}-${def.max}`;
    return n;
  }
  if (def.names) {
    const idx = def.names.indexOf(text.toUpperCase());
    if (idx >= 0) return idx + (def.namesBase ?? 0);
  }
  const allowed = def.names ? `a number ${def.min}-${def.max} or a name like ${def.names[1]}` : `a number ${def.min}-${def.max}`;
  return `${def.name} value "${text}" is not valid; use ${allowed}`;
}

function parseField(text: string, def: FieldDef): number[] | string {
  const out = new Set<number>();
  for (const item of text.split(',')) {
    if (item === '') return `${def.name} field "${text}" has an empty list item`;
    const [rangeText, stepText, extra] = item.split('/');
    if (extra !== undefined || rangeText === undefined || rangeText === '') {
      return `${def.name} field item "${item}" is not valid; use forms like *, 5, 1-5, */15 or 1-5/2`;
    }
    let step = 1;
    if (stepText !== undefined) {
      if (!/^[0-9]+$/.test(stepText) || Number(stepText) === 0) {
        return `${def.name} step "${stepText}" in "${item}" must be a whole number of at least 1`;
      }
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (rangeText === '*') {
      lo = def.min;
      hi = def.max;
    } else {
      const bounds = rangeText.split('-');
      if (bounds.length > 2) return `${def.name} range "${rangeText}" is not valid; write it as low-high`;
      const a = parseValue(bounds[0] ?? '', def);
      if (typeof a === 'string') return a;
      lo = a;
      if (bounds.length === 2) {
        const b = parseValue(bounds[1] ?? '', def);
        if (typeof b === 'string') return b;
        hi = b;
        if (hi < lo) return `${def.name} range "${rangeText}" runs backwards; write the lower value first`;
      } else {
        hi = stepText !== undefined ? def.max : lo; // "a/n" means "a-max/n", as in Vixie cron
      }
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return [...out].sort((x, y) => x - y);
}

/** Parses a 5-field cron schedule. Errors say which field is wrong and what would be valid. */
export function parseCron(input: unknown): CronResult {
  if (typeof input !== 'string') return { ok: false, error: 'a schedule must be a string with 5 cron fields, like "0 2 * * 1-5"' };
  const source = input.trim();
  const macro = MACROS[source.toLowerCase()];
  if (macro) {
    return { ok: false, error: `"${source}" is a shorthand osfleet does not accept; write the 5 fields "${macro}"` };
  }
  const fields = source.split(/\s+/).filter((f) => f !== '');
  if (fields.length !== 5) {
    return {
      ok: false,
      error: `schedule "${source}" has ${fields.length} field${fields.length === 1 ? '' : 's'}; write exactly 5 (minute hour day-of-month month day-of-week), like "0 2 * * 1-5"`,
    };
  }
  const sets: number[][] = [];
  for (let i = 0; i < 5; i++) {
    const text = fields[i] ?? '';
    const def = FIELDS[i]!;
    const bad = /[^0-9A-Za-z*,\-/]/.exec(text) ?? (/[LW#H?]/.test(text) && !def.names ? [text] : null);
    if (bad) {
      return { ok: false, error: `${def.name} field "${text}" uses syntax osfleet does not accept (L, W, #, ?, H and such); use numbers, ranges, lists and steps` };
    }
    const parsed = parseField(text, def);
    if (typeof parsed === 'string') return { ok: false, error: `schedule "${source}": ${parsed}` };
    sets.push(parsed);
  }
  const [minutes, hours, doms, months, dows] = sets as [number[], number[], number[], number[], number[]];
  const daysOfMonth = new Array<boolean>(32).fill(false);
  for (const d of doms) daysOfMonth[d] = true;
  const monthTable = new Array<boolean>(13).fill(false);
  for (const m of months) monthTable[m] = true;
  const daysOfWeek = new Array<boolean>(7).fill(false);
  for (const d of dows) daysOfWeek[d % 7] = true;
  const domStar = (fields[2] ?? '').startsWith('*');
  const dowStar = (fields[4] ?? '').startsWith('*');
  const schedule: CronSchedule = {
    minutes,
    hours,
    daysOfMonth,
    months: monthTable,
    daysOfWeek,
    dayOr: !domStar && !dowStar,
    source,
  };
  // A day-of-month that no selected month has (e.g. 31 in February only) would never fire.
  if (!schedule.dayOr && dowStar) {
    const possible = months.some((m) => doms.some((d) => d <= (DAYS_IN_MONTH[m] ?? 0)));
    if (!possible) {
      return { ok: false, error: `schedule "${source}" never fires: no selected month has that day of the month` };
    }
  }
  return { ok: true, schedule };
}

/** Whether a calendar day (local to the window's zone) matches the schedule's day fields. */
export function dayMatches(s: CronSchedule, month: number, day: number, weekday: number): boolean {
  if (!s.months[month]) return false;
  const dom = s.daysOfMonth[day] === true;
  const dow = s.daysOfWeek[weekday] === true;
  return s.dayOr ? dom || dow : dom && dow;
}
