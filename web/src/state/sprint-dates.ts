/**
 * The dates a new sprint is offered: it starts the day after the latest sprint ends and lasts as
 * long as that one did, so planning the next one is a confirmation, not date arithmetic. With no
 * earlier sprint (or none with an end date) it starts today and lasts two weeks.
 */
/** A local calendar date as ISO 8601 ("2026-11-26"). */
export function isoDay(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

const DEFAULT_DAYS = 14;

function parseDay(iso: string): Date {
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(y, m - 1, d);
}

function addDays(d: Date, n: number): Date {
  const out = new Date(d);
  out.setDate(out.getDate() + n);
  return out;
}

export function nextSprintDates(
  sprints: readonly { startDate: string; endDate: string }[],
  today: Date,
): { startDate: string; endDate: string } {
  const last = sprints
    .filter((s) => s.endDate)
    .sort((a, b) => (a.endDate < b.endDate ? -1 : a.endDate > b.endDate ? 1 : 0))
    .at(-1);
  if (!last) return { startDate: isoDay(today), endDate: isoDay(addDays(today, DEFAULT_DAYS - 1)) };
  const end = parseDay(last.endDate);
  // Days counted by calendar date: a sprint across a DST change is still whole days long.
  const days = last.startDate && last.startDate <= last.endDate ? Math.round((end.getTime() - parseDay(last.startDate).getTime()) / 86_400_000) + 1 : DEFAULT_DAYS;
  const start = addDays(end, 1);
  return { startDate: isoDay(start), endDate: isoDay(addDays(start, days - 1)) };
}
