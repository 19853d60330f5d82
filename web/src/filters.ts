/**
 * The board's filters: their values (several per kind: any of them matches), whether any is on,
 * which tasks they keep, and their form in the address (`#/p/ID?assignee=A&assignee=B&q=…`), so a
 * reload, the back button or a shared link shows the same cards.
 */
import type { Task } from "./proto";

export interface BoardFilters {
  /** Words looked for in the key, title and description (as REST `q` does), case-insensitively. */
  text: string;
  /** Member ids; "none" for unassigned. */
  assignee: string[];
  /** Labels, compared without case: "Bug" and "bug" are one label. */
  label: string[];
  priority: number[];
  /** Sprint ids; "none" for no sprint. */
  sprint: string[];
  mine: boolean;
}

export function emptyFilters(): BoardFilters {
  return { text: "", assignee: [], label: [], priority: [], sprint: [], mine: false };
}

export function filtersActive(f: BoardFilters): boolean {
  return !!f.text.trim() || f.assignee.length > 0 || f.label.length > 0 || f.priority.length > 0 || f.sprint.length > 0 || f.mine;
}

/** The one spelling of a label that comparisons use. */
export function labelKey(label: string): string {
  return label.trim().toLowerCase();
}

/** The test a task passes to show, or undefined when no filter is on; `me` is this person's id. */
export function taskMatcher(f: BoardFilters, me: string): ((t: Task) => boolean) | undefined {
  if (!filtersActive(f)) return undefined;
  const words = f.text.toLowerCase().split(/\s+/).filter(Boolean);
  const labels = new Set(f.label.map(labelKey));
  const either = (want: string[], value: string) => want.length === 0 || want.some((w) => value === (w === "none" ? "" : w));
  return (t) => {
    if (words.length) {
      const hay = `${t.key}\n${t.title}\n${t.description}`.toLowerCase();
      if (!words.every((w) => hay.includes(w))) return false;
    }
    return (
      either(f.sprint, t.sprintId) &&
      either(f.assignee, t.assigneeId) &&
      (labels.size === 0 || t.labels.some((l) => labels.has(labelKey(l)))) &&
      (f.priority.length === 0 || f.priority.includes(t.priority)) &&
      (!f.mine || t.assigneeId === me)
    );
  };
}

/** The filters as a query string ("" when none is on); a kind with several values repeats its key. */
export function toQuery(f: BoardFilters): string {
  const q = new URLSearchParams();
  if (f.text.trim()) q.set("q", f.text);
  for (const a of f.assignee) q.append("assignee", a);
  for (const l of f.label) q.append("label", l);
  for (const p of f.priority) q.append("priority", String(p));
  for (const s of f.sprint) q.append("sprint", s);
  if (f.mine) q.set("mine", "1");
  return q.toString();
}

/** The filters a query string names; what it cannot read is left out, never an error. */
export function fromQuery(query: string): BoardFilters {
  const q = new URLSearchParams(query);
  const unique = <T>(xs: T[]) => [...new Set(xs)];
  return {
    text: q.get("q") ?? "",
    assignee: unique(q.getAll("assignee").filter(Boolean)),
    label: unique(q.getAll("label").filter((l) => l.trim())),
    priority: unique(q.getAll("priority").filter((p) => p.trim() !== "").map(Number).filter((n) => Number.isInteger(n) && n >= 0)),
    sprint: unique(q.getAll("sprint").filter(Boolean)),
    mine: q.get("mine") === "1",
  };
}
