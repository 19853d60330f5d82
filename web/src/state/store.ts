/**
 * The client's model of one project's board, as the page uses it: the confirmed board
 * (confirmed.ts) with this browser's unacknowledged commands (outbox.ts) laid over it
 * (overlay.ts), so a change shows at once and rolls back by itself when the server rejects it;
 * the questions the page asks of that view (selectors.ts); the commands a person makes, undo
 * (undo.ts), conflicts (conflicts.ts) and notices. Every part is a signal, so a component redraws
 * when what it read changes. Pure TypeScript: no DOM, no network; the connection feeds it
 * messages and sends what its outbox holds.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { batch, computed, signal, type ReadonlySignal } from "@preact/signals";
import {
  clone,
  create,
  ErrorCode,
  MemberRole,
  ProjectSchema,
  SprintSchema,
  TaskSchema,
  UpdateTaskSchema,
  type Ack,
  type Attachment,
  type Comment,
  type Member,
  type Project,
  type Reject,
  type Snapshot,
  type Sprint,
  type Task,
  type TaskStatus,
  type WebSocketMessage,
  type WorkflowColumn,
} from "../proto";
import { commandSpec, envelope, verbOf, type PayloadInit } from "./commands";
import { ConfirmedBoard, type EventOutcome } from "./confirmed";
import { conflictOf, keepBoth, keepMine, type Conflict } from "./conflicts";
import { newId } from "./ids";
import { InboxStore } from "./inbox";
import { Outbox, type KeyValueStorage } from "./outbox";
import { Draft, handlerOf, overlay, SPRINT_FIELDS, TASK_FIELDS, type BaseMaps, type SprintField, type TaskField } from "./overlay";
import * as select from "./selectors";
import { UndoStack, type UndoStep } from "./undo";
import { columnsOf } from "./workflow";

export type { Conflict } from "./conflicts";
export type { EventOutcome } from "./confirmed";
export { applyMask, TASK_FIELDS, type TaskField } from "./overlay";
export { byRank } from "./selectors";

/** Task fields as plain values (what a person sets), as protobuf-es takes them. */
export type TaskValues = Exclude<MessageInitShape<typeof TaskSchema>, Task>;

/** A task's fields as they were before a bulk edit, to put back on undo. */
interface Before {
  taskId: string;
  paths: string[];
  task: Task;
}

export interface Notice {
  id: string;
  text: string;
  /** A button on the notice, such as "Undo" after a delete. */
  action?: { label: string; run: () => void };
}

/** How long a notice (and its Undo button) stays; the trash keeps a deleted task 30 days. */
export const NOTICE_MS = 8000;

export class BoardStore {
  private readonly board = new ConfirmedBoard();
  readonly tasks = this.board.tasks;
  readonly sprints = this.board.sprints;
  readonly members = this.board.members;
  readonly comments = this.board.comments;
  readonly presence = this.board.presence;
  readonly projects = this.board.projects;
  readonly attachments = this.board.attachments;
  readonly watchers = this.board.watchers;
  /** This person's inbox: not the board's (it spans every project), fed by the same connection. */
  readonly inbox = new InboxStore();
  readonly outbox: Outbox;
  private readonly undoStack = new UndoStack();
  private readonly meSignal = signal<Member | null>(null);
  private readonly connectionIdSignal = signal("");
  private readonly noticesSignal = signal<readonly Notice[]>([]);
  private readonly conflictsSignal = signal<readonly Conflict[]>([]);
  /** The last "Undid …" notice: the next undo or redo replaces it rather than piling up. */
  private undoNoticeId = "";

  /** Confirmed maps: each changes only when one of its records does. */
  private readonly base = {
    tasks: computed(() => this.tasks.view()),
    comments: computed(() => this.comments.view()),
    projects: computed(() => this.projects.view()),
    sprints: computed(() => this.sprints.view()),
  };
  /** The optimistic view; a map no pending command touches is the confirmed one itself. */
  private readonly view = computed(() => {
    const maps: BaseMaps = {
      tasks: this.base.tasks.value,
      comments: this.base.comments.value,
      projects: this.base.projects.value,
      sprints: this.base.sprints.value,
    };
    return overlay(new Draft(maps, this.board.projectId, this.me?.id ?? ""), this.outbox.all());
  });
  private readonly viewOf = {
    tasks: computed(() => this.view.value.tasks),
    comments: computed(() => this.view.value.comments),
    projects: computed(() => this.view.value.projects),
    sprints: computed(() => this.view.value.sprints),
  };
  /** One signal per task and sprint looked at: a card redraws only when its own task changes. */
  private readonly taskSignals = new Map<string, ReadonlySignal<Task | undefined>>();
  private readonly sprintSignals = new Map<string, ReadonlySignal<Sprint | undefined>>();

