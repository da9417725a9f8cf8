/**
 * `YYYY-MM-DD`, optionally followed by `T`/`t`/space and `hh:mm[:ss[.fraction]]` and an offset
 * (`Z`/`z` or `±hh[:]mm`). RFC 3339 date-times are the full form; the shorter ISO 8601 forms
 * (no seconds, no offset, a date alone) were accepted before and still are.
 */
const SHAPE = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:[Zz]|[+-](\d{2}):?(\d{2}))?)?$/;

const isLeapYear = (year: number): boolean => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

function daysIn(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Whether `value` is a valid date-time in that form, checked field by field rather than with
 * `Date.parse`, which rolls `2023-02-30` over to 2 March, takes `24:00`, refuses the leap second
 * `23:59:60`, and reads `0001-01-01 00:00:00` (the space form of the platform's zero time
 * `0001-01-01T00:00:00Z`) as the year 2001. Any year from 0000 to 9999 is accepted.
 */
export function isDateTime(value: string): boolean {
  const m = SHAPE.exec(value);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return false;
  if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59)) return false;
  if (m[6] !== undefined && Number(m[6]) > 60) return false;
  if (m[7] !== undefined && (Number(m[7]) > 23 || Number(m[8]) > 59)) return false;
  return true;
}
