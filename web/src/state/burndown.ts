/**
 * A sprint's burndown, computed in the browser: for each day of the sprint, the story points of
 * the tasks now in the sprint that were not done at the end of that day, read from the change
 * log (each task event carries the whole task and its update time). Scope changes are not
 * replayed: a task added mid-sprint counts from the first day, one moved out does not count.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { TaskStatus, type Task, type WebSocketMessage } from "../proto";

export interface Burndown {
  /** ISO dates from the sprint's start to its end, or to today when that is later (an overrun). */
  days: string[];
  /** Remaining points at the end of each day; null for days still to come. */
  remaining: (number | null)[];
  /** The straight line from all points on the first day to none on the last; empty without an end date. */
  ideal: number[];
  total: number;
  /** Points not done right now. */
  now: number;
}

export function isoDay(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

function parseDay(iso: string): Date {
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(y, m - 1, d);
}

export function computeBurndown(
  tasks: readonly Task[],
  events: readonly WebSocketMessage[],
  startDate: string,
  endDate: string,
  now: Date,
): Burndown {
  const today = isoDay(now);
  const start = startDate || today;
  const end = endDate && endDate >= start ? endDate : "";
  const last = [start, end, today].filter(Boolean).sort().at(-1)!;
  const days: string[] = [];
  for (let d = parseDay(start); days.length < 120; d.setDate(d.getDate() + 1)) {
    const iso = isoDay(d);
    if (iso > last) break;
    days.push(iso);
  }
  // Each task's done state over time, from its events in log order.
  const ids = new Set(tasks.map((t) => t.id));
  const timeline = new Map<string, { at: number; done: boolean }[]>();
  for (const m of events) {
    const p = m.payload;
    if ((p.case !== "taskCreated" && p.case !== "taskUpdated") || !p.value.task || !ids.has(p.value.task.id)) continue;
    const t = p.value.task;
    const stamp = t.updateTime ?? t.createTime;
    if (!stamp) continue;
    const list = timeline.get(t.id) ?? [];
    list.push({ at: timestampDate(stamp).getTime(), done: t.status === TaskStatus.DONE });
    timeline.set(t.id, list);
  }
  const points = (t: Task) => t.storyPoints ?? 0;
  const total = tasks.reduce((n, t) => n + points(t), 0);
  const remaining = days.map((iso) => {
    if (iso > today) return null;
    if (iso === today) return tasks.reduce((n, t) => n + (t.status === TaskStatus.DONE ? 0 : points(t)), 0);
    const end = parseDay(iso);
    end.setDate(end.getDate() + 1);
    const eod = end.getTime();
    let left = 0;
    for (const t of tasks) {
      const list = timeline.get(t.id);
      // No history for this task: its present state is the best we know.
      let done = list ? false : t.status === TaskStatus.DONE;
      for (const e of list ?? []) if (e.at < eod) done = e.done;
      if (!done) left += points(t);
    }
    return left;
  });
  // The ideal line reaches zero on the end date and stays there through an overrun.
  const n = end ? days.indexOf(end) + 1 : 0;
  const ideal = n > 1 ? days.map((_, i) => Math.max(0, Math.round((total * (n - 1 - i) * 10) / (n - 1)) / 10)) : [];
  const left = tasks.reduce((k, t) => k + (t.status === TaskStatus.DONE ? 0 : points(t)), 0);
  return { days, remaining, ideal, total, now: left };
}
