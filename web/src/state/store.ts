/**
 * The client's model of one project's board: the state confirmed by the server (snapshot plus
 * events applied strictly by seq) with this browser's unacknowledged commands laid over it, so a
 * change shows at once and rolls back by itself when the server rejects it. Pure TypeScript: no
 * DOM, no network; the connection feeds it messages and sends what its outbox holds.
 */
import {
  clone,
  create,
  ErrorCode,
  FieldMaskSchema,
  TaskSchema,
  CommentSchema,
  ProjectSchema,
  SprintSchema,
  SprintState,
  WebSocketMessageSchema,
  type Ack,
  type Comment,
  type Member,
  MemberRole,
  type Project,
  type Reject,
  type Snapshot,
  type Sprint,
  type Task,
  TaskStatus,
  type UserPresence,
  type WebSocketMessage,
  PresenceState,
} from "../proto";
import { newId } from "./ids";
import { Outbox, type KeyValueStorage, type OutboxEntry } from "./outbox";
import { rankBetween } from "./rank";

type Payload = WebSocketMessage["payload"];
export type CommandCase = NonNullable<Payload["case"]>;

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
} as const;
export type TaskField = keyof typeof TASK_FIELDS;

export interface Conflict {
  id: string;
  taskId: string;
  /** The fields someone else changed since our base version. */
  fields: string[];
  /** The fields we tried to set, by proto name, and our values. */
  mask: string[];
  mine: Task;
  theirs: Task;
  kind: "update" | "move";
  /** For a move: where we wanted the card. */
  move?: { status: TaskStatus; afterTaskId: string; beforeTaskId: string };
}

export interface Notice {
  id: string;
  text: string;
}

export type EventOutcome = "applied" | "duplicate" | "gap" | "ignored";

function envelope(payload: Payload): WebSocketMessage {
  return create(WebSocketMessageSchema, { messageId: newId(), payload });
}

/** Copies the fields named in mask from src onto dst. */
export function applyMask(dst: Task, src: Task, mask: readonly string[]): void {
  const d = dst as unknown as Record<string, unknown>;
  const s = src as unknown as Record<string, unknown>;
  for (const path of mask) {
    const key = TASK_FIELDS[path as TaskField];
    if (!key) continue;
    const v = s[key];
    d[key] = Array.isArray(v) ? [...v] : v;
  }
}

const VERBS: Partial<Record<CommandCase, string>> = {
  createTask: "create the task",
  updateTask: "save the change",
  moveTask: "move the task",
  deleteTask: "delete the task",
  addComment: "add the comment",
  editComment: "edit the comment",
  deleteComment: "delete the comment",
  createProject: "create the project",
  updateProject: "rename the project",
  deleteProject: "delete the project",
  createSprint: "create the sprint",
  updateSprint: "change the sprint",
  startSprint: "start the sprint",
  completeSprint: "complete the sprint",
};

/** Sprint fields a person can edit, by their proto (field mask) name. */
const SPRINT_FIELDS = { name: "name", goal: "goal", start_date: "startDate", end_date: "endDate" } as const;

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

export class BoardStore {
  projectId = "";
  epoch = "";
  /** The last change-log position applied; events at or below it are duplicates. */
  seq = 0n;
  project: Project | null = null;
  readonly tasks = new Map<string, Task>();
  readonly sprints = new Map<string, Sprint>();
  readonly members = new Map<string, Member>();
  readonly comments = new Map<string, Comment>();
  readonly presence = new Map<string, UserPresence>();
  readonly projects = new Map<string, Project>();
  /** Ids of entities deleted by a confirmed change: a late older event must not bring them back. */
  private readonly deleted = new Set<string>();
  conflicts: Conflict[] = [];
  notices: Notice[] = [];
  me: Member | null = null;
  connectionId = "";
  readonly outbox: Outbox;
  private readonly undoStack: (() => WebSocketMessage | null)[] = [];
  private readonly listeners = new Set<() => void>();
  rev = 0;
  private cache: {
    rev: number;
    tasks: Map<string, Task>;
    comments: Map<string, Comment>;
    projects: Map<string, Project>;
    sprints: Map<string, Sprint>;
  } | null = null;

