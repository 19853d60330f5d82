/**
 * The list view's columns: their headers, their widths, and which give way first when the list is
 * narrow, so that the title, the column a person reads, always keeps room for a sentence.
 *
 * The title takes whatever the other columns leave. Fixed widths (the table's layout is fixed, so
 * a screenful of rows drawn at a time never makes the columns jump) are sized for what their cells
 * hold: "In progress", "Urgent", "Dec 18, 2030", "Dec 4, 2025". When the list is too narrow for all of
 * them and TITLE_MIN_REM of title (a small window, the task panel open beside it), columns are
 * hidden in their `drop` order, lowest first, until the title has its room.
 */
export type ColumnKey = "key" | "title" | "status" | "priority" | "assignee" | "labels" | "sprint" | "points" | "due" | "updated";

export interface ListColumn {
  key: ColumnKey;
  name: string;
  /** Width in rem: 0 for the title (the rest of the row) and the key (from its longest key). */
  width: number;
  /** Hidden, lowest first, when the list is narrow; 0: always shown. */
  drop: number;
}

export const LIST_COLUMNS: readonly ListColumn[] = [
  { key: "key", name: "Key", width: 0, drop: 0 },
  { key: "title", name: "Title", width: 0, drop: 0 },
  { key: "status", name: "Status", width: 7, drop: 0 },
  { key: "priority", name: "Priority", width: 5.5, drop: 7 },
  { key: "assignee", name: "Assignee", width: 7.5, drop: 6 },
  { key: "labels", name: "Labels", width: 8.5, drop: 4 },
  { key: "sprint", name: "Sprint", width: 7, drop: 3 },
  { key: "points", name: "Points", width: 4.25, drop: 2 },
  { key: "due", name: "Due", width: 6.25, drop: 5 },
  { key: "updated", name: "Updated", width: 6, drop: 1 },
];

/** The selection's checkbox column, in rem. */
export const CHECK_REM = 2.5;
/** The least the title keeps, in rem: about 40 characters. */
export const TITLE_MIN_REM = 18;

/** The key column's width in rem for keys of up to `chars` characters ("WEBSITE-120": 11). */
export function keyWidth(chars: number): number {
  // Capitals and digits of the list's 13px text average about 0.55rem; 1.25rem of padding.
  return Math.max(4, Math.ceil((0.55 * chars + 1.25) * 4) / 4);
}

/**
 * The columns shown in a list `widthRem` wide (0: not measured yet, every column), each with its
 * width in rem (the title's 0: the rest), for keys of up to `keyChars` characters.
 */
export function fitColumns(widthRem: number, keyChars: number): ListColumn[] {
  const shown = LIST_COLUMNS.map((c) => (c.key === "key" ? { ...c, width: keyWidth(keyChars) } : c));
  if (widthRem <= 0) return shown;
  const droppable = shown.filter((c) => c.drop > 0).sort((a, b) => a.drop - b.drop);
  let fixed = CHECK_REM + shown.reduce((sum, c) => sum + c.width, 0);
  const hidden = new Set<ColumnKey>();
  for (const c of droppable) {
    if (fixed + TITLE_MIN_REM <= widthRem) break;
    hidden.add(c.key);
    fixed -= c.width;
  }
  return shown.filter((c) => !hidden.has(c.key));
}
