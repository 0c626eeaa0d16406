import { CronExpressionParser } from 'cron-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCron } from './cron.js';
import {
  compileWindow,
  currentWindowEnd,
  isOpen,
  nextOpen,
  openIntervals,
  validateWindow,
  windowStarts,
  type WindowSpec,
} from './windows.js';
import { formatLocal } from './zone.js';

const t = (s: string) => Date.parse(s);
const iso = (ms: number) => new Date(ms).toISOString();
const starts = (w: WindowSpec, from: string, to: string) => windowStarts(compileWindow(w), t(from), t(to)).map(iso);
const win = (schedule: string, timeZone: string, duration = '1h'): WindowSpec => ({ schedule, duration, timeZone });

describe('cron schedules', () => {
  it('accepts standard 5-field syntax with names, ranges, lists and steps', () => {
    const r = parseCron('*/15 1-3 * JAN,mar mon-FRI');
    expect(r.ok && r.schedule.minutes).toEqual([0, 15, 30, 45]);
    expect(r.ok && r.schedule.hours).toEqual([1, 2, 3]);
  });
  it.each([
    ['0 2 * *', /has 4 fields/],
    ['0 0 2 * * *', /has 6 fields/],
    ['61 * * * *', /minute value 61 is out of range 0-59/],
    ['0 2 * * FUNDAY', /day-of-week value "FUNDAY"/],
    ['0 0 L * *', /not valid|does not accept/],
    ['0 0 * * 1#2', /does not accept/],
    ['@daily', /write the 5 fields "0 0 \* \* \*"/],
    ['0 0 31 2 *', /never fires/],
    ['0 5-2 * * *', /runs backwards/],
  ])('refuses %j and says why', (expr, message) => {
    const r = parseCron(expr);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(message);
  });
  it('matches day-of-month OR day-of-week when both are restricted (Vixie cron)', () => {
    // 1st of the month or any Monday, June 2026: Mon 1, Mon 8, Mon 15 ...
    expect(starts(win('0 0 1 * 1', 'UTC'), '2026-06-01T00:00Z', '2026-06-16T00:00Z')).toEqual([
      '2026-06-01T00:00:00.000Z',
      '2026-06-08T00:00:00.000Z',
      '2026-06-15T00:00:00.000Z',
    ]);
  });
  it('agrees with cron-parser in UTC, where there is no DST to disagree about', () => {
    // Steps on the day fields are left out: Vixie cron treats "*/2" as a star (days ANDed),
    // cron-parser does not, and osfleet follows Vixie.
    const field = (max: number, min = 0, steps = true) =>
      fc.oneof(
        fc.constant('*'),
        fc.integer({ min, max }).map(String),
        fc.tuple(fc.integer({ min, max }), fc.integer({ min, max })).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
        ...(steps ? [fc.integer({ min: 2, max: 7 }).map((s) => `*/${s}`)] : []),
      );
    fc.assert(
      fc.property(field(59), field(23), field(28, 1, false), field(12, 1), field(6, 0, false), fc.integer({ min: 0, max: 365 }), (mi, h, dom, mon, dow, day) => {
        const expr = `${mi} ${h} ${dom} ${mon} ${dow}`;
        const from = t('2026-01-01T00:00Z') + day * 86_400_000;
        const ours = windowStarts(compileWindow(win(expr, 'UTC')), from, from + 40 * 86_400_000).slice(0, 5);
        const it = CronExpressionParser.parse(expr, { tz: 'UTC', currentDate: new Date(from - 1) });
        const theirs: number[] = [];
        while (theirs.length < ours.length) theirs.push(it.next().getTime());
        expect(ours).toEqual(theirs);
      }),
      { numRuns: 200 },
    );
  });
});