  constructor(storage: KeyValueStorage | null = null) {
    this.outbox = new Outbox(storage);
  }

  // ---- change notification -------------------------------------------------------------------

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed(): void {
    this.rev++;
    this.cache = null;
    for (const fn of this.listeners) fn();
  }

  // ---- confirmed state -----------------------------------------------------------------------

  /** Switches the store to another project; the confirmed board is dropped, the outbox kept. */
  openProject(projectId: string): void {
    if (projectId === this.projectId) return;
    this.projectId = projectId;
    this.epoch = "";
    this.seq = 0n;
    this.project = null;
    this.tasks.clear();
    this.sprints.clear();
    this.members.clear();
    this.comments.clear();
    this.presence.clear();
    this.deleted.clear();
    this.undoStack.length = 0;
    this.changed();
  }

  applySnapshot(s: Snapshot): void {
    this.projectId = s.projectId;
    this.epoch = s.epoch;
    this.seq = s.seq;
    this.project = s.project ?? null;
    if (s.project) this.projects.set(s.project.id, s.project);
    this.tasks.clear();
    for (const t of s.tasks) this.tasks.set(t.id, t);
    this.sprints.clear();
    for (const sp of s.sprints) this.sprints.set(sp.id, sp);
    for (const m of s.members) this.members.set(m.id, m);
    this.presence.clear();
    for (const p of s.presence) this.putPresence(p);
    this.deleted.clear();
    this.changed();
  }

  setProjects(list: readonly Project[]): void {
    // An unchanged list must not redraw the page every poll.
    const same =
      list.length === this.projects.size && list.every((p) => this.projects.get(p.id)?.version === p.version);
    if (same) return;
    this.projects.clear();
    for (const p of list) this.projects.set(p.id, p);
    this.changed();
  }

  /** Adds members met since the snapshot (someone who joined later, or this person over REST). */
  putMembers(list: readonly Member[]): void {
    for (const m of list) this.members.set(m.id, m);
    this.changed();
  }

  setComments(taskId: string, list: readonly Comment[]): void {
    for (const [id, c] of this.comments) if (c.taskId === taskId) this.comments.delete(id);
    for (const c of list) this.comments.set(c.id, c);
    this.changed();
  }

  private putTask(t: Task): void {
    if (this.deleted.has(t.id)) return;
    const cur = this.tasks.get(t.id);
    if (cur && cur.version > t.version) return;
    this.tasks.set(t.id, t);
  }

  private dropTask(id: string): void {
    this.tasks.delete(id);
    this.deleted.add(id);
  }

  private putComment(c: Comment): void {
    if (this.deleted.has(c.id)) return;
    const cur = this.comments.get(c.id);
    if (cur && cur.version > c.version) return;
    this.comments.set(c.id, c);
  }

  private putProject(p: Project): void {
    if (this.deleted.has(p.id)) return;
    const cur = this.projects.get(p.id);
    if (cur && cur.version > p.version) return;
    this.projects.set(p.id, p);
    if (p.id === this.projectId) this.project = p;
  }

  private putSprint(sp: Sprint): void {
    if (this.deleted.has(sp.id)) return;
    const cur = this.sprints.get(sp.id);
    if (cur && cur.version > sp.version) return;
    this.sprints.set(sp.id, sp);
  }

  private putPresence(p: UserPresence): void {
    if (p.state === PresenceState.OFFLINE) this.presence.delete(p.connectionId);
    else this.presence.set(p.connectionId, p);
    if (p.member) this.members.set(p.member.id, p.member);
  }

