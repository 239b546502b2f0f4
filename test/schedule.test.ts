import { describe, expect, test } from 'vitest';
import { DurationSyntaxError, parseDurationSeconds, parseQueryInteger } from '../src/supervisor/schedule/duration.js';
import { isInDailyWindow, nextWindowClosing, nextWindowOpening } from '../src/supervisor/schedule/daily-window.js';
import { isRunAllowed, nextAllowedTime } from '../src/supervisor/schedule/time-window.js';
import { CronSyntaxError, nextOccurrence, validateCron } from '../src/supervisor/schedule/recurrence.js';
import { nextBackoffSeconds } from '../src/supervisor/schedule/backoff.js';
import { formatLocalTime, formatTimeOfDay, parsePosixTimezoneOffset } from '../src/supervisor/schedule/time-text.js';

const H = 3600;
const DAY_MS = 86_400_000;
// 2025-01-01T00:00:00Z
const MIDNIGHT = Date.UTC(2025, 0, 1);
const at = (h: number, m = 0, s = 0, ms = 0) => MIDNIGHT + ((h * 60 + m) * 60 + s) * 1000 + ms;

describe('parseDurationSeconds', () => {
  test.each([
    [60, 60],
    [0, 0],
    ['60', 60],
    [' 60 ', 60],
    ['0', 0],
    ['P1W', 604800],
    ['PT30S', 30],
    ['P1DT2H', 93600],
    ['P2D', 172800],
    ['PT1M', 60],
    ['P1M', 30 * 86400],
    ['P1Y', 365 * 86400],
    ['p1dt2h', 93600],
    ['P1Y2M3W4DT5H6M7S', 365 * 86400 + 60 * 86400 + 21 * 86400 + 4 * 86400 + 5 * H + 6 * 60 + 7],
    ['PT1.5S', 2],
    ['PT1,4S', 1],
    ['PT0.5H', 1800],
    ['PT0S', 0],
  ])('%j → %d', (input, expected) => {
    expect(parseDurationSeconds(input)).toBe(expected);
  });

  test.each([
    [-1],
    [1.5],
    [NaN],
    [Infinity],
    [{}],
    [null],
    [undefined],
    [[60]],
    [true],
    [''],
    ['abc'],
    ['P'],
    ['PT'],
    ['P1DT'],
    ['-5'],
    ['-PT5S'],
    ['1.5'],
    ['60s'],
    ['PT5H1D'],
    ['99999999999999999999'],
  ])('rejects %j', (input) => {
    expect(() => parseDurationSeconds(input)).toThrow(DurationSyntaxError);
  });

  test('error message names the bad value', () => {
    expect(() => parseDurationSeconds('abc')).toThrow(/"abc"/);
    try {
      parseDurationSeconds('xyz');
    } catch (e) {
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).name).toBe('DurationSyntaxError');
    }
  });
});

describe('parseQueryInteger', () => {
  test('absent or empty → fallback', () => {
    expect(parseQueryInteger(undefined, 7, 0, 100)).toBe(7);
    expect(parseQueryInteger('', 7, 0, 100)).toBe(7);
    expect(parseQueryInteger('  ', 7, 0, 100)).toBe(7);
  });
  test('decimal and ISO-8601 values', () => {
    expect(parseQueryInteger('42', 7, 0, 100)).toBe(42);
    expect(parseQueryInteger('PT30S', 0, 0, 1000)).toBe(30);
    expect(parseQueryInteger('P2D', 0, 0, 1_000_000)).toBe(172800);
    expect(parseQueryInteger('0', 7, 0, 100)).toBe(0);
  });
  test('negative or out of range → fallback', () => {
    expect(parseQueryInteger('-1', 7, 0, 100)).toBe(7);
    expect(parseQueryInteger('101', 7, 0, 100)).toBe(7);
    expect(parseQueryInteger('P1D', 7, 0, 100)).toBe(7);
    expect(parseQueryInteger('500', 3145728, 1024, 3145728)).toBe(3145728);
    expect(parseQueryInteger('10240', 3145728, 1024, 3145728)).toBe(10240);
    expect(parseQueryInteger('99999999999999999999', 7, 0, 100)).toBe(7);
  });
  test('bad syntax throws', () => {
    expect(() => parseQueryInteger('abc', 7, 0, 100)).toThrow(DurationSyntaxError);
    expect(() => parseQueryInteger('1.5', 7, 0, 100)).toThrow(DurationSyntaxError);
    expect(() => parseQueryInteger('PT', 7, 0, 100)).toThrow(DurationSyntaxError);
  });
});