describe('DST: a skipped start opens at the first valid instant after it', () => {
  it('Europe/Berlin 2026-03-29: 02:30 opens at 03:00 CEST', () => {
    const got = starts(win('30 2 * * *', 'Europe/Berlin'), '2026-03-28T00:00Z', '2026-03-31T00:00Z');
    expect(got).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    expect(formatLocal('Europe/Berlin', t(got[1]!))).toBe('2026-03-29T03:00:00+02:00');
  });
  it('Europe/Berlin: several skipped starts collapse into one opening', () => {
    expect(starts(win('*/20 2 * * *', 'Europe/Berlin'), '2026-03-29T00:00Z', '2026-03-29T12:00Z')).toEqual(['2026-03-29T01:00:00.000Z']);
  });
  it('America/New_York 2026-03-08: 02:30 opens at 03:00 EDT', () => {
    const got = starts(win('30 2 * * *', 'America/New_York'), '2026-03-08T00:00Z', '2026-03-09T00:00Z');
    expect(got).toEqual(['2026-03-08T07:00:00.000Z']);
    expect(formatLocal('America/New_York', t(got[0]!))).toBe('2026-03-08T03:00:00-04:00');
  });
  it('Australia/Adelaide (UTC+9:30) 2026-10-04: 02:30 opens at 03:00 ACDT', () => {
    const got = starts(win('30 2 * * *', 'Australia/Adelaide'), '2026-10-03T00:00Z', '2026-10-05T00:00Z');
    expect(got).toEqual(['2026-10-03T16:30:00.000Z', '2026-10-04T16:00:00.000Z']);
    expect(formatLocal('Australia/Adelaide', t(got[0]!))).toBe('2026-10-04T03:00:00+10:30');
  });
  it('Australia/Lord_Howe moves by 30 minutes: 02:15 on 2026-10-04 opens at 02:30 (+11:00)', () => {
    const got = starts(win('15 2 * * *', 'Australia/Lord_Howe'), '2026-10-02T00:00Z', '2026-10-05T00:00Z');
    expect(got).toEqual(['2026-10-02T15:45:00.000Z', '2026-10-03T15:30:00.000Z', '2026-10-04T15:15:00.000Z']);
    expect(formatLocal('Australia/Lord_Howe', t(got[1]!))).toBe('2026-10-04T02:30:00+11:00');
  });
});

describe('DST: a repeated start opens once, at the first occurrence', () => {
  it('Europe/Berlin 2026-10-25: 02:30 opens at 02:30 CEST only', () => {
    const got = starts(win('30 2 * * *', 'Europe/Berlin'), '2026-10-24T12:00Z', '2026-10-25T12:00Z');
    expect(got).toEqual(['2026-10-25T00:30:00.000Z']);
    expect(formatLocal('Europe/Berlin', t(got[0]!))).toBe('2026-10-25T02:30:00+02:00');
  });
  it('America/New_York 2026-11-01: 01:30 opens at 01:30 EDT only', () => {
    expect(starts(win('30 1 * * *', 'America/New_York'), '2026-11-01T00:00Z', '2026-11-02T00:00Z')).toEqual(['2026-11-01T05:30:00.000Z']);
  });
  it('Australia/Lord_Howe 2026-04-05: 01:45 (repeated for 30 minutes) opens at +11:00 only', () => {
    expect(starts(win('45 1 * * *', 'Australia/Lord_Howe'), '2026-04-04T12:00Z', '2026-04-05T12:00Z')).toEqual(['2026-04-04T14:45:00.000Z']);
  });
  it('a window lasts its duration in real time across the change (4h from 01:00 CEST ends 04:00 CET)', () => {
    const w = [win('0 1 25 10 *', 'Europe/Berlin', '4h')];
    expect(currentWindowEnd(w, [], t('2026-10-25T00:00Z'))).toBe(t('2026-10-25T03:00Z'));
    expect(formatLocal('Europe/Berlin', t('2026-10-25T03:00Z'))).toBe('2026-10-25T04:00:00+01:00');
  });
});