  /**
   * Applies one server message. Change-log events are applied only in seq order: an event at or
   * below the last applied seq is a duplicate (a replay overlapping live delivery) and is ignored;
   * one past a hole returns "gap" so the connection resubscribes from the last applied seq.
   */
  applyMessage(msg: WebSocketMessage): EventOutcome {
    const p = msg.payload;
    switch (p.case) {
      case "snapshot":
        this.applySnapshot(p.value);
        return "applied";
      case "userPresence":
        if (p.value.projectId !== this.projectId) return "ignored";
        this.putPresence(p.value);
        this.changed();
        return "applied";
      case "presenceDiff":
        // One per tick for the whole project: every connection whose presence changed.
        if (p.value.projectId !== this.projectId) return "ignored";
        for (const change of p.value.changes) this.putPresence(change);
        this.changed();
        return "applied";
      case "ack":
        this.onAck(msg.messageId, p.value);
        return "applied";
      case "reject":
        this.onReject(msg.messageId, p.value);
        return "applied";
      case "taskCreated":
      case "taskUpdated":
      case "taskDeleted":
      case "commentAdded":
      case "commentUpdated":
      case "commentDeleted":
      case "sprintUpdated":
      case "sprintDeleted":
      case "projectUpdated":
      case "projectDeleted": {
        const ev = p.value;
        if (ev.projectId !== this.projectId) return "ignored";
        if (ev.seq <= this.seq) return "duplicate";
        if (ev.seq > this.seq + 1n) return "gap";
        this.applyEvent(msg);
        this.seq = ev.seq;
        this.changed();
        return "applied";
      }
      default:
        return "ignored";
    }
  }

  private applyEvent(msg: WebSocketMessage): void {
    const p = msg.payload;
    switch (p.case) {
      case "taskCreated":
      case "taskUpdated":
        if (p.value.task) this.putTask(p.value.task);
        break;
      case "taskDeleted":
        this.dropTask(p.value.taskId);
        for (const id of p.value.deletedSubtaskIds) this.dropTask(id);
        break;
      case "commentAdded":
      case "commentUpdated":
        if (p.value.comment) this.putComment(p.value.comment);
        break;
      case "commentDeleted":
        this.comments.delete(p.value.commentId);
        this.deleted.add(p.value.commentId);
        break;
      case "sprintUpdated":
        if (p.value.sprint) this.putSprint(p.value.sprint);
        // The carried tasks' own TaskUpdated events precede this one; this keeps older servers'
        // clients right too. The version stays, so those events still apply.
        for (const id of p.value.carriedOverTaskIds) {
          const t = this.tasks.get(id);
          if (t) this.tasks.set(id, { ...t, sprintId: p.value.carriedOverToSprintId });
        }
        break;
      case "sprintDeleted":
        this.sprints.delete(p.value.sprintId);
        this.deleted.add(p.value.sprintId);
        break;
      case "projectUpdated":
        if (p.value.project) this.putProject(p.value.project);
        break;
      case "projectDeleted":
        this.projects.delete(p.value.projectId);
        this.deleted.add(p.value.projectId);
        if (p.value.projectId === this.projectId) this.project = null;
        break;
      default:
        break;
    }
  }

  // ---- the optimistic view -------------------------------------------------------------------

  private view() {
    if (this.cache && this.cache.rev === this.rev) return this.cache;
    let tasks = this.tasks;
    let comments = this.comments;
    let projects = this.projects;
    let sprints = this.sprints;
    for (const e of this.outbox.all()) {
      const c = e.msg.payload.case;
      if (c === "createTask" || c === "updateTask" || c === "moveTask" || c === "deleteTask") {
        if (tasks === this.tasks) tasks = new Map(this.tasks);
        this.overlayTask(tasks, e);
      } else if (c === "createSprint" || c === "updateSprint" || c === "startSprint" || c === "completeSprint") {
        if (sprints === this.sprints) sprints = new Map(this.sprints);
        if (c === "completeSprint" && tasks === this.tasks) tasks = new Map(this.tasks);
        this.overlaySprint(sprints, tasks, e);
      } else if (c === "addComment" || c === "editComment" || c === "deleteComment") {
        if (comments === this.comments) comments = new Map(this.comments);
        this.overlayComment(comments, e);
      } else if (c === "createProject" || c === "updateProject" || c === "deleteProject") {
        if (projects === this.projects) projects = new Map(this.projects);
        this.overlayProject(projects, e);
      }
    }
    this.cache = { rev: this.rev, tasks, comments, projects, sprints };
    return this.cache;
  }

