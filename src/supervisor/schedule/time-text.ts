function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function offsetText(offsetMinutes: number): string {
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** `YYYY-MM-DDTHH:MM:SS±hh:mm` in the daemon's local zone, or at a fixed offset (minutes east of UTC). */
export function formatLocalTime(epochSeconds: number, offsetMinutes?: number): string {
  const ms = Math.floor(epochSeconds) * 1000;
  const offset = offsetMinutes ?? -new Date(ms).getTimezoneOffset();
  const d = new Date(ms + offset * 60_000);
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${offsetText(offset)}`
  );
}

/** `HH:MM:SS+00:00` for UTC seconds of day (taken modulo 86400). */
export function formatTimeOfDay(secondsOfDay: number): string {
  const s = ((Math.floor(secondsOfDay) % 86_400) + 86_400) % 86_400;
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}+00:00`;
}

/** Minutes east of UTC for `+08`, `-05:30`, `+0800` (or `Z`); undefined when empty or invalid. */
export function parsePosixTimezoneOffset(tz: string): number | undefined {
  const t = (tz ?? '').trim();
  if (/^z$/i.test(t)) return 0;
  const m = /^([+-])(\d{2})(?::?(\d{2}))?$/.exec(t);
  if (!m) return undefined;
  const hours = Number(m[2]);
  const minutes = m[3] === undefined ? 0 : Number(m[3]);
  if (hours > 14 || minutes > 59) return undefined;
  const total = hours * 60 + minutes;
  return m[1] === '-' ? -total : total;
}
