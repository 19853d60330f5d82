/**
 * Read-only questions about the board as this person sees it (the optimistic view): board order,
 * columns, a sprint's tasks, a task's comments. Pure functions of the view's maps.
 */
import { SprintState, type Attachment, type Comment, type Project, type Sprint, type Task, type TaskStatus, type WorkflowColumn } from "../proto";
import { placed } from "./workflow";

export { placed as placedIn } from "./workflow";

export function byRank(a: Task, b: Task): number {
  if (a.rank !== b.rank) return a.rank < b.rank ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Top-level tasks of one status in board order. */
export function column(tasks: ReadonlyMap<string, Task>, status: TaskStatus, filter?: (t: Task) => boolean): Task[] {
  const out: Task[] = [];
  for (const t of tasks.values()) {
    if (t.status === status && t.parentTaskId === "" && (!filter || filter(t))) out.push(t);
  }
  return out.sort(byRank);
}

/** Top-level tasks of one workflow column in board order. */
export function columnTasks(
  tasks: ReadonlyMap<string, Task>,
  columns: readonly WorkflowColumn[],
  columnId: string,
  filter?: (t: Task) => boolean,
): Task[] {
  const out: Task[] = [];
  for (const t of tasks.values()) {
    if (t.parentTaskId === "" && placed(columns, t) === columnId && (!filter || filter(t))) out.push(t);
  }
  return out.sort(byRank);
}

/** A task's attachments (its comments' too), oldest first. */
export function taskAttachments(attachments: ReadonlyMap<string, Attachment>, taskId: string): Attachment[] {
  const out: Attachment[] = [];
  for (const a of attachments.values()) if (a.taskId === taskId) out.push(a);
  const t = (a: Attachment) => (a.createTime ? Number(a.createTime.seconds) * 1e3 + a.createTime.nanos / 1e6 : Infinity);
  return out.sort((a, b) => t(a) - t(b) || (a.id < b.id ? -1 : 1));
}

/** Top-level tasks of one sprint ("" for the backlog) in board order. */
export function sprintTasks(tasks: ReadonlyMap<string, Task>, sprintId: string): Task[] {
  const out: Task[] = [];
  for (const t of tasks.values()) if (t.sprintId === sprintId && t.parentTaskId === "") out.push(t);
  return out.sort((a, b) => a.status - b.status || byRank(a, b));
}

export function subtasks(tasks: ReadonlyMap<string, Task>, parentId: string): Task[] {
  const out: Task[] = [];
  for (const t of tasks.values()) if (t.parentTaskId === parentId) out.push(t);
  return out.sort(byRank);
}

/** A task's comments, oldest first (a pending one, with no time yet, last). */
export function taskComments(comments: ReadonlyMap<string, Comment>, taskId: string): Comment[] {
  const out: Comment[] = [];
  for (const c of comments.values()) if (c.taskId === taskId) out.push(c);
  const t = (c: Comment) => (c.createTime ? Number(c.createTime.seconds) * 1e3 + c.createTime.nanos / 1e6 : Infinity);
  return out.sort((a, b) => t(a) - t(b));
}

export function projectsByName(projects: ReadonlyMap<string, Project>): Project[] {
  return [...projects.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Active first, then planned, then completed (newest first). */
export function sprintsInOrder(sprints: ReadonlyMap<string, Sprint>): Sprint[] {
  const order = (sp: Sprint) => (sp.state === SprintState.ACTIVE ? 0 : sp.state === SprintState.COMPLETED ? 2 : 1);
  const time = (sp: Sprint) => (sp.createTime ? Number(sp.createTime.seconds) : Infinity);
  return [...sprints.values()].sort((a, b) => {
    const d = order(a) - order(b);
    if (d) return d;
    return a.state === SprintState.COMPLETED ? time(b) - time(a) : time(a) - time(b) || a.name.localeCompare(b.name);
  });
}