  constructor(storage: KeyValueStorage | null = null) {
    this.outbox = new Outbox(storage);
  }

  // ---- session state -------------------------------------------------------------------------

  get projectId(): string {
    return this.board.projectId;
  }
  get epoch(): string {
    return this.board.epochSignal.value;
  }
  /** The last change-log position applied. */
  get seq(): bigint {
    return this.board.seqSignal.value;
  }
  get project(): Project | null {
    return this.board.projectSignal.value;
  }
  get me(): Member | null {
    return this.meSignal.value;
  }
  set me(m: Member | null) {
    this.meSignal.value = m;
  }
  get connectionId(): string {
    return this.connectionIdSignal.value;
  }
  set connectionId(id: string) {
    this.connectionIdSignal.value = id;
  }
  get notices(): readonly Notice[] {
    return this.noticesSignal.value;
  }
  get conflicts(): readonly Conflict[] {
    return this.conflictsSignal.value;
  }

  private readonly missingSignal = signal("");

  /** The project the server said does not exist (a wrong or stale link), "" while none. */
  get missingProject(): string {
    return this.missingSignal.value;
  }
  set missingProject(projectId: string) {
    this.missingSignal.value = projectId;
  }

  /** A viewer (an invitee with read access only): the page offers no changes and sends none. */
  get readOnly(): boolean {
    return this.me?.role === MemberRole.VIEWER;
  }

  private notify(text: string, action?: Notice["action"]): string {
    const id = newId();
    this.noticesSignal.value = [...this.noticesSignal.peek(), { id, text, action }];
    return id;
  }

  /** A notice from elsewhere in the page (an upload's outcome, say). */
  tell(text: string): string {
    return this.notify(text);
  }

  dismissNotice(id: string): void {
    this.noticesSignal.value = this.noticesSignal.peek().filter((n) => n.id !== id);
  }

  // ---- confirmed state -----------------------------------------------------------------------

  /** Switches the store to another project; the confirmed board is dropped, the outbox kept. */
  openProject(projectId: string): void {
    if (projectId === this.projectId) return;
    this.board.open(projectId);
    this.undoStack.clear();
    // Readers of the last project's records drop theirs on their next draw; new reads start anew.
    this.taskSignals.clear();
    this.sprintSignals.clear();
  }

  applySnapshot(s: Snapshot): void {
    this.board.applySnapshot(s);
  }

  setProjects(list: readonly Project[]): void {
    // An unchanged list must not redraw the page every poll.
    const same = list.length === this.projects.size && list.every((p) => this.projects.peek(p.id)?.version === p.version);
    if (same) return;
    batch(() => {
      this.projects.clear();
      for (const p of list) this.projects.put(p.id, p);
    });
  }

  /** Adds members met since the snapshot (someone who joined later, or this person over REST). */
  putMembers(list: readonly Member[]): void {
    batch(() => {
      for (const m of list) this.members.put(m.id, m);
    });
  }

  setComments(taskId: string, list: readonly Comment[]): void {
    batch(() => {
      for (const [id, c] of this.comments) if (c.taskId === taskId) this.comments.delete(id);
      for (const c of list) this.comments.put(c.id, c);
    });
  }

  /**
   * Applies one server message: a snapshot, presence, an answer to one of our commands, or a
   * change-log event (in seq order; see ConfirmedBoard.applyEvent).
   */
  applyMessage(msg: WebSocketMessage): EventOutcome {
    const p = msg.payload;
    switch (p.case) {
      case "snapshot":
        this.applySnapshot(p.value);
        return "applied";
      case "userPresence":
        if (p.value.projectId !== this.projectId) return "ignored";
        this.board.putPresence(p.value);
        return "applied";
      case "presenceDiff":
        // One per tick for the whole project: every connection whose presence changed.
        if (p.value.projectId !== this.projectId) return "ignored";
        for (const change of p.value.changes) this.board.putPresence(change);
        return "applied";
      case "inboxUpdate":
        this.inbox.apply(p.value);
        return "applied";
      case "ack":
        this.onAck(msg.messageId, p.value);
        return "applied";
      case "reject":
        this.onReject(msg.messageId, p.value);
        return "applied";
      default: {
        this.applyingEventFlag = true;
        try {
          const outcome = this.board.applyEvent(msg);
          if (outcome === "applied") for (const fn of this.eventListeners) fn(msg);
          return outcome;
        } finally {
          this.applyingEventFlag = false;
        }
      }
    }
  }

