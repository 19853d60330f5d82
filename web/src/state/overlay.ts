/**
 * The optimistic overlay: how each mutating command of the table changes the board as this
 * person sees it before the server answers, and what its acknowledgement removes for good. One
 * handler per command case; a command the table declares as mutating with no handler here (or a
 * handler for a case the table lacks) fails commands.test.ts.
 */
import { generateKeyBetween } from "fractional-indexing";
import {
  clone,
  create,
  CommentSchema,
  SprintSchema,
  SprintState,
  TaskSchema,
  TaskStatus,
  type Comment,
  type Project,
  type Sprint,
  type Task,
} from "../proto";
import type { CommandValue, PayloadCase } from "./commands";
import type { ConfirmedBoard } from "./confirmed";
import type { OutboxEntry } from "./outbox";
import { columnsOf, target } from "./workflow";

/** Task fields a person can edit, by their proto (field mask) name. */
export const TASK_FIELDS = {
  title: "title",
  description: "description",
  status: "status",
  priority: "priority",
  assignee_id: "assigneeId",
  story_points: "storyPoints",
  labels: "labels",
  due_date: "dueDate",
  sprint_id: "sprintId",
  parent_task_id: "parentTaskId",
  column_id: "columnId",
} as const;
export type TaskField = keyof typeof TASK_FIELDS;

/** Sprint fields a person can edit, by their proto (field mask) name. */
export const SPRINT_FIELDS = { name: "name", goal: "goal", start_date: "startDate", end_date: "endDate", capacity: "capacity" } as const;
export type SprintField = keyof typeof SPRINT_FIELDS;

/** Copies the fields named in mask (proto names) from src onto dst. */
export function applyMask<T extends object>(dst: T, src: T, mask: readonly string[], fields: Readonly<Record<string, string>> = TASK_FIELDS): void {
  const d = dst as Record<string, unknown>;
  const s = src as Record<string, unknown>;
  for (const path of mask) {
    const key = fields[path];
    if (!key) continue;
    const v = s[key];
    d[key] = Array.isArray(v) ? [...v] : v;
  }
}

/**
 * A rank strictly between two server ranks ("" for an open end), made the way the server makes
 * them (fractional-indexing, base 62), so an optimistic card sorts where the server will put it.
 */
export function rankBetween(after: string, before: string): string {
  // The library refuses two equal bounds (two cards placed optimistically at once) and keys it
  // did not make: then a looser pair is tried. The view must never fail over a placeholder
  // rank; the server's own rank replaces it on the ack.
  for (const [a, b] of [[after, before], [after, ""], ["", before], ["", ""]]) {
    try {
      return generateKeyBetween(a || null, b || null);
    } catch {
      // try the next, looser pair
    }
  }
  return "a0";
}

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** The maps an overlay writes: copies of the confirmed ones. */
interface BoardMaps {
  tasks: Map<string, Task>;
  comments: Map<string, Comment>;
  projects: Map<string, Project>;
  sprints: Map<string, Sprint>;
}

/** The confirmed maps an overlay starts from, and the view (where no command touched a map,
 * it is the confirmed one itself). */
export interface BaseMaps {
  readonly tasks: ReadonlyMap<string, Task>;
  readonly comments: ReadonlyMap<string, Comment>;
  readonly projects: ReadonlyMap<string, Project>;
  readonly sprints: ReadonlyMap<string, Sprint>;
}

/** The confirmed maps, each copied on first use, so an overlay never touches confirmed state. */
export class Draft {
  private readonly copies: Partial<BoardMaps> = {};
  constructor(
    private readonly base: BaseMaps,
    readonly projectId: string,
    readonly meId: string,
  ) {}

  private writable<K extends keyof BoardMaps>(k: K): BoardMaps[K] {
    return (this.copies[k] ??= new Map<string, unknown>(this.base[k]) as BoardMaps[K]);
  }

