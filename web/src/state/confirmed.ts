/**
 * The board as the server confirmed it: a snapshot plus change-log events applied strictly by
 * seq, and the results of acknowledged commands. Every record sits in a signal-per-record
 * collection (records.ts); a record only moves forward in version, and an entity deleted by a
 * confirmed change is not brought back by a late, older event.
 */
import { batch, signal } from "@preact/signals";
import {
  PresenceState,
  type Attachment,
  type Comment,
  type Label,
  type Member,
  type Project,
  type Snapshot,
  type Sprint,
  type Task,
  type TaskWatchers,
  type UserPresence,
  type WebSocketMessage,
} from "../proto";
import { Records } from "./records";

export type EventOutcome = "applied" | "duplicate" | "gap" | "ignored";

type Versioned = { id: string; version: bigint };
type Payload = WebSocketMessage["payload"];
type EventCase = Extract<Payload, { value: { seq: bigint; projectId: string } }>["case"];

export class ConfirmedBoard {
  readonly projectIdSignal = signal("");
  readonly epochSignal = signal("");
  /** The last change-log position applied; events at or below it are duplicates. */
  readonly seqSignal = signal(0n);
  readonly projectSignal = signal<Project | null>(null);
  /** The project's label colours (labels themselves are the tasks' strings). */
  readonly labelsSignal = signal<readonly Label[]>([]);
  readonly tasks = new Records<Task>();
  readonly sprints = new Records<Sprint>();
  readonly members = new Records<Member>();
  readonly comments = new Records<Comment>();
  /** By connection id: one person may have several tabs. */
  readonly presence = new Records<UserPresence>();
  readonly projects = new Records<Project>();
  /** Files on tasks and comments; never edited, only added and removed. */
  readonly attachments = new Records<Attachment>();
  /** Who watches a task, by task id (the inbox's; read when a task opens, then from the log). */
  readonly watchers = new Records<TaskWatchers>();
  /** Ids of entities deleted by a confirmed change: a late older event must not bring them back. */
  private readonly deleted = new Set<string>();

  get projectId(): string {
    return this.projectIdSignal.value;
  }

  /** Switches to another project: the confirmed board of the last one is dropped. */
  open(projectId: string): void {
    batch(() => {
      this.projectIdSignal.value = projectId;
      this.epochSignal.value = "";
      this.seqSignal.value = 0n;
      this.projectSignal.value = null;
      this.labelsSignal.value = [];
      this.tasks.clear();
      this.sprints.clear();
      this.members.clear();
      this.comments.clear();
      this.presence.clear();
      this.attachments.clear();
      this.watchers.clear();
      this.deleted.clear();
    });
  }

  applySnapshot(s: Snapshot): void {
    batch(() => {
      this.projectIdSignal.value = s.projectId;
      this.epochSignal.value = s.epoch;
      this.seqSignal.value = s.seq;
      this.projectSignal.value = s.project ?? null;
      if (s.project) this.projects.put(s.project.id, s.project);
      this.labelsSignal.value = s.labels;
      this.tasks.clear();
      for (const t of s.tasks) this.tasks.put(t.id, t);
      this.sprints.clear();
      for (const sp of s.sprints) this.sprints.put(sp.id, sp);
      for (const m of s.members) this.members.put(m.id, m);
      this.presence.clear();
      for (const p of s.presence) this.putPresence(p);
      this.attachments.clear();
      for (const a of s.attachments) this.attachments.put(a.id, a);
      this.deleted.clear();
    });
  }

  /** The one way a confirmed record changes: never backwards in version, never undeleted. */
  put<T extends Versioned>(records: Records<T>, rec: T): void {
    if (this.deleted.has(rec.id)) return;
    const cur = records.peek(rec.id);
    if (cur && cur.version > rec.version) return;
    records.put(rec.id, rec);
    if (records === (this.projects as Records<unknown>) && rec.id === this.projectId) {
      this.projectSignal.value = rec as unknown as Project;
    }
  }

  /** Removes an entity for good (a confirmed delete). */
  drop(records: Records<unknown>, id: string): void {
    records.delete(id);
    this.deleted.add(id);
    if (records === this.projects && id === this.projectId) this.projectSignal.value = null;
  }

  putAttachment(a: Attachment): void {
    if (!this.deleted.has(a.id)) this.attachments.put(a.id, a);
  }

