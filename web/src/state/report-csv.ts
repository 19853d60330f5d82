/**
 * A sprint's record as CSV (RFC 4180): the totals, the daily series and the tasks, in three
 * blocks separated by an empty line, so a spreadsheet opens it as it is.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { SprintTaskOutcome, type SprintReport } from "../proto";
import type { Timestamp } from "@bufbuild/protobuf/wkt";

export const OUTCOME_NAME: Record<number, string> = {
  [SprintTaskOutcome.DONE]: "Done",
  [SprintTaskOutcome.OPEN]: "Open",
  [SprintTaskOutcome.REMOVED]: "Removed",
  [SprintTaskOutcome.CARRIED_OVER]: "Carried over",
};

function cell(v: string | number | boolean): string {
  const s = String(v);
  return /[",\r\n]/.test(s) || /^[=+\-@\t]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function when(t: Timestamp | undefined): string {
  return t ? timestampDate(t).toISOString() : "";
}

export function reportCsv(r: SprintReport): string {
  const rows: (string | number | boolean)[][] = [
    ["Sprint", "Committed", "Added", "Removed", "Completed", "Remaining", "Carried over", "Carried over to", "Capacity", "Frozen"],
    [
      r.sprint?.name ?? "",
      r.committedPoints,
      r.addedPoints,
      r.removedPoints,
      r.completedPoints,
      r.remainingPoints,
      r.carriedOverPoints,
      r.carriedOverPoints ? r.carriedOverToSprintName || "Backlog" : "",
      r.capacity ?? "",
      r.frozen,
    ],
    [],
    ["Date", "Added", "Removed", "Completed", "Scope", "Remaining", "Ideal"],
    ...r.days.map((d) => (d.elapsed ? [d.date, d.added, d.removed, d.completed, d.scope, d.remaining, d.ideal] : [d.date, "", "", "", "", "", d.ideal])),
    [],
    ["Key", "Title", "Points", "Committed", "Outcome", "Joined", "Left", "Done"],
    ...r.tasks.map((t) => [t.key, t.title, t.points, t.committed, OUTCOME_NAME[t.outcome] ?? "", when(t.joinTime), when(t.leaveTime), when(t.doneTime)]),
  ];
  return rows.map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
}

/** A file name for the sprint's CSV: its name, kept to letters, digits and dashes. */
export function csvName(r: SprintReport): string {
  const base = (r.sprint?.name ?? "sprint").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  return `${base || "sprint"}-report.csv`;
}