  private applyingEventFlag = false;

  /** True while a change-log event is being applied (the page draws those once per frame). */
  get applyingEvent(): boolean {
    return this.applyingEventFlag;
  }

  private readonly eventListeners = new Set<(msg: WebSocketMessage) => void>();

  /** Calls fn with each change-log event once it is applied (not duplicates, not gaps). */
  onEvent(fn: (msg: WebSocketMessage) => void): () => void {
    this.eventListeners.add(fn);
    return () => this.eventListeners.delete(fn);
  }

  // ---- the optimistic view -------------------------------------------------------------------

  /** Tasks as this person sees them: confirmed state plus their pending changes. */
  viewTasks(): ReadonlyMap<string, Task> {
    return this.viewOf.tasks.value;
  }

  task(id: string): Task | undefined {
    let s = this.taskSignals.get(id);
    if (!s) {
      s = computed(() => this.viewOf.tasks.value.get(id));
      this.taskSignals.set(id, s);
    }
    return s.value;
  }

  sprint(id: string): Sprint | undefined {
    let s = this.sprintSignals.get(id);
    if (!s) {
      s = computed(() => this.viewOf.sprints.value.get(id));
      this.sprintSignals.set(id, s);
    }
    return s.value;
  }

  viewComments(taskId: string): Comment[] {
    return select.taskComments(this.viewOf.comments.value, taskId);
  }

  viewProjects(): Project[] {
    return select.projectsByName(this.viewOf.projects.value);
  }

  /** Sprints as this person sees them: active first, then planned, then completed (newest first). */
  viewSprints(): Sprint[] {
    return select.sprintsInOrder(this.viewOf.sprints.value);
  }

  /** Top-level tasks of one sprint ("" for the backlog) in board order. */
  sprintTasks(sprintId: string): Task[] {
    return select.sprintTasks(this.viewOf.tasks.value, sprintId);
  }

  /** Top-level tasks of one status in board order. */
  column(status: TaskStatus, filter?: (t: Task) => boolean): Task[] {
    return select.column(this.viewOf.tasks.value, status, filter);
  }

  /** The board's columns as this person sees them (their own pending change included). */
  columns(): readonly WorkflowColumn[] {
    return columnsOf(this.viewOf.projects.value.get(this.projectId) ?? this.project);
  }

  /** Top-level tasks of one workflow column in board order. */
  columnTasks(columnId: string, filter?: (t: Task) => boolean): Task[] {
    return select.columnTasks(this.viewOf.tasks.value, this.columns(), columnId, filter);
  }

  /** A task's attachments, oldest first; one this person is removing is already gone. */
  taskAttachments(taskId: string): Attachment[] {
    return select.taskAttachments(this.attachments.view(), taskId).filter((a) => !this.outbox.hasEntity(a.id));
  }

  private readonly attachmentCounts = computed(() => {
    const counts = new Map<string, number>();
    for (const a of this.attachments.view().values()) counts.set(a.taskId, (counts.get(a.taskId) ?? 0) + 1);
    return counts;
  });

  /** How many files a task has (for its card). */
  attachmentCount(taskId: string): number {
    return this.attachmentCounts.value.get(taskId) ?? 0;
  }

  /** An attachment the upload answered with (its event may come before or after). */
  putAttachment(a: Attachment): void {
    this.board.putAttachment(a);
  }

  subtasks(parentId: string): Task[] {
    return select.subtasks(this.viewOf.tasks.value, parentId);
  }