  get tasks() {
    return this.writable("tasks");
  }
  get comments() {
    return this.writable("comments");
  }
  get projects() {
    return this.writable("projects");
  }
  get sprints() {
    return this.writable("sprints");
  }
  result(): BaseMaps {
    return { ...this.base, ...this.copies };
  }
}

export interface CommandHandler<C extends PayloadCase> {
  /** Lays the pending command over the draft. */
  overlay(d: Draft, cmd: CommandValue<C>, e: OutboxEntry): void;
  /** Its acknowledgement: what the Ack's result does not say (a delete carries no entity). */
  acked?(b: ConfirmedBoard, cmd: CommandValue<C>): void;
}

function sprintOf(d: Draft, id: string): Sprint | undefined {
  const cur = d.sprints.get(id);
  return cur && clone(SprintSchema, cur);
}

/** Takes tasks and everything under them off the draft board. */
function removeWithSubtasks(tasks: Map<string, Task>, ids: readonly string[]): void {
  let frontier = new Set(ids);
  while (frontier.size) {
    for (const id of frontier) tasks.delete(id);
    const next = new Set<string>();
    for (const [id, t] of tasks) if (frontier.has(t.parentTaskId)) next.add(id);
    frontier = next;
  }
}

/** The confirmed side of removeWithSubtasks: an acknowledged archive is final at once. */
function dropWithSubtasks(b: ConfirmedBoard, all: ReadonlyMap<string, Task>, ids: readonly string[]): void {
  const draft = new Map(all);
  removeWithSubtasks(draft, ids);
  for (const id of all.keys()) if (!draft.has(id)) b.drop(b.tasks, id);
}