  private overlaySprint(sprints: Map<string, Sprint>, tasks: Map<string, Task>, e: OutboxEntry): void {
    const p = e.msg.payload;
    if (p.case === "createSprint") {
      if (p.value.projectId !== this.projectId || !p.value.sprint || sprints.has(p.value.sprint.id)) return;
      const sp = clone(SprintSchema, p.value.sprint);
      sp.projectId = p.value.projectId;
      sp.state = SprintState.PLANNED;
      sprints.set(sp.id, sp);
      return;
    }
    const id = p.case === "updateSprint" || p.case === "startSprint" || p.case === "completeSprint" ? p.value.sprintId : "";
    const cur = sprints.get(id);
    if (!cur) return;
    const sp = clone(SprintSchema, cur);
    if (p.case === "updateSprint" && p.value.sprint) {
      const src = p.value.sprint as unknown as Record<string, string>;
      const dst = sp as unknown as Record<string, string>;
      for (const path of p.value.updateMask?.paths ?? []) {
        const key = SPRINT_FIELDS[path as keyof typeof SPRINT_FIELDS];
        if (key) dst[key] = src[key];
      }
    } else if (p.case === "startSprint" && sp.state === SprintState.PLANNED) {
      sp.state = SprintState.ACTIVE;
      if (!sp.startDate) sp.startDate = today();
    } else if (p.case === "completeSprint" && sp.state === SprintState.ACTIVE) {
      sp.state = SprintState.COMPLETED;
      for (const t of tasks.values()) {
        if (t.sprintId === sp.id && t.status !== TaskStatus.DONE) {
          tasks.set(t.id, { ...t, sprintId: p.value.moveOpenTasksToSprintId });
        }
      }
    }
    sprints.set(sp.id, sp);
  }

  private overlayTask(tasks: Map<string, Task>, e: OutboxEntry): void {
    const p = e.msg.payload;
    if (p.case === "createTask") {
      if (p.value.projectId !== this.projectId || !p.value.task) return;
      if (tasks.has(p.value.task.id)) return; // already confirmed
      const t = clone(TaskSchema, p.value.task);
      t.projectId = p.value.projectId;
      if (!t.rank) {
        // Shown at the end of its column until the server's rank arrives.
        let last = "";
        for (const o of tasks.values()) if (o.status === t.status && o.rank > last) last = o.rank;
        t.rank = rankBetween(last, "");
      }
      tasks.set(t.id, t);
    } else if (p.case === "updateTask") {
      const cur = tasks.get(p.value.taskId);
      if (!cur || !p.value.task) return;
      const t = clone(TaskSchema, cur);
      applyMask(t, p.value.task, p.value.updateMask?.paths ?? []);
      tasks.set(t.id, t);
    } else if (p.case === "moveTask") {
      const cur = tasks.get(p.value.taskId);
      if (!cur) return;
      const after = tasks.get(p.value.afterTaskId)?.rank ?? "";
      const before = tasks.get(p.value.beforeTaskId)?.rank ?? "";
      tasks.set(cur.id, { ...cur, status: p.value.status, rank: rankBetween(after, before) });
    } else if (p.case === "deleteTask") {
      tasks.delete(p.value.taskId);
      for (const [id, t] of tasks) if (t.parentTaskId === p.value.taskId) tasks.delete(id);
    }
  }