  isPending(entityId: string): boolean {
    return this.outbox.hasEntity(entityId);
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
  enqueue(payload: PayloadInit, entityId: string, projectId = this.projectId): WebSocketMessage {
    const msg = envelope(payload);
    if (this.readOnly && !commandSpec(payload.case)?.personal) {
      // The server would refuse it anyway; saying so at once beats a change that flickers back.
      this.notify("You can view this board but not change it.");
      return msg;
    }
    this.outbox.push({ msg, entityId, projectId, chained: this.outbox.hasEntity(entityId) });
    return msg;
  }

  private pushUndo(make: () => PayloadInit | null, entityId: string, label: string): void {
    if (!this.readOnly) this.undoStack.push({ make, entityId, projectId: this.projectId, label });
  }

  /** A task's name in feedback: its key once the server gave it one, else its title. */
  private nameOf(taskId: string): string {
    const t = this.task(taskId);
    return t?.key || (t ? `“${t.title}”` : "the task");
  }

  /** Where a task sits in its column: the move that puts it back there. */
  private placeOf(taskId: string): { status: TaskStatus; columnId: string; afterTaskId: string; beforeTaskId: string } | null {
    const cur = this.task(taskId);
    if (!cur) return null;
    const columnId = select.placedIn(this.columns(), cur);
    const col = this.columnTasks(columnId);
    const i = col.findIndex((t) => t.id === taskId);
    return { status: cur.status, columnId, afterTaskId: col[i - 1]?.id ?? "", beforeTaskId: col[i + 1]?.id ?? "" };
  }

  /**
   * Creates a task at the end of its column, or just before placeBefore (and after placeAfter,
   * when given), as one undo step. No rank is sent: the server's ranks are fractional-indexing
   * keys it generates itself.
   */
  createTask(init: TaskValues & { title: string; status: TaskStatus }, placeBefore = "", placeAfter = ""): Task {
    const task = create(TaskSchema, { ...init, id: newId(), projectId: this.projectId, rank: "", labels: init.labels ?? [] });
    this.enqueue({ case: "createTask", value: { projectId: this.projectId, task } }, task.id);
    if (placeBefore) {
      this.enqueue(
        { case: "moveTask", value: { taskId: task.id, baseVersion: 1n, status: init.status, afterTaskId: placeAfter, beforeTaskId: placeBefore } },
        task.id,
      );
    }
    this.pushUndo(() => ({ case: "deleteTask", value: { taskId: task.id } }), task.id, `creating “${task.title}”`);
    return task;
  }

  /** Sets fields of a task; baseVersion is where the edit began (see editBase), else the current. */
  updateTask(taskId: string, values: TaskValues, undoable = true, baseVersion?: bigint): void {
    const cur = this.task(taskId);
    if (!cur) return;
    const mask = (Object.keys(TASK_FIELDS) as TaskField[]).filter((f) => TASK_FIELDS[f] in values);
    if (mask.length === 0) return;
    const before = clone(TaskSchema, cur);
    this.enqueue(
      {
        case: "updateTask",
        value: {
          taskId,
          baseVersion: baseVersion !== undefined && baseVersion < cur.version ? baseVersion : cur.version,
          updateMask: { paths: mask },
          task: create(TaskSchema, values),
        },
      },
      taskId,
    );
    if (!undoable) return;
    this.pushUndo(() => {
      const now = this.task(taskId);
      return now ? { case: "updateTask", value: { taskId, baseVersion: now.version, updateMask: { paths: mask }, task: before } } : null;
    }, taskId, `editing ${this.nameOf(taskId)}`);
  }

  /** Moves a task to status (to the column columnId of it, when given), between two neighbours of
   * the target column ("" for an end). */
  moveTask(taskId: string, status: TaskStatus, afterTaskId: string, beforeTaskId: string, columnId = ""): void {
    const cur = this.task(taskId);
    if (!cur) return;
    const prev = this.placeOf(taskId);
    this.enqueue({ case: "moveTask", value: { taskId, baseVersion: cur.version, status, afterTaskId, beforeTaskId, columnId } }, taskId);
    this.pushUndo(() => {
      const now = this.task(taskId);
      return now && prev ? { case: "moveTask", value: { taskId, baseVersion: now.version, ...prev } } : null;
    }, taskId, `moving ${this.nameOf(taskId)}`);
  }

  deleteTask(taskId: string): void {
    this.enqueue({ case: "deleteTask", value: { taskId } }, taskId);
  }

  /**
   * Deletes a task with a way back: it goes to the project's trash at once (everyone sees it
   * leave), and "Undo" on the notice, undo, or the trash view restores it where it was, with its
   * key, comments and subtasks.
   */
  deleteTaskUndoably(taskId: string): void {
    const t = this.task(taskId);
    if (!t) return;
    const name = this.nameOf(taskId);
    this.deleteTask(taskId);
    if (this.readOnly) return;
    this.pushUndo(() => ({ case: "restoreTask", value: { taskId } }), taskId, `deleting ${name}`);
    this.notify(`Deleted ${name}`, { label: "Undo", run: () => this.restoreTask(taskId, name) });
  }

  /** Brings a task back from the trash or the archive; name is what the notice calls it. */
  restoreTask(taskId: string, name = "the task"): void {
    this.enqueue({ case: "restoreTask", value: { taskId } }, taskId);
    this.notify(`Restored ${name}`);
  }

  /** Deletes a task in the trash for good. */
  purgeTask(taskId: string): void {
    this.enqueue({ case: "purgeTask", value: { taskId } }, taskId);
  }

  /** Archives a done task (and its subtasks), with Undo on the notice. */
  archiveTask(taskId: string): void {
    const name = this.nameOf(taskId);
    this.enqueue({ case: "archiveTask", value: { taskId } }, taskId);
    if (this.readOnly) return;
    this.pushUndo(() => ({ case: "restoreTask", value: { taskId } }), taskId, `archiving ${name}`);
    this.notify(`Archived ${name}`, { label: "Undo", run: () => this.restoreTask(taskId, name) });
  }

  /** Archives these done tasks at once (the Done column's "Archive all"). */
  archiveDone(taskIds: readonly string[]): void {
    if (taskIds.length === 0) return;
    const ids = [...taskIds];
    this.enqueue({ case: "archiveDoneTasks", value: { projectId: this.projectId, taskIds: ids } }, this.projectId);
    if (this.readOnly) return;
    const what = ids.length === 1 ? "1 done task" : `${ids.length} done tasks`;
    this.notify(`Archived ${what}`, {
      label: "Undo",
      run: () => {
        this.enqueue(this.restoreAllOf(ids), this.projectId);
        this.notify(`Restored ${what}`);
      },
    });
  }

  /**
   * Sets fields of several tasks as one change: one command (all of it is saved, or none), one
   * undo step that puts each task's fields back as they were. Tasks whose values change nothing
   * are left out.
   */
  bulkUpdate(changes: readonly { taskId: string; values: TaskValues }[], label: string): void {
    const updates: MessageInitShape<typeof UpdateTaskSchema>[] = [];
    const befores: Before[] = [];
    for (const { taskId, values } of changes) {
      const cur = this.task(taskId);
      if (!cur) continue;
      const mask = (Object.keys(TASK_FIELDS) as TaskField[]).filter((f) => TASK_FIELDS[f] in values);
      if (mask.length === 0) continue;
      updates.push({ taskId, baseVersion: cur.version, updateMask: { paths: mask }, task: create(TaskSchema, values) });
      befores.push({ taskId, paths: mask, task: clone(TaskSchema, cur) });
    }
    if (updates.length === 0) return;
    const bulkId = newId();
    this.enqueue({ case: "bulkEditTasks", value: { projectId: this.projectId, updates } }, bulkId);
    this.pushUndo(() => this.restoreOf(befores), bulkId, label);
  }

  /** The bulk edit that puts each task's fields back as they were in befores. */
  private restoreOf(befores: readonly Before[]): PayloadInit | null {
    const updates = befores.flatMap(({ taskId, paths, task }) => {
      const now = this.task(taskId);
      return now ? [{ taskId, baseVersion: now.version, updateMask: { paths: [...paths] }, task }] : [];
    });
    return updates.length ? { case: "bulkEditTasks", value: { projectId: this.projectId, updates } } : null;
  }

  /**
   * Deletes several tasks as one change: one bulk edit moves them all to the trash (everyone sees
   * them leave), and one undo step, or "Undo" on the notice, restores every one of them.
   */
  bulkDeleteUndoably(taskIds: readonly string[]): void {
    const ids = taskIds.filter((id) => this.task(id));
    if (ids.length === 0) return;
    const bulkId = newId();
    this.enqueue({ case: "bulkEditTasks", value: { projectId: this.projectId, deleteTaskIds: ids } }, bulkId);
    if (this.readOnly) return;
    const name = ids.length === 1 ? this.nameOf(ids[0]) : `${ids.length} tasks`;
    this.pushUndo(() => this.restoreAllOf(ids), bulkId, `deleting ${name}`);
    this.notify(`Deleted ${name}`, {
      label: "Undo",
      run: () => {
        this.enqueue(this.restoreAllOf(ids), bulkId);
        this.notify(`Restored ${name}`);
      },
    });
  }

  /** The one command that brings these tasks back (all of them or none), last deleted first, so
   * a subtask deleted before its parent finds its parent back. */
  private restoreAllOf(ids: readonly string[]): PayloadInit {
    return { case: "restoreTasks", value: { projectId: this.projectId, taskIds: [...ids].reverse() } };
  }

  archiveSprint(sprintId: string): void {
    const name = this.sprint(sprintId)?.name ?? "the sprint";
    this.enqueue({ case: "archiveSprint", value: { sprintId } }, sprintId);
    if (this.readOnly) return;
    this.notify(`Archived ${name}`, { label: "Undo", run: () => this.unarchiveSprint(sprintId) });
  }

  unarchiveSprint(sprintId: string): void {
    this.enqueue({ case: "unarchiveSprint", value: { sprintId } }, sprintId);
  }

  addComment(taskId: string, body: string): string {
    const commentId = newId();
    this.enqueue({ case: "addComment", value: { taskId, body, commentId } }, commentId);
    return commentId;
  }

  editComment(commentId: string, body: string): void {
    const cur = this.viewOf.comments.value.get(commentId);
    if (!cur) return;
    this.enqueue({ case: "editComment", value: { commentId, body, baseVersion: cur.version } }, commentId);
  }

  /** Deletes one's comment, with Undo on the notice (the server keeps it 30 days). */
  deleteComment(commentId: string): void {
    this.enqueue({ case: "deleteComment", value: { commentId } }, commentId);
    if (this.readOnly) return;
    this.notify("Deleted the comment", {
      label: "Undo",
      run: () => this.enqueue({ case: "restoreComment", value: { commentId } }, commentId),
    });
  }

  createProject(name: string, key: string): Project {
    const project = create(ProjectSchema, { id: newId(), name, key });
    this.enqueue({ case: "createProject", value: { project } }, project.id, project.id);
    return project;
  }

  renameProject(projectId: string, name: string): void {
    const cur = this.viewOf.projects.value.get(projectId);
    if (!cur) return;
    this.enqueue(
      { case: "updateProject", value: { projectId, baseVersion: cur.version, updateMask: { paths: ["name"] }, project: { name } } },
      projectId,
      projectId,
    );
  }

  /** Replaces the board's columns (renamed, reordered, hidden, added, removed, recategorised). */
  updateWorkflow(columns: readonly WorkflowColumn[]): void {
    const cur = this.viewOf.projects.value.get(this.projectId);
    if (!cur) return;
    this.enqueue({ case: "updateWorkflow", value: { projectId: cur.id, baseVersion: cur.version, columns: [...columns] } }, cur.id, cur.id);
  }

  /** Removes an attachment, with a way back: its content stays on the server, so undo (or the
   * notice's Undo) attaches the same file again. */
  removeAttachment(attachmentId: string): void {
    const a = this.attachments.peek(attachmentId);
    if (!a) return;
    this.enqueue({ case: "removeAttachment", value: { attachmentId } }, attachmentId);
    if (this.readOnly) return;
    const again = (): PayloadInit => ({
      case: "addAttachment",
      value: { taskId: a.taskId, commentId: a.commentId, sha256: a.sha256, name: a.name, attachmentId: newId() },
    });
    this.pushUndo(again, a.taskId, `removing ${a.name}`);
    this.notify(`Removed ${a.name}`, { label: "Undo", run: () => void this.enqueue(again(), a.taskId) });
  }

  /** Deletes a project to the trash, with Undo on the notice (restorable for 30 days). */
  deleteProject(projectId: string): void {
    const name = this.viewOf.projects.value.get(projectId)?.name ?? "the project";
    this.enqueue({ case: "deleteProject", value: { projectId } }, projectId, projectId);
    if (this.readOnly) return;
    this.notify(`Deleted ${name}`, { label: "Undo", run: () => this.restoreProject(projectId, name) });
  }

  restoreProject(projectId: string, name = "the project"): void {
    this.enqueue({ case: "restoreProject", value: { projectId } }, projectId, projectId);
    this.notify(`Restored ${name}`);
  }

  createSprint(init: { name: string; goal?: string; startDate?: string; endDate?: string; capacity?: number }): Sprint {
    const sprint = create(SprintSchema, { ...init, id: newId(), projectId: this.projectId });
    this.enqueue({ case: "createSprint", value: { projectId: this.projectId, sprint } }, sprint.id);
    return sprint;
  }

  updateSprint(sprintId: string, values: Partial<Pick<Sprint, "name" | "goal" | "startDate" | "endDate" | "capacity">>): void {
    const cur = this.sprint(sprintId);
    if (!cur) return;
    const mask = (Object.keys(SPRINT_FIELDS) as SprintField[]).filter((f) => SPRINT_FIELDS[f] in values);
    if (mask.length === 0) return;
    this.enqueue(
      { case: "updateSprint", value: { sprintId, baseVersion: cur.version, updateMask: { paths: mask }, sprint: values } },
      sprintId,
    );
  }

  startSprint(sprintId: string): void {
    this.enqueue({ case: "startSprint", value: { sprintId } }, sprintId);
  }

  /** Completes the sprint; its unfinished tasks go to another sprint, or to the backlog with "". */
  completeSprint(sprintId: string, moveOpenTasksToSprintId: string): void {
    this.enqueue({ case: "completeSprint", value: { sprintId, moveOpenTasksToSprintId } }, sprintId);
  }

  /** The project's label colours, by label folded to lower case. */
  labelColors(): ReadonlyMap<string, string> {
    return this.labelColorMap.value;
  }
  private readonly labelColorMap = computed(() => new Map(this.board.labelsSignal.value.map((l) => [l.name.toLowerCase(), l.color])));

  setLabelColor(label: string, color: string): void {
    this.enqueue({ case: "setLabelColor", value: { projectId: this.projectId, label, color } }, `label:${label.toLowerCase()}`);
  }

  /** Renames a label on every task; to a label the project has, merges the two. */
  renameLabel(label: string, newName: string): void {
    this.enqueue({ case: "renameLabel", value: { projectId: this.projectId, label, newName } }, `label:${label.toLowerCase()}`);
  }

  /** Reverts this person's own last change, saying what it undid; false when there is nothing to undo. */
  undo(): boolean {
    // A viewer has made no changes; "nothing to undo" would hide why nothing changes.
    if (this.readOnly) return false;
    const step = this.undoStack.pop();
    const payload = step?.make();
    if (!step || !payload) {
      this.sayUndo("Nothing to undo");
      return false;
    }
    const redo = this.inverseOf(payload, step);
    this.send(payload, step);
    if (redo) this.undoStack.pushRedo(redo);
    this.sayUndo(`Undid ${step.label}`);
    return true;
  }

  /** Makes again the change undo last reverted; false when there is nothing to redo. */
  redo(): boolean {
    if (this.readOnly) return false;
    const step = this.undoStack.popRedo();
    const payload = step?.make();
    if (!step || !payload) {
      this.sayUndo("Nothing to redo");
      return false;
    }
    const undo = this.inverseOf(payload, step);
    this.send(payload, step);
    if (undo) this.undoStack.pushRedone(undo);
    this.sayUndo(`Redid ${step.label}`);
    return true;
  }

  private sayUndo(text: string): void {
    batch(() => {
      this.dismissNotice(this.undoNoticeId);
      this.undoNoticeId = this.notify(text);
    });
  }

  private send(payload: PayloadInit, step: UndoStep): void {
    this.outbox.push({ msg: envelope(payload), entityId: step.entityId, projectId: step.projectId, chained: this.outbox.hasEntity(step.entityId) });
  }

  /** The step that takes back a reverting command about to be sent: the task's state before it. */
  private inverseOf(payload: PayloadInit, step: UndoStep): UndoStep | null {
    if (payload.case === "restoreTasks") {
      // Redoing an undone bulk delete deletes the same tasks again, as one change.
      const ids = [...(payload.value.taskIds ?? [])].reverse();
      const projectId = payload.value.projectId ?? this.projectId;
      const make = (): PayloadInit | null => {
        const here = ids.filter((id) => this.task(id));
        return here.length ? { case: "bulkEditTasks", value: { projectId, deleteTaskIds: here } } : null;
      };
      return { ...step, make };
    }
    if (payload.case === "bulkEditTasks" && payload.value.deleteTaskIds?.length) {
      const ids = [...payload.value.deleteTaskIds];
      return { ...step, make: () => this.restoreAllOf(ids) };
    }
    if (payload.case === "bulkEditTasks") {
      const befores = (payload.value.updates ?? []).flatMap((u) => {
        const now = u.taskId ? this.task(u.taskId) : undefined;
        return now ? [{ taskId: now.id, paths: [...(u.updateMask?.paths ?? [])], task: clone(TaskSchema, now) }] : [];
      });
      return befores.length ? { ...step, make: () => this.restoreOf(befores) } : null;
    }
    const taskId = step.entityId;
    const cur = this.task(taskId);
    if (!cur) return null;
    if (payload.case === "updateTask") {
      const paths = payload.value.updateMask?.paths ?? [];
      const before = clone(TaskSchema, cur);
      const make = (): PayloadInit | null => {
        const now = this.task(taskId);
        return now ? { case: "updateTask", value: { taskId, baseVersion: now.version, updateMask: { paths }, task: before } } : null;
      };
      return { ...step, make };
    }
    if (payload.case === "moveTask") {
      const prev = this.placeOf(taskId);
      const make = (): PayloadInit | null => {
        const now = this.task(taskId);
        return now && prev ? { case: "moveTask", value: { taskId, baseVersion: now.version, ...prev } } : null;
      };
      return { ...step, make };
    }
    // Undoing a creation deletes the task for good: there is nothing to redo.
    return null;
  }

  // ---- answers -------------------------------------------------------------------------------

  /** Ack: the change is committed. Its result is applied at once (guarded by version), so the
   * event with the same seq, arriving before or after, changes nothing further. */
  onAck(messageId: string, ack: Ack): void {
    const entry = this.outbox.get(messageId);
    if (!entry) return;
    batch(() => {
      this.outbox.remove(messageId);
      const b = this.board;
      const r = ack.result;
      let version = -1n;
      // First what the command itself settles (a delete is final, a restore lets its entity
      // back), then its result, which that decides on.
      const cmd = entry.msg.payload.value;
      if (cmd) handlerOf(entry)?.acked?.(b, cmd);
      if (r.case === "task") b.put(b.tasks, r.value);
      else if (r.case === "comment") b.put(b.comments, r.value);
      else if (r.case === "project") b.put(b.projects, r.value);
      else if (r.case === "sprint") b.put(b.sprints, r.value);
      else if (r.case === "bulk") for (const t of r.value.tasks) b.put(b.tasks, t);
      if (r.case === "task" || r.case === "comment" || r.case === "project" || r.case === "sprint") version = r.value.version;
      if (version >= 0n) this.rebase(entry.entityId, version);
      if (r.case === "task") this.rebaseBulk(r.value.id, r.value.version);
      if (r.case === "bulk") for (const t of r.value.tasks) this.rebaseBulk(t.id, t.version);
    });
  }

  /**
   * A task's change is acknowledged: the commands still waiting that change it too, inside a bulk
   * edit or after one, were made on top of it and now build on its version.
   */
  private rebaseBulk(taskId: string, version: bigint): void {
    let touched = false;
    for (const e of this.outbox.all()) {
      const p = e.msg.payload;
      if (p.case === "bulkEditTasks") {
        for (const u of p.value.updates) if (u.taskId === taskId && u.baseVersion < version) [u.baseVersion, touched] = [version, true];
      } else if (e.entityId === taskId && p.value && "baseVersion" in p.value && p.value.baseVersion < version) {
        [p.value.baseVersion, touched] = [version, true];
      }
    }
    if (touched) this.outbox.save();
  }

  /** Later commands on the same entity that were made on top of this one now build on its result. */
  private rebase(entityId: string, version: bigint): void {
    let touched = false;
    for (const e of this.outbox.all()) {
      if (e.entityId !== entityId || !e.chained) continue;
      const v = e.msg.payload.value;
      if (v && "baseVersion" in v) {
        v.baseVersion = version;
        touched = true;
      }
    }
    if (touched) this.outbox.save();
  }

  onReject(messageId: string, reject: Reject): void {
    const entry = this.outbox.get(messageId);
    if (!entry) return;
    batch(() => {
      this.outbox.remove(messageId);
      const err = reject.error;
      const p = entry.msg.payload;
      if (err?.code === ErrorCode.CONFLICT && err.current.case === "currentTask") {
        const theirs = err.current.value;
        this.board.put(this.tasks, theirs);
        const c = conflictOf(p, err, theirs);
        if (c) this.conflictsSignal.value = [...this.conflictsSignal.peek(), c];
      } else {
        this.notify(`Couldn't ${verbOf(p.case)}: ${err?.message || "the server refused it"}`);
      }
    });
  }

  /** "both" keeps mine, its description being theirs followed by mine (see keepBoth). */
  resolveConflict(id: string, choice: "mine" | "theirs" | "both"): void {
    const c = this.conflictsSignal.peek().find((x) => x.id === id);
    if (!c) return;
    batch(() => {
      this.conflictsSignal.value = this.conflictsSignal.peek().filter((x) => x !== c);
      if (choice === "theirs") return;
      const chosen = choice === "both" ? keepBoth(c) : c;
      this.enqueue(keepMine(chosen, (this.tasks.peek(c.taskId) ?? c.theirs).version), c.taskId);
    });
  }
}