/** Every mutating command the web makes, by case. */
export const OVERLAYS: { [C in PayloadCase]?: CommandHandler<C> } = {
  createTask: {
    overlay(d, cmd) {
      if (cmd.projectId !== d.projectId || !cmd.task) return;
      if (d.tasks.has(cmd.task.id)) return; // already confirmed
      const t = clone(TaskSchema, cmd.task);
      t.projectId = cmd.projectId;
      settle(d, t, t.columnId);
      if (!t.rank) {
        // Shown at the end of its column until the server's rank arrives.
        let last = "";
        for (const o of d.tasks.values()) if (o.status === t.status && o.rank > last) last = o.rank;
        t.rank = rankBetween(last, "");
      }
      d.tasks.set(t.id, t);
    },
  },
  updateTask: {
    overlay(d, cmd) {
      const cur = d.tasks.get(cmd.taskId);
      if (!cur || !cmd.task) return;
      const t = clone(TaskSchema, cur);
      const paths = cmd.updateMask?.paths ?? [];
      applyMask(t, cmd.task, paths);
      if (paths.includes("column_id")) settle(d, t, t.columnId);
      else if (paths.includes("status") && t.status !== cur.status) t.columnId = "";
      d.tasks.set(t.id, t);
    },
  },
  moveTask: {
    overlay(d, cmd) {
      const cur = d.tasks.get(cmd.taskId);
      if (!cur) return;
      const after = d.tasks.get(cmd.afterTaskId)?.rank ?? "";
      const before = d.tasks.get(cmd.beforeTaskId)?.rank ?? "";
      const t = { ...cur, status: cmd.status || cur.status, rank: rankBetween(after, before) };
      if (cmd.columnId) settle(d, t, cmd.columnId);
      else if (t.status !== cur.status) t.columnId = "";
      d.tasks.set(cur.id, t);
    },
  },
  deleteTask: {
    overlay(d, cmd) {
      const tasks = d.tasks;
      tasks.delete(cmd.taskId);
      for (const [id, t] of tasks) if (t.parentTaskId === cmd.taskId) tasks.delete(id);
    },
    acked: (b, cmd) => b.drop(b.tasks, cmd.taskId),
  },
  // Restores show when the server says what came back (the ack or the event carries it).
  restoreTask: { overlay: () => {}, acked: (b, cmd) => b.forget(cmd.taskId) },
  restoreTasks: {
    overlay: () => {},
    acked: (b, cmd) => {
      for (const id of cmd.taskIds) b.forget(id);
    },
  },
  purgeTask: { overlay: () => {} },
  restoreComment: { overlay: () => {}, acked: (b, cmd) => b.forget(cmd.commentId) },
  restoreProject: { overlay: () => {}, acked: (b, cmd) => b.forget(cmd.projectId) },
  unarchiveSprint: { overlay: () => {} },
  archiveTask: {
    overlay: (d, cmd) => removeWithSubtasks(d.tasks, [cmd.taskId]),
    acked: (b, cmd) => dropWithSubtasks(b, new Map(b.tasks), [cmd.taskId]),
  },
  archiveDoneTasks: {
    overlay(d, cmd) {
      const ids = cmd.taskIds.length ? cmd.taskIds : [...d.tasks.values()].filter((t) => t.status === TaskStatus.DONE && !t.parentTaskId).map((t) => t.id);
      removeWithSubtasks(d.tasks, ids);
    },
    acked(b, cmd) {
      const all = new Map(b.tasks);
      const ids = cmd.taskIds.length ? cmd.taskIds : [...all.values()].filter((t) => t.status === TaskStatus.DONE && !t.parentTaskId).map((t) => t.id);
      dropWithSubtasks(b, all, ids);
    },
  },
  archiveSprint: {
    overlay(d, cmd) {
      d.sprints.delete(cmd.sprintId);
      removeWithSubtasks(d.tasks, [...d.tasks.values()].filter((t) => t.sprintId === cmd.sprintId).map((t) => t.id));
    },
    acked(b, cmd) {
      b.drop(b.sprints, cmd.sprintId);
      const all = new Map(b.tasks);
      dropWithSubtasks(b, all, [...all.values()].filter((t) => t.sprintId === cmd.sprintId).map((t) => t.id));
    },
  },
  bulkEditTasks: {
    overlay(d, cmd) {
      for (const u of cmd.updates) OVERLAYS.updateTask?.overlay(d, u, undefined as never);
      for (const taskId of cmd.deleteTaskIds) OVERLAYS.deleteTask?.overlay(d, { taskId } as never, undefined as never);
    },
    acked: (b, cmd) => {
      for (const id of cmd.deleteTaskIds) b.drop(b.tasks, id);
    },
  },
  // A label's colour shows once confirmed (it changes no task); a rename shows at once.
  setLabelColor: { overlay() {} },
  renameLabel: {
    overlay(d, cmd) {
      const from = cmd.label.trim().toLowerCase();
      const to = cmd.newName.trim();
      if (!from || !to) return;
      // Merged into a label the project has: spelt as the project spells it.
      let spelt = to;
      for (const t of d.tasks.values()) for (const l of t.labels) if (l.toLowerCase() === to.toLowerCase() && l.toLowerCase() !== from) spelt = l;
      for (const t of [...d.tasks.values()]) {
        if (!t.labels.some((l) => l.toLowerCase() === from)) continue;
        const labels: string[] = [];
        for (const l of t.labels) {
          const v = l.toLowerCase() === from || l.toLowerCase() === spelt.toLowerCase() ? spelt : l;
          if (!labels.some((x) => x.toLowerCase() === v.toLowerCase())) labels.push(v);
        }
        d.tasks.set(t.id, { ...t, labels });
      }
    },
  },
  addComment: {
    overlay(d, cmd, e) {
      if (d.comments.has(cmd.commentId)) return;
      d.comments.set(
        cmd.commentId,
        create(CommentSchema, { id: cmd.commentId, taskId: cmd.taskId, projectId: e.projectId, authorId: d.meId, body: cmd.body }),
      );
    },
  },
  editComment: {
    overlay(d, cmd) {
      const cur = d.comments.get(cmd.commentId);
      if (cur) d.comments.set(cur.id, { ...cur, body: cmd.body });
    },
  },
  deleteComment: {
    overlay: (d, cmd) => void d.comments.delete(cmd.commentId),
    acked: (b, cmd) => b.drop(b.comments, cmd.commentId),
  },
  createSprint: {
    overlay(d, cmd) {
      if (cmd.projectId !== d.projectId || !cmd.sprint || d.sprints.has(cmd.sprint.id)) return;
      const sp = clone(SprintSchema, cmd.sprint);
      sp.projectId = cmd.projectId;
      sp.state = SprintState.PLANNED;
      d.sprints.set(sp.id, sp);
    },
  },
  updateSprint: {
    overlay(d, cmd) {
      const sp = sprintOf(d, cmd.sprintId);
      if (!sp || !cmd.sprint) return;
      applyMask(sp, cmd.sprint, cmd.updateMask?.paths ?? [], SPRINT_FIELDS);
      d.sprints.set(sp.id, sp);
    },
  },
  startSprint: {
    overlay(d, cmd) {
      const sp = sprintOf(d, cmd.sprintId);
      if (!sp || sp.state !== SprintState.PLANNED) return;
      sp.state = SprintState.ACTIVE;
      if (!sp.startDate) sp.startDate = today();
      d.sprints.set(sp.id, sp);
    },
  },
  completeSprint: {
    overlay(d, cmd) {
      const sp = sprintOf(d, cmd.sprintId);
      if (!sp || sp.state !== SprintState.ACTIVE) return;
      sp.state = SprintState.COMPLETED;
      const tasks = d.tasks;
      for (const t of tasks.values()) {
        if (t.sprintId === sp.id && t.status !== TaskStatus.DONE) tasks.set(t.id, { ...t, sprintId: cmd.moveOpenTasksToSprintId });
      }
      d.sprints.set(sp.id, sp);
    },
  },
  createProject: {
    overlay(d, cmd) {
      if (cmd.project && !d.projects.has(cmd.project.id)) d.projects.set(cmd.project.id, cmd.project);
    },
  },
  updateProject: {
    overlay(d, cmd) {
      const cur = d.projects.get(cmd.projectId);
      if (cur && cmd.project) d.projects.set(cur.id, { ...cur, name: cmd.project.name, key: cur.key });
    },
  },
  deleteProject: {
    overlay: (d, cmd) => void d.projects.delete(cmd.projectId),
    acked: (b, cmd) => b.drop(b.projects, cmd.projectId),
  },
  updateWorkflow: {
    // The columns show at once; the tasks that follow a changed column come with their events.
    overlay(d, cmd) {
      const cur = d.projects.get(cmd.projectId);
      if (cur) d.projects.set(cur.id, { ...cur, columns: cmd.columns });
    },
  },
  // Attachments are uploaded over REST, which records them itself; nothing shows before the file
  // is on the server.
  addAttachment: { overlay: () => {} },
  removeAttachment: {
    overlay: () => {},
    acked: (b, cmd) => b.drop(b.attachments, cmd.attachmentId),
  },
  // The inbox's own: nothing on the board changes. The inbox shows a mark at once
  // (state/inbox.ts), and a pending watch shows from the outbox itself (ui/inbox.tsx).
  markInboxRead: { overlay() {} },
  watchTask: { overlay() {} },
};

/** A task put in a column takes its category as status (as the server does). */
function settle(d: Draft, t: Task, columnId: string): void {
  if (!columnId) return;
  const to = target(columnsOf(d.projects.get(d.projectId)), columnId);
  if (to) Object.assign(t, to);
}

/** The handler for one outbox entry's command (the table is keyed by case, so the types agree). */
export function handlerOf(e: OutboxEntry): CommandHandler<PayloadCase> | undefined {
  const c = e.msg.payload.case;
  return c ? (OVERLAYS[c] as CommandHandler<PayloadCase> | undefined) : undefined;
}

/** The board as this person sees it: the confirmed maps with every pending command laid over. */
export function overlay(d: Draft, pending: readonly OutboxEntry[]) {
  for (const e of pending) handlerOf(e)?.overlay(d, e.msg.payload.value as CommandValue<PayloadCase>, e);
  return d.result();
}