  private overlayComment(comments: Map<string, Comment>, e: OutboxEntry): void {
    const p = e.msg.payload;
    if (p.case === "addComment") {
      if (comments.has(p.value.commentId)) return;
      comments.set(
        p.value.commentId,
        create(CommentSchema, {
          id: p.value.commentId,
          taskId: p.value.taskId,
          projectId: e.projectId,
          authorId: this.me?.id ?? "",
          body: p.value.body,
        }),
      );
    } else if (p.case === "editComment") {
      const cur = comments.get(p.value.commentId);
      if (cur) comments.set(cur.id, { ...cur, body: p.value.body });
    } else if (p.case === "deleteComment") {
      comments.delete(p.value.commentId);
    }
  }

  private overlayProject(projects: Map<string, Project>, e: OutboxEntry): void {
    const p = e.msg.payload;
    if (p.case === "createProject" && p.value.project) {
      if (!projects.has(p.value.project.id)) projects.set(p.value.project.id, p.value.project);
    } else if (p.case === "updateProject" && p.value.project) {
      const cur = projects.get(p.value.projectId);
      if (cur) projects.set(cur.id, { ...cur, name: p.value.project.name, key: cur.key });
    } else if (p.case === "deleteProject") {
      projects.delete(p.value.projectId);
    }
  }

  /** Tasks as this person sees them: confirmed state plus their pending changes. */
  viewTasks(): ReadonlyMap<string, Task> {
    return this.view().tasks;
  }

  viewComments(taskId: string): Comment[] {
    const out: Comment[] = [];
    for (const c of this.view().comments.values()) if (c.taskId === taskId) out.push(c);
    const t = (c: Comment) => (c.createTime ? Number(c.createTime.seconds) * 1e3 + c.createTime.nanos / 1e6 : Infinity);
    return out.sort((a, b) => t(a) - t(b));
  }

