import { UsageError } from './args.js';

/** Seconds from `90`, `-1`, or an ISO 8601 duration (`PT1H30M`, `P1D`, `P1W`). */
export function parseDurationText(text: string): number {
  const trimmed = text.trim();
  if (/^-?\d+$/.test(trimmed)) return Number(trimmed);
  const match = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/i.exec(trimmed);
  if (!match || trimmed.toUpperCase() === 'P' || /T$/i.test(trimmed)) throw new UsageError(`'${text}' is neither seconds nor an ISO 8601 duration (PT1H30M)`);
  const [, weeks, days, hours, minutes, seconds] = match.map((part) => Number(part ?? 0));
  return weeks * 604_800 + days * 86_400 + hours * 3600 + minutes * 60 + seconds;
}