describe('open, next and end', () => {
  const weekdayNights = [win('0 2 * * 1-5', 'Europe/Berlin', '4h')];
  const yearEnd = [win('0 0 20 12 *', 'UTC', '336h')];

  it('is open inside a window and closed outside it', () => {
    expect(isOpen(weekdayNights, [], t('2026-06-10T01:30Z'))).toBe(true); // Wed 03:30 CEST
    expect(isOpen(weekdayNights, [], t('2026-06-10T04:00Z'))).toBe(false); // 06:00 CEST, closed
    expect(isOpen(weekdayNights, [], t('2026-06-13T01:00Z'))).toBe(false); // Saturday
  });
  it('counts a window that started before `at` and is still running (looks back up to 168h)', () => {
    const weekly = [win('0 0 * * 1', 'UTC', '168h')];
    expect(isOpen(weekly, [], t('2026-06-14T23:00Z'))).toBe(true); // Sunday night, opened Monday
  });
  it('lets a deny window win over a maintenance window, and names the next opening after it', () => {
    expect(isOpen(weekdayNights, yearEnd, t('2026-12-22T02:00Z'))).toBe(false);
    expect(iso(nextOpen(weekdayNights, yearEnd, t('2026-12-18T12:00Z'))!)).toBe('2027-01-04T01:00:00.000Z');
  });
  it('cuts the current window short where a deny window begins', () => {
    const deny = [win('0 3 * * *', 'Europe/Berlin', '30m')];
    expect(iso(currentWindowEnd(weekdayNights, deny, t('2026-06-10T00:30Z'))!)).toBe('2026-06-10T01:00:00.000Z');
    expect(openIntervals(weekdayNights, deny, t('2026-06-10T00:00Z'), t('2026-06-10T06:00Z')).map((i) => [iso(i.start), iso(i.end)])).toEqual([
      ['2026-06-10T00:00:00.000Z', '2026-06-10T01:00:00.000Z'],
      ['2026-06-10T01:30:00.000Z', '2026-06-10T04:00:00.000Z'],
    ]);
  });
  it('treats no maintenance windows as always open, except in deny windows', () => {
    expect(isOpen([], [], t('2026-06-10T12:00Z'))).toBe(true);
    expect(isOpen([], yearEnd, t('2026-12-25T12:00Z'))).toBe(false);
    expect(currentWindowEnd([], [], t('2026-06-10T12:00Z'))).toBe(Infinity);
  });
  it('returns null when no window opens within the horizon', () => {
    const never = [win('0 0 1 1 *', 'UTC')];
    const denyAll = [win('0 0 * * *', 'UTC', '48h')];
    expect(nextOpen(never, denyAll, t('2026-06-01T00:00Z'))).toBeNull();
  });
  it('finds a window that opens only on 29 February', () => {
    expect(iso(nextOpen([win('0 3 29 2 *', 'UTC')], [], t('2026-03-01T00:00Z'))!)).toBe('2028-02-29T03:00:00.000Z');
  });
});

describe('validateWindow', () => {
  it('accepts a good window', () => {
    expect(validateWindow({ schedule: '0 2 * * 1-5', duration: '4h', timeZone: 'Europe/Berlin' })).toEqual([]);
  });
  it('reports every problem, each with the field it concerns', () => {
    const problems = validateWindow({ schedule: '0 2 * *', duration: '4 hours', timeZone: 'Europe/Berln' });
    expect(problems.map((p) => p.field)).toEqual(['schedule', 'timeZone', 'duration']);
    expect(problems[1]!.message).toContain('did you mean Europe/Berlin?');
  });
  it('refuses a zero duration and a maintenance window over 168h, but allows a long deny window', () => {
    expect(validateWindow({ schedule: '0 2 * * *', duration: '0s', timeZone: 'UTC' })[0]!.message).toContain('longer than zero');
    expect(validateWindow({ schedule: '0 2 * * *', duration: '169h', timeZone: 'UTC' })[0]!.message).toContain('at most 168h');
    expect(validateWindow({ schedule: '0 0 20 12 *', duration: '336h', timeZone: 'UTC' }, 'deny')).toEqual([]);
  });
});