  /** Brings back an entity a confirmed change removed (restored from the trash or archive). */
  restore<T extends Versioned>(records: Records<T>, rec: T): void {
    this.forget(rec.id);
    this.put(records, rec);
  }

  /** An entity removed before may come back (its restore was acknowledged). */
  forget(id: string): void {
    this.deleted.delete(id);
  }

  putPresence(p: UserPresence): void {
    if (p.state === PresenceState.OFFLINE) this.presence.delete(p.connectionId);
    else this.presence.put(p.connectionId, p);
    if (p.member) this.members.put(p.member.id, p.member);
  }

  /**
   * Applies one change-log event, only in seq order: an event at or below the last applied seq
   * is a duplicate (a replay overlapping live delivery) and is ignored; one past a hole returns
   * "gap" so the connection resubscribes from the last applied seq.
   */
  applyEvent(msg: WebSocketMessage): EventOutcome {
    const p = msg.payload;
    // The table is keyed by case, so the handler found takes this payload's value.
    const apply = (p.case ? EVENTS[p.case as EventCase] : undefined) as EventHandler | undefined;
    if (!apply) return "ignored";
    const ev = p.value as { seq: bigint; projectId: string };
    if (ev.projectId !== this.projectId) return "ignored";
    if (ev.seq <= this.seqSignal.peek()) return "duplicate";
    if (ev.seq > this.seqSignal.peek() + 1n) return "gap";
    batch(() => {
      apply(this, p.value);
      this.seqSignal.value = ev.seq;
    });
    return "applied";
  }
}

type EventHandler = (b: ConfirmedBoard, ev: Payload["value"]) => void;
type EventValue<C extends EventCase> = Extract<Payload, { case: C }>["value"];

/** How each change-log event changes the confirmed board. */
const EVENTS: { [C in EventCase]?: (b: ConfirmedBoard, ev: EventValue<C>) => void } = {
  taskCreated: (b, ev) => ev.task && b.put(b.tasks, ev.task),
  taskUpdated: (b, ev) => ev.task && b.put(b.tasks, ev.task),
  taskDeleted: (b, ev) => {
    b.drop(b.tasks, ev.taskId);
    for (const id of ev.deletedSubtaskIds) b.drop(b.tasks, id);
  },
  commentAdded: (b, ev) => ev.comment && b.put(b.comments, ev.comment),
  commentUpdated: (b, ev) => ev.comment && b.put(b.comments, ev.comment),
  commentDeleted: (b, ev) => b.drop(b.comments, ev.commentId),
  sprintUpdated: (b, ev) => {
    if (ev.sprint) b.put(b.sprints, ev.sprint);
    // The carried tasks' own TaskUpdated events precede this one; this keeps older servers'
    // clients right too. The version stays, so those events still apply.
    for (const id of ev.carriedOverTaskIds) {
      const t = b.tasks.peek(id);
      if (t) b.tasks.put(id, { ...t, sprintId: ev.carriedOverToSprintId });
    }
  },
  sprintDeleted: (b, ev) => b.drop(b.sprints, ev.sprintId),
  projectUpdated: (b, ev) => ev.project && b.put(b.projects, ev.project),
  projectDeleted: (b, ev) => b.drop(b.projects, ev.projectId),
  attachmentAdded: (b, ev) => ev.attachment && b.putAttachment(ev.attachment),
  attachmentRemoved: (b, ev) => b.drop(b.attachments, ev.attachmentId),
  tasksArchived: (b, ev) => {
    for (const id of ev.taskIds) b.drop(b.tasks, id);
    if (ev.sprintId) b.drop(b.sprints, ev.sprintId);
  },
  tasksRestored: (b, ev) => {
    if (ev.sprint) b.restore(b.sprints, ev.sprint);
    for (const t of ev.tasks) b.restore(b.tasks, t);
    for (const c of ev.comments) b.restore(b.comments, c);
    for (const a of ev.attachments) {
      b.forget(a.id);
      b.putAttachment(a);
    }
  },
  // Nothing on the board: the trash view reads the trash afresh.
  trashPurged: () => {},
  commentRestored: (b, ev) => {
    if (ev.comment) b.restore(b.comments, ev.comment);
    for (const a of ev.attachments) {
      b.forget(a.id);
      b.putAttachment(a);
    }
  },
  taskWatchersChanged: (b, ev) => ev.watchers && b.watchers.put(ev.watchers.taskId, ev.watchers),
  labelsChanged: (b, ev) => void (b.labelsSignal.value = ev.labels),
};