  viewProjects(): Project[] {
    return [...this.view().projects.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  task(id: string): Task | undefined {
    return this.view().tasks.get(id);
  }

  /** Sprints as this person sees them: active first, then planned, then completed (newest first). */
  viewSprints(): Sprint[] {
    const order = (sp: Sprint) => (sp.state === SprintState.ACTIVE ? 0 : sp.state === SprintState.COMPLETED ? 2 : 1);
    const time = (sp: Sprint) => (sp.createTime ? Number(sp.createTime.seconds) : Infinity);
    return [...this.view().sprints.values()].sort((a, b) => {
      const d = order(a) - order(b);
      if (d) return d;
      return a.state === SprintState.COMPLETED ? time(b) - time(a) : time(a) - time(b) || a.name.localeCompare(b.name);
    });
  }

  sprint(id: string): Sprint | undefined {
    return this.view().sprints.get(id);
  }

  /** Top-level tasks of one sprint ("" for the backlog) in board order. */
  sprintTasks(sprintId: string): Task[] {
    const out: Task[] = [];
    for (const t of this.view().tasks.values()) if (t.sprintId === sprintId && t.parentTaskId === "") out.push(t);
    return out.sort((a, b) => a.status - b.status || byRank(a, b));
  }

  /** Top-level tasks of one status in board order. */
  column(status: TaskStatus, filter?: (t: Task) => boolean): Task[] {
    const out: Task[] = [];
    for (const t of this.view().tasks.values()) {
      if (t.status === status && t.parentTaskId === "" && (!filter || filter(t))) out.push(t);
    }
    return out.sort(byRank);
  }

  subtasks(parentId: string): Task[] {
    const out: Task[] = [];
    for (const t of this.view().tasks.values()) if (t.parentTaskId === parentId) out.push(t);
    return out.sort(byRank);
  }

  isPending(entityId: string): boolean {
    return this.outbox.hasEntity(entityId);
  }

  /** A viewer (an invitee with read access only): the page offers no changes and sends none. */
  get readOnly(): boolean {
    return this.me?.role === MemberRole.VIEWER;
  }

  /**
   * The version a field editor starts from: taken when editing begins, not when it is saved, so
   * a change someone else made meanwhile to the same field is a conflict and not overwritten.
   */
  editBase(taskId: string): bigint | undefined {
    return this.task(taskId)?.version;
  }

  // ---- commands ------------------------------------------------------------------------------

  /** Adds a command to the outbox; it shows in the view at once. */
  enqueue(payload: Payload, entityId: string, projectId = this.projectId): WebSocketMessage {
    const msg = envelope(payload);
    if (this.readOnly) {
      // The server would refuse it anyway; saying so at once beats a change that flickers back.
      this.notices.push({ id: newId(), text: "You can view this board but not change it." });
      this.changed();
      return msg;
    }
    this.outbox.push({ msg, entityId, projectId, chained: this.outbox.hasEntity(entityId) });
    this.changed();
    return msg;
  }

  /**
   * Creates a task at the end of its column, or just before placeBefore (one undo step for both).
   * No rank is sent: the server's ranks are fractional-indexing keys it generates itself.
   */
  createTask(init: Partial<Task> & { title: string; status: TaskStatus }, placeBefore = ""): Task {
    const task = create(TaskSchema, {
      ...(init as object),
      id: newId(),
      projectId: this.projectId,
      rank: "",
      labels: init.labels ?? [],
    });
    this.enqueue({ case: "createTask", value: { projectId: this.projectId, task } as never }, task.id);
    if (placeBefore) {
      this.enqueue(
        { case: "moveTask", value: { taskId: task.id, baseVersion: 1n, status: init.status, afterTaskId: "", beforeTaskId: placeBefore } as never },
        task.id,
      );
    }
    this.pushUndo(() => envelope({ case: "deleteTask", value: { taskId: task.id } as never }), task.id);
    return task;
  }

  /** Sets fields of a task; baseVersion is where the edit began (see editBase), else the current. */
  updateTask(taskId: string, values: Partial<Task>, undoable = true, baseVersion?: bigint): void {
    const cur = this.task(taskId);
    if (!cur) return;
    const mask = (Object.keys(TASK_FIELDS) as TaskField[]).filter((f) => TASK_FIELDS[f] in values);
    if (mask.length === 0) return;
    const next = create(TaskSchema, { ...values } as never);
    const before = clone(TaskSchema, cur);
    this.enqueue(
      {
        case: "updateTask",
        value: {
          taskId,
          baseVersion: baseVersion !== undefined && baseVersion < cur.version ? baseVersion : cur.version,
          updateMask: create(FieldMaskSchema, { paths: mask }),
          task: next,
        } as never,
      },
      taskId,
    );
    if (undoable) {
      this.pushUndo(() => {
        const now = this.task(taskId);
        if (!now) return null;
        return envelope({
          case: "updateTask",
          value: { taskId, baseVersion: now.version, updateMask: create(FieldMaskSchema, { paths: mask }), task: before } as never,
        });
      }, taskId);
    }
  }

  /** Moves a task to status, between two neighbours of the target column ("" for an end). */
  moveTask(taskId: string, status: TaskStatus, afterTaskId: string, beforeTaskId: string): void {
    const cur = this.task(taskId);
    if (!cur) return;
    const oldCol = this.column(cur.status);
    const i = oldCol.findIndex((t) => t.id === taskId);
    const prev = { status: cur.status, after: oldCol[i - 1]?.id ?? "", before: oldCol[i + 1]?.id ?? "" };
    this.enqueue(
      { case: "moveTask", value: { taskId, baseVersion: cur.version, status, afterTaskId, beforeTaskId } as never },
      taskId,
    );
    this.pushUndo(() => {
      const now = this.task(taskId);
      if (!now) return null;
      return envelope({
        case: "moveTask",
        value: { taskId, baseVersion: now.version, status: prev.status, afterTaskId: prev.after, beforeTaskId: prev.before } as never,
      });
    }, taskId);
  }

  deleteTask(taskId: string): void {
    this.enqueue({ case: "deleteTask", value: { taskId } as never }, taskId);
  }

  addComment(taskId: string, body: string): string {
    const commentId = newId();
    this.enqueue({ case: "addComment", value: { taskId, body, commentId } as never }, commentId);
    return commentId;
  }

  editComment(commentId: string, body: string): void {
    const cur = this.view().comments.get(commentId);
    if (!cur) return;
    this.enqueue({ case: "editComment", value: { commentId, body, baseVersion: cur.version } as never }, commentId);
  }

  deleteComment(commentId: string): void {
    this.enqueue({ case: "deleteComment", value: { commentId } as never }, commentId);
  }

  createProject(name: string, key: string): Project {
    const project = create(ProjectSchema, { id: newId(), name, key });
    this.enqueue({ case: "createProject", value: { project } as never }, project.id, project.id);
    return project;
  }

  renameProject(projectId: string, name: string): void {
    const cur = this.view().projects.get(projectId);
    if (!cur) return;
    this.enqueue(
      {
        case: "updateProject",
        value: {
          projectId,
          baseVersion: cur.version,
          updateMask: create(FieldMaskSchema, { paths: ["name"] }),
          project: create(ProjectSchema, { name }),
        } as never,
      },
      projectId,
      projectId,
    );
  }

  deleteProject(projectId: string): void {
    this.enqueue({ case: "deleteProject", value: { projectId } as never }, projectId, projectId);
  }

  createSprint(init: { name: string; goal?: string; startDate?: string; endDate?: string }): Sprint {
    const sprint = create(SprintSchema, { ...init, id: newId(), projectId: this.projectId });
    this.enqueue({ case: "createSprint", value: { projectId: this.projectId, sprint } as never }, sprint.id);
    return sprint;
  }

  updateSprint(sprintId: string, values: Partial<Pick<Sprint, "name" | "goal" | "startDate" | "endDate">>): void {
    const cur = this.sprint(sprintId);
    if (!cur) return;
    const mask = (Object.keys(SPRINT_FIELDS) as (keyof typeof SPRINT_FIELDS)[]).filter((f) => SPRINT_FIELDS[f] in values);
    if (mask.length === 0) return;
    this.enqueue(
      {
        case: "updateSprint",
        value: {
          sprintId,
          baseVersion: cur.version,
          updateMask: create(FieldMaskSchema, { paths: mask }),
          sprint: create(SprintSchema, values),
        } as never,
      },
      sprintId,
    );
  }

  startSprint(sprintId: string): void {
    this.enqueue({ case: "startSprint", value: { sprintId } as never }, sprintId);
  }

  /** Completes the sprint; its unfinished tasks go to another sprint, or to the backlog with "". */
  completeSprint(sprintId: string, moveOpenTasksToSprintId: string): void {
    this.enqueue({ case: "completeSprint", value: { sprintId, moveOpenTasksToSprintId } as never }, sprintId);
  }

  // ---- undo ----------------------------------------------------------------------------------

  private pushUndo(make: () => WebSocketMessage | null, entityId: string): void {
    if (this.readOnly) return;
    const projectId = this.projectId;
    this.undoStack.push(() => {
      const m = make();
      if (m) this.outbox.push({ msg: m, entityId, projectId, chained: this.outbox.hasEntity(entityId) });
      return m;
    });
    if (this.undoStack.length > 50) this.undoStack.shift();
  }

  /** Reverts this person's own last change; returns false when there is nothing to undo. */
  undo(): boolean {
    const fn = this.undoStack.pop();
    if (!fn) return false;
    const m = fn();
    this.changed();
    return m !== null;
  }

  // ---- answers ---------------------------------------------------------------------------------

  /** Ack: the change is committed. Its result is applied at once (guarded by version), so the
   * event with the same seq, arriving before or after, changes nothing further. */
  onAck(messageId: string, ack: Ack): void {
    const entry = this.outbox.remove(messageId);
    if (!entry) return;
    const r = ack.result;
    let version = -1n;
    if (r.case === "task") {
      this.putTask(r.value);
      version = r.value.version;
    } else if (r.case === "comment") {
      this.putComment(r.value);
      version = r.value.version;
    } else if (r.case === "project") {
      this.putProject(r.value);
      version = r.value.version;
    } else if (r.case === "sprint") {
      this.putSprint(r.value);
      version = r.value.version;
    }
    const p = entry.msg.payload;
    if (p.case === "deleteTask") this.dropTask(p.value.taskId);
    if (p.case === "deleteComment") {
      this.comments.delete(p.value.commentId);
      this.deleted.add(p.value.commentId);
    }
    if (p.case === "deleteProject") {
      this.projects.delete(p.value.projectId);
      this.deleted.add(p.value.projectId);
    }
    if (version >= 0n) this.rebase(entry.entityId, version);
    this.changed();
  }

  /** Later commands on the same entity that were made on top of this one now build on its result. */
  private rebase(entityId: string, version: bigint): void {
    let touched = false;
    for (const e of this.outbox.all()) {
      if (e.entityId !== entityId || !e.chained) continue;
      const v = e.msg.payload.value as { baseVersion?: bigint } | undefined;
      if (v && "baseVersion" in v) {
        v.baseVersion = version;
        touched = true;
      }
    }
    if (touched) this.outbox.save();
  }

  onReject(messageId: string, reject: Reject): void {
    const entry = this.outbox.remove(messageId);
    if (!entry) return;
    const err = reject.error;
    const p = entry.msg.payload;
    if (err?.code === ErrorCode.CONFLICT && err.current.case === "currentTask") {
      const theirs = err.current.value;
      this.putTask(theirs);
      const mine = clone(TaskSchema, theirs);
      if (p.case === "updateTask" && p.value.task) {
        const mask = p.value.updateMask?.paths ?? [];
        applyMask(mine, p.value.task, mask);
        this.conflicts.push({ id: newId(), taskId: theirs.id, fields: err.conflictingFields, mask, mine, theirs, kind: "update" });
      } else if (p.case === "moveTask") {
        mine.status = p.value.status;
        this.conflicts.push({
          id: newId(),
          taskId: theirs.id,
          fields: err.conflictingFields,
          mask: ["status"],
          mine,
          theirs,
          kind: "move",
          move: { status: p.value.status, afterTaskId: p.value.afterTaskId, beforeTaskId: p.value.beforeTaskId },
        });
      }
    } else {
      const verb = p.case ? (VERBS[p.case] ?? "save the change") : "save the change";
      this.notices.push({ id: newId(), text: `Couldn't ${verb}: ${err?.message || "the server refused it"}` });
    }
    this.changed();
  }

  resolveConflict(id: string, choice: "mine" | "theirs"): void {
    const i = this.conflicts.findIndex((c) => c.id === id);
    if (i < 0) return;
    const [c] = this.conflicts.splice(i, 1);
    if (choice === "mine") {
      const theirs = this.tasks.get(c.taskId) ?? c.theirs;
      if (c.kind === "move" && c.move) {
        this.enqueue(
          { case: "moveTask", value: { taskId: c.taskId, baseVersion: theirs.version, ...c.move } as never },
          c.taskId,
        );
      } else {
        this.enqueue(
          {
            case: "updateTask",
            value: {
              taskId: c.taskId,
              baseVersion: theirs.version,
              updateMask: create(FieldMaskSchema, { paths: c.mask }),
              task: c.mine,
            } as never,
          },
          c.taskId,
        );
      }
    }
    this.changed();
  }

  dismissNotice(id: string): void {
    this.notices = this.notices.filter((n) => n.id !== id);
    this.changed();
  }
}

export function byRank(a: Task, b: Task): number {
  if (a.rank !== b.rank) return a.rank < b.rank ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
