/** When a task is due, relative to today: the words and the state a card shows. Pure: "today" is
 * given, and dates are calendar days (a task due today is not overdue until tomorrow). */

export interface Due {
  state: "overdue" | "today" | "soon" | "later" | "done";
  /** "Dec 3" this year, "Dec 3, 2027" another year. */
  short: string;
  /** "Thursday, December 3, 2026". */
  long: string;
}

const DAY = 86_400_000;

/** The day a "YYYY-MM-DD" (ISO 8601) date names, at local midnight; null when it is not one. */
function localDay(iso: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso);
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return Number.isNaN(d.getTime()) ? null : d;
}

export function dueState(iso: string, done: boolean, now: Date, locale?: string): Due | null {
  const day = localDay(iso);
  if (!day) return null;
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const days = Math.round((day.getTime() - today.getTime()) / DAY);
  const sameYear = day.getFullYear() === today.getFullYear();
  const short = day.toLocaleDateString(locale, { month: "short", day: "numeric", ...(sameYear ? {} : { year: "numeric" }) });
  const long = day.toLocaleDateString(locale, { weekday: "long", month: "long", day: "numeric", year: "numeric" });
  const state = done ? "done" : days < 0 ? "overdue" : days === 0 ? "today" : days <= 2 ? "soon" : "later";
  return { state, short: state === "today" ? "Today" : short, long };
}
