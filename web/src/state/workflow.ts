/**
 * A project's workflow as the client sees it: its board columns, each in one of the five status
 * categories. Task.status is always the category of the task's column; Task.columnId is empty
 * while the task sits in the first column of its status (mirrors server/domain/columns.py).
 */
import { create, TaskStatus, WorkflowColumnSchema, type Project, type Task, type WorkflowColumn } from "../proto";

/** The columns of a project whose workflow was never changed (and of a project not loaded yet). */
export const DEFAULT_COLUMNS: readonly WorkflowColumn[] = [
  create(WorkflowColumnSchema, { id: "backlog", name: "Backlog", category: TaskStatus.BACKLOG }),
  create(WorkflowColumnSchema, { id: "todo", name: "To do", category: TaskStatus.TODO }),
  create(WorkflowColumnSchema, { id: "in_progress", name: "In progress", category: TaskStatus.IN_PROGRESS }),
  create(WorkflowColumnSchema, { id: "in_review", name: "In review", category: TaskStatus.IN_REVIEW }),
  create(WorkflowColumnSchema, { id: "done", name: "Done", category: TaskStatus.DONE }),
];

export function columnsOf(project: Project | null | undefined): readonly WorkflowColumn[] {
  return project && project.columns.length > 0 ? project.columns : DEFAULT_COLUMNS;
}

/** The id of the first column of a category: where a task with no columnId sits. */
export function firstOf(columns: readonly WorkflowColumn[], status: TaskStatus): string {
  return columns.find((c) => c.category === status)?.id ?? "";
}

/** The column a task is in. */
export function placed(columns: readonly WorkflowColumn[], t: Pick<Task, "status" | "columnId">): string {
  if (t.columnId && columns.some((c) => c.id === t.columnId)) return t.columnId;
  return firstOf(columns, t.status);
}

/** What a task moved to a column carries: the column's category, and its id unless it is the
 * category's first column (then empty, as the server stores it). */
export function target(columns: readonly WorkflowColumn[], columnId: string): { status: TaskStatus; columnId: string } | null {
  const col = columns.find((c) => c.id === columnId);
  if (!col) return null;
  return { status: col.category, columnId: firstOf(columns, col.category) === col.id ? "" : col.id };
}

/** The categories that have no column in a list (a list the server would refuse). */
export function missingCategories(columns: readonly WorkflowColumn[]): TaskStatus[] {
  const all = [TaskStatus.BACKLOG, TaskStatus.TODO, TaskStatus.IN_PROGRESS, TaskStatus.IN_REVIEW, TaskStatus.DONE];
  return all.filter((s) => !columns.some((c) => c.category === s));
}