describe('daily window', () => {
  const day = { daily_start: 9 * H, daily_end: 17 * H };
  const night = { daily_start: 22 * H, daily_end: 6 * H };
  const whole = { daily_start: 5 * H, daily_end: 5 * H };

  test('start < end is [start, end)', () => {
    expect(isInDailyWindow(at(8, 59, 59, 999), day)).toBe(false);
    expect(isInDailyWindow(at(9), day)).toBe(true);
    expect(isInDailyWindow(at(16, 59, 59, 999), day)).toBe(true);
    expect(isInDailyWindow(at(17), day)).toBe(false);
  });
  test('start > end wraps past midnight', () => {
    expect(isInDailyWindow(at(23), night)).toBe(true);
    expect(isInDailyWindow(at(0), night)).toBe(true);
    expect(isInDailyWindow(at(5, 59, 59), night)).toBe(true);
    expect(isInDailyWindow(at(6), night)).toBe(false);
    expect(isInDailyWindow(at(12), night)).toBe(false);
    expect(isInDailyWindow(at(22), night)).toBe(true);
  });
  test('equal start and end is the whole day', () => {
    for (const h of [0, 5, 12, 23]) expect(isInDailyWindow(at(h), whole)).toBe(true);
    expect(nextWindowClosing(at(3), whole)).toBeUndefined();
    expect(nextWindowOpening(at(3), whole)).toBe(at(3));
  });
  test('values are taken modulo 86400 (epoch seconds work)', () => {
    const epochDay = { daily_start: MIDNIGHT / 1000 + 9 * H + 100 * 86400, daily_end: 17 * H + 3 * 86400 };
    expect(isInDailyWindow(at(10), epochDay)).toBe(true);
    expect(isInDailyWindow(at(18), epochDay)).toBe(false);
  });
  test('next opening', () => {
    expect(nextWindowOpening(at(10), day)).toBe(at(10));
    expect(nextWindowOpening(at(7), day)).toBe(at(9));
    expect(nextWindowOpening(at(17), day)).toBe(at(9) + DAY_MS);
    expect(nextWindowOpening(at(12), night)).toBe(at(22));
    expect(nextWindowOpening(at(6), night)).toBe(at(22));
    expect(nextWindowOpening(at(23), night)).toBe(at(23));
  });
  test('next closing', () => {
    expect(nextWindowClosing(at(10), day)).toBe(at(17));
    expect(nextWindowClosing(at(7), day)).toBeUndefined();
    expect(nextWindowClosing(at(23), night)).toBe(at(6) + DAY_MS);
    expect(nextWindowClosing(at(1), night)).toBe(at(6));
  });
});

describe('run window', () => {
  const start = at(10) / 1000;
  const end = at(12) / 1000;
  test('isRunAllowed honours [start_time, end_time) and the daily window', () => {
    expect(isRunAllowed(at(9), {})).toBe(true);
    expect(isRunAllowed(at(9), { startTime: start })).toBe(false);
    expect(isRunAllowed(at(10), { startTime: start, endTime: end })).toBe(true);
    expect(isRunAllowed(at(12), { startTime: start, endTime: end })).toBe(false);
    expect(isRunAllowed(at(11), { daily: { daily_start: 13 * H, daily_end: 14 * H } })).toBe(false);
  });
  test('nextAllowedTime', () => {
    expect(nextAllowedTime(at(9), {})).toBe(at(9));
    expect(nextAllowedTime(at(9), { startTime: start })).toBe(at(10));
    expect(nextAllowedTime(at(11), { startTime: start, endTime: end })).toBe(at(11));
    expect(nextAllowedTime(at(12), { startTime: start, endTime: end })).toBeUndefined();
    const daily = { daily_start: 13 * H, daily_end: 14 * H };
    expect(nextAllowedTime(at(11), { daily })).toBe(at(13));
    expect(nextAllowedTime(at(11), { daily, endTime: end })).toBeUndefined();
    expect(nextAllowedTime(at(15), { daily, endTime: at(13, 0, 1) / 1000 + DAY_MS / 1000 })).toBe(at(13) + DAY_MS);
    // start_time lies in tomorrow's window gap: the opening after start_time wins
    expect(nextAllowedTime(at(0), { daily, startTime: at(14) / 1000 + 86400 })).toBe(at(13) + 2 * DAY_MS);
  });
});

describe('interval recurrence', () => {
  const anchorMs = at(0, 0, 1);
  const rec = { kind: 'interval' as const, seconds: 60, anchorMs };

  test('before the anchor → the anchor itself', () => {
    expect(nextOccurrence(rec, at(0))).toBe(anchorMs);
  });
  test('strictly after afterMs on the fixed grid', () => {
    expect(nextOccurrence(rec, anchorMs)).toBe(anchorMs + 60_000);
    expect(nextOccurrence(rec, anchorMs + 1)).toBe(anchorMs + 60_000);
    expect(nextOccurrence(rec, anchorMs + 59_999)).toBe(anchorMs + 60_000);
    expect(nextOccurrence(rec, anchorMs + 60_000)).toBe(anchorMs + 120_000);
  });
  test('no drift: late evaluations stay on anchor + k·interval', () => {
    let t = anchorMs;
    for (let i = 1; i <= 1000; i++) {
      const next = nextOccurrence(rec, t + 1_234)!; // each tick observed a little late
      expect(next).toBe(anchorMs + i * 60_000);
      t = next;
    }
  });
  test('exact with large intervals and far afterMs', () => {
    const year = 365 * 86400;
    const r = { kind: 'interval' as const, seconds: 7 * year, anchorMs: 1 };
    expect(nextOccurrence(r, 1)).toBe(1 + 7 * year * 1000);
    expect(nextOccurrence(r, 10 * 7 * year * 1000)).toBe(1 + 10 * 7 * year * 1000);
    expect(nextOccurrence(r, 10 * 7 * year * 1000 + 1)).toBe(1 + 11 * 7 * year * 1000);
    const odd = { kind: 'interval' as const, seconds: 7919, anchorMs: 1_700_000_000_123 };
    const k = 123_456;
    const grid = odd.anchorMs + k * 7_919_000;
    expect(nextOccurrence(odd, grid - 1)).toBe(grid);
    expect(nextOccurrence(odd, grid)).toBe(grid + 7_919_000);
  });
  test('P1W interval from parsed duration', () => {
    const r = { kind: 'interval' as const, seconds: parseDurationSeconds('P1W'), anchorMs };
    expect(nextOccurrence(r, anchorMs + 1)).toBe(anchorMs + 7 * DAY_MS);
  });
  test('non-positive interval is a programming error', () => {
    expect(() => nextOccurrence({ kind: 'interval', seconds: 0, anchorMs }, anchorMs)).toThrow(RangeError);
  });
  test('moved into the daily window (opening used as is)', () => {
    const r = { kind: 'interval' as const, seconds: 7200, anchorMs: at(0) };
    const daily = { daily_start: 9 * H + 30 * 60, daily_end: 12 * H };
    // grid 08:00 falls outside → moved to 09:30, not to the grid point 10:00
    expect(nextOccurrence(r, at(7), { daily })).toBe(at(9, 30));
    // grid 10:00 is inside → unchanged
    expect(nextOccurrence(r, at(9, 30), { daily })).toBe(at(10));
    // grid 12:00 is at the closing → next day's opening
    expect(nextOccurrence(r, at(10), { daily })).toBe(at(9, 30) + DAY_MS);
  });
  test('window with end_time in the past → undefined', () => {
    expect(nextOccurrence(rec, at(5), { endTime: at(1) / 1000 })).toBeUndefined();
    expect(nextOccurrence(rec, at(5), { endTime: at(5, 0, 1) / 1000 })).toBeUndefined();
    expect(nextOccurrence(rec, at(5), { endTime: at(6) / 1000 })).toBe(at(5, 0, 1));
  });
  test('start_time later than the occurrence moves it to start_time', () => {
    expect(nextOccurrence(rec, at(5), { startTime: at(5, 0, 30) / 1000 })).toBe(at(5, 0, 30));
  });
});

describe('cron recurrence', () => {
  test('validateCron accepts 6-field expressions', () => {
    for (const e of ['0 */5 * * * *', '*/10 * * * * *', '0 0 3 * * MON-FRI', '  0  0 * * * ?  ', '30 15 10 1 JAN *']) {
      expect(() => validateCron(e)).not.toThrow();
    }
  });
  test.each([['* * * * *'], ['bad'], [''], ['* * * * * * *'], ['61 * * * * *'], ['0 0 25 * * *'], ['@daily'], ['x * * * * *'], ['0 0:0 * * * *']])(
    'validateCron rejects %j',
    (e) => {
      expect(() => validateCron(e)).toThrow(CronSyntaxError);
    },
  );
  test('error message names the expression and the field count', () => {
    expect(() => validateCron('* * * * *')).toThrow(/"\* \* \* \* \*".*6 fields/);
  });

  test('"0 */5 * * * *" matches every 5 minutes at second 0', () => {
    const rec = { kind: 'cron' as const, expression: '0 */5 * * * *' };
    expect(nextOccurrence(rec, at(10, 2, 30))).toBe(at(10, 5));
    expect(nextOccurrence(rec, at(10, 5))).toBe(at(10, 10));
    expect(nextOccurrence(rec, at(10, 4, 59, 999))).toBe(at(10, 5));
  });
  test('"*/10 * * * * *" reads the first field as seconds', () => {
    const rec = { kind: 'cron' as const, expression: '*/10 * * * * *' };
    expect(nextOccurrence(rec, at(10, 0, 1))).toBe(at(10, 0, 10));
    expect(nextOccurrence(rec, at(10, 0, 10))).toBe(at(10, 0, 20));
    expect(nextOccurrence(rec, at(10, 0, 55, 500))).toBe(at(10, 1, 0));
  });
  test('hour field uses the local time zone', () => {
    const rec = { kind: 'cron' as const, expression: '0 0 3 * * *' };
    const after = new Date(2025, 5, 10, 4, 0, 0).getTime();
    expect(nextOccurrence(rec, after)).toBe(new Date(2025, 5, 11, 3, 0, 0).getTime());
  });
  test('cron occurrence outside the window moves to the next allowed time', () => {
    const rec = { kind: 'cron' as const, expression: '0 */5 * * * *' };
    expect(nextOccurrence(rec, at(10, 2), { startTime: at(10, 7, 3) / 1000 })).toBe(at(10, 7, 3));
    expect(nextOccurrence(rec, at(10, 2), { endTime: at(10, 4) / 1000 })).toBeUndefined();
  });
  test('impossible date → undefined', () => {
    expect(nextOccurrence({ kind: 'cron', expression: '0 0 0 30 2 *' }, at(0))).toBeUndefined();
  });
});

describe('backoff', () => {
  test('doubles from 1 up to 300 for short runs', () => {
    const seq: number[] = [];
    let b = 0;
    for (let i = 0; i < 11; i++) {
      b = nextBackoffSeconds(b, 5_000);
      seq.push(b);
    }
    expect(seq).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
  });
  test('a run of 60 s or more resets to 0', () => {
    expect(nextBackoffSeconds(128, 60_000)).toBe(0);
    expect(nextBackoffSeconds(0, 3_600_000)).toBe(0);
    expect(nextBackoffSeconds(128, 59_999)).toBe(256);
    expect(nextBackoffSeconds(nextBackoffSeconds(300, 60_000), 100)).toBe(1);
  });
});

describe('time text', () => {
  test('formatLocalTime with a fixed offset', () => {
    const t = Date.UTC(2025, 0, 2, 3, 4, 5) / 1000;
    expect(formatLocalTime(t, 0)).toBe('2025-01-02T03:04:05+00:00');
    expect(formatLocalTime(t, 480)).toBe('2025-01-02T11:04:05+08:00');
    expect(formatLocalTime(t, -330)).toBe('2025-01-01T21:34:05-05:30');
  });
  test('formatLocalTime in the local zone', () => {
    const d = new Date(2025, 6, 4, 13, 14, 15);
    const text = formatLocalTime(d.getTime() / 1000);
    expect(text.startsWith('2025-07-04T13:14:15')).toBe(true);
    expect(text).toMatch(/[+-]\d\d:\d\d$/);
  });
  test('formatTimeOfDay', () => {
    expect(formatTimeOfDay(0)).toBe('00:00:00+00:00');
    expect(formatTimeOfDay(9 * H + 5 * 60 + 7)).toBe('09:05:07+00:00');
    expect(formatTimeOfDay(86400 + 3661)).toBe('01:01:01+00:00');
    expect(formatTimeOfDay(MIDNIGHT / 1000 + 23 * H)).toBe('23:00:00+00:00');
  });
  test('parsePosixTimezoneOffset', () => {
    expect(parsePosixTimezoneOffset('+08')).toBe(480);
    expect(parsePosixTimezoneOffset('-05:30')).toBe(-330);
    expect(parsePosixTimezoneOffset('+0800')).toBe(480);
    expect(parsePosixTimezoneOffset('+00')).toBe(0);
    expect(parsePosixTimezoneOffset('Z')).toBe(0);
    for (const bad of ['', ' ', '8', '+8', 'abc', '+25', '+08:75', '+08:3', 'UTC']) {
      expect(parsePosixTimezoneOffset(bad)).toBeUndefined();
    }
  });
});
