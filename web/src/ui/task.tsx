/** The task detail side panel: fields edited in place, Markdown description, subtasks, comments,
 * presence on the task, and its activity from the change log. */
import { useEffect, useRef, useState } from "preact/hooks";
import { timestampDate, SprintState, TaskStatus, type Comment, type Task, type WebSocketMessage } from "../proto";
import { connection, connState, go, store } from "../app-context";
import { loadTaskActivity, type TaskActivity } from "../state/activity";
import { CommentDrafts } from "../state/drafts";
import { labelChange } from "../state/label-change";
import { renderMarkdown } from "../markdown";
import { Avatar, names, othersWhere, PRIORITIES, statusName } from "./common";
import { assignable } from "./people";
import { Attachments, pasteIntoComment } from "./attachments";
import { ColumnSelect } from "./workflow";
import { MentionBox, WatchButton } from "./inbox";
import { ArchiveTaskButton } from "./trash";
import { OffBoardTask } from "./archived";

function ago(d: Date | undefined): string {
  if (!d) return "";
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return d.toLocaleDateString();
}

/**
 * A field edited in place. The task's version is taken when editing begins and handed to onSave,
 * so someone else's change to the same field meanwhile comes back as a conflict instead of being
 * overwritten. Escape cancels: the draft is dropped and the saved value shows again.
 */
function TextField({ value, version, onSave, label, multiline = false, disabled = false, onFocus, onBlur }: {
  value: string;
  version?: bigint;
  onSave: (v: string, baseVersion: bigint | undefined) => void;
  label: string;
  multiline?: boolean;
  disabled?: boolean;
  onFocus?: () => void;
  onBlur?: () => void;
}) {
  const [draft, setDraft] = useState<string | null>(null);
  // Refs, not state: blur() inside a key handler runs commit before the state update is drawn.
  const draftRef = useRef<string | null>(null);
  const base = useRef<bigint | undefined>(undefined);
  const put = (v: string | null) => {
    draftRef.current = v;
    setDraft(v);
  };
  const commit = () => {
    const d = draftRef.current;
    if (d !== null && d !== value) onSave(d, base.current);
    put(null);
    onBlur?.();
  };
  const props = {
    "aria-label": label,
    value: draft ?? value,
    readOnly: disabled,
    onFocus: () => {
      if (disabled) return;
      base.current = version;
      put(value);
      onFocus?.();
    },
    onInput: (e: Event) => put((e.target as HTMLInputElement).value),
    onBlur: commit,
    onKeyDown: (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        const el = e.target as HTMLInputElement;
        put(null);
        el.value = value;
        el.blur();
      } else if (e.key === "Enter" && (!multiline || e.metaKey || e.ctrlKey)) {
        e.preventDefault();
        (e.target as HTMLElement).blur();
      }
    },
  };
  return multiline ? <textarea {...props} rows={8} class="desc-input" /> : <input {...props} class="title-input" />;
}

function Description({ task }: { task: Task }) {
  const [editing, setEditing] = useState(false);
  const editors = othersWhere((p) => p.viewingTaskId === task.id && p.editingField === "description");
  const conn = connection();
  return (
    <div class="field-block">
      <div class="block-head">
        <span>Description</span>
        {editors.length > 0 && (
          <span class="presence-note" data-testid="editing-note">
            {names(editors)} {editors.length > 1 ? "are" : "is"} editing the description
          </span>
        )}
        <span class="spacer" />
        {!editing && !store.readOnly && (
          <button class="link" onClick={() => setEditing(true)}>
            Edit
          </button>
        )}
      </div>
      {editing ? (
        <MentionBox>
        <TextField
          label="Description"
          multiline
          value={task.description}
          version={task.version}
          onFocus={() => conn.updatePresence({ viewingTaskId: task.id, editingField: "description" })}
          onBlur={() => {
            conn.updatePresence({ viewingTaskId: task.id });
            setEditing(false);
          }}
          onSave={(v, base) => store.updateTask(task.id, { description: v }, true, base)}
        />
        </MentionBox>
      ) : (
        <div
          class="markdown"
          data-testid="description"
          onDblClick={() => !store.readOnly && setEditing(true)}
          dangerouslySetInnerHTML={{
            __html: task.description
              ? renderMarkdown(task.description)
              : `<p class="muted">No description.${store.readOnly ? "" : " Double-click to write one."}</p>`,
          }}
        />
      )}
    </div>
  );
}

function Subtasks({ task }: { task: Task }) {
  const [title, setTitle] = useState("");
  const subs = store.subtasks(task.id);
  return (
    <div class="field-block">
      <div class="block-head">
        <span>Subtasks</span>
        <span class="muted">
          {subs.filter((s) => s.status === TaskStatus.DONE).length}/{subs.length}
        </span>
      </div>
      <ul class="subtasks">
        {subs.map((s) => (
          <li key={s.id}>
            <input
              type="checkbox"
              checked={s.status === TaskStatus.DONE}
              disabled={store.readOnly}
              onChange={(e) => store.updateTask(s.id, { status: (e.target as HTMLInputElement).checked ? TaskStatus.DONE : TaskStatus.TODO })}
              aria-label={`Done: ${s.title}`}
            />
            <a href={`#/p/${s.projectId}/t/${s.id}`}>
              <span class="key">{s.key}</span> {s.title}
            </a>
          </li>
        ))}
      </ul>
      {!store.readOnly && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (!title.trim()) return;
            store.createTask({ title: title.trim(), status: TaskStatus.TODO, parentTaskId: task.id });
            setTitle("");
          }}
        >
          <input class="inline-input" placeholder="Add a subtask…" value={title} onInput={(e) => setTitle((e.target as HTMLInputElement).value)} />
        </form>
      )}
    </div>
  );
}

function CommentItem({ c }: { c: Comment }) {
  const [edit, setEdit] = useState<string | null>(null);
  const author = store.members.get(c.authorId);
  const mine = c.authorId !== "" && c.authorId === store.me?.id && !store.readOnly;
  return (
    <li class="comment" data-testid="comment">
      <Avatar member={author} size={24} />
      <div class="comment-body">
        <div class="comment-meta">
          <b>{author?.displayName ?? "Someone"}</b>
          <span class="muted">
            {ago(c.createTime ? timestampDate(c.createTime) : undefined)}
            {c.editTime ? " · edited" : ""}
            {store.isPending(c.id) ? " · sending" : ""}
          </span>
          {mine && edit === null && (
            <span class="comment-actions">
              <button class="link" onClick={() => setEdit(c.body)}>Edit</button>
              <button class="link danger" onClick={() => store.deleteComment(c.id)}>Delete</button>
            </span>
          )}
        </div>
        {edit !== null ? (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              if (edit.trim() && edit !== c.body) store.editComment(c.id, edit.trim());
              setEdit(null);
            }}
          >
            <MentionBox>
              <textarea class="comment-input" aria-label="Edit comment" value={edit} onInput={(e) => setEdit((e.target as HTMLTextAreaElement).value)} />
            </MentionBox>
            <div class="row">
              <button type="submit" class="primary small">Save</button>
              <button type="button" class="small" onClick={() => setEdit(null)}>Cancel</button>
            </div>
          </form>
        ) : (
          <div class="markdown" dangerouslySetInnerHTML={{ __html: renderMarkdown(c.body) }} />
        )}
      </div>
    </li>
  );
}

const drafts = new CommentDrafts(
  (() => {
    try {
      return window.localStorage;
    } catch {
      return null;
    }
  })(),
);

function Comments({ task }: { task: Task }) {
  const [body, setBodyState] = useState(() => drafts.get(task.id));
  const setBody = (text: string) => {
    setBodyState(text);
    drafts.set(task.id, text);
  };
  const idle = useRef<ReturnType<typeof setTimeout> | null>(null);
  const conn = connection();
  const comments = store.viewComments(task.id);
  const typing = othersWhere((p) => p.viewingTaskId === task.id && p.typingComment);
  const stopTyping = () => {
    if (idle.current) clearTimeout(idle.current);
    idle.current = null;
    conn.updatePresence({ viewingTaskId: task.id });
  };
  return (
    <div class="field-block">
      <div class="block-head">
        <span>Comments</span>
      </div>
      <ul class="comments">
        {comments.map((c) => (
          <CommentItem key={c.id} c={c} />
        ))}
      </ul>
      <div class="typing" data-testid="typing" aria-live="polite">
        {typing.length > 0 ? `${names(typing)} ${typing.length > 1 ? "are" : "is"} typing…` : ""}
      </div>
      {!store.readOnly && (
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (!body.trim()) return;
          store.addComment(task.id, body.trim());
          setBody("");
          stopTyping();
        }}
      >
        <MentionBox>
        <textarea
          class="comment-input"
          placeholder="Leave a comment… (Markdown, @ to mention, Ctrl+Enter to send)"
          aria-label="New comment"
          value={body}
          onInput={(e) => {
            setBody((e.target as HTMLTextAreaElement).value);
            // Repeats of the same presence are not sent, so this is throttled to real changes.
            conn.updatePresence({ viewingTaskId: task.id, typingComment: true });
            if (idle.current) clearTimeout(idle.current);
            idle.current = setTimeout(stopTyping, 3000);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) (e.currentTarget.form as HTMLFormElement).requestSubmit();
          }}
          onBlur={() => !body && stopTyping()}
          onPaste={(e) => pasteIntoComment(e, task, (text) => setBody(drafts.get(task.id) + (drafts.get(task.id) ? "\n" : "") + text))}
        />
        </MentionBox>
        <div class="row">
          <button type="submit" class="primary small" disabled={!body.trim()}>
            Comment
          </button>
        </div>
      </form>
      )}
    </div>
  );
}

function describe(msg: WebSocketMessage, before: Task | undefined): string {
  const p = msg.payload;
  switch (p.case) {
    case "taskCreated":
      return "created the task";
    case "taskUpdated": {
      const paths = (p.value.updateMask?.paths ?? []).filter((x) => x !== "rank");
      if (paths.length === 0) return "reordered it";
      if (paths.length === 1 && paths[0] === "status") return `moved it to ${statusName(p.value.task?.status ?? 0)}`;
      const others = paths.filter((x) => x !== "labels");
      const said = others.length ? [`changed ${others.map((x) => x.replace(/_id$/, "").replace(/_/g, " ")).join(", ")}`] : [];
      if (paths.includes("labels")) said.push(labelChange(before?.labels, p.value.task?.labels ?? []));
      return said.join("; ");
    }
    case "commentAdded":
      return "commented";
    case "commentUpdated":
      return "edited a comment";
    case "commentDeleted":
      return "deleted a comment";
    case "commentRestored":
      return "restored a comment";
    case "taskDeleted":
      return "deleted it";
    case "tasksArchived":
      return "archived it";
    case "tasksRestored":
      return p.value.fromTrash ? "restored it from the trash" : "restored it from the archive";
    default:
      return "changed it";
  }
}

function Activity({ task }: { task: Task }) {
  const [activity, setActivity] = useState<TaskActivity | null>(null);
  const [failed, setFailed] = useState(false);
  const [retries, setRetries] = useState(0);
  const read = useRef<TaskActivity | null>(null);
  const seq = store.seq;
  useEffect(() => {
    let live = true;
    loadTaskActivity(connection(), task.projectId, task.id, read.current)
      .then((a) => {
        if (!live) return;
        read.current = a;
        setActivity(a);
        // Someone the board has not met yet (joined after the snapshot): learn their name.
        if (a.events.some((m) => !store.members.has((m.payload.value as { actorId?: string }).actorId ?? ""))) {
          connection().listMembers().then((l) => live && store.putMembers(l), () => {});
        }
      })
      .catch(() => {
        if (!live) return;
        // What was read before stays on screen; the page says the rest could not be read.
        setActivity(read.current?.taskId === task.id ? read.current : { taskId: task.id, events: [], seq: 0n, complete: true });
        setFailed(true);
      });
    setFailed(false);
    return () => {
      live = false;
    };
  }, [task.id, seq, retries]);
  const [all, setAll] = useState(false);
  const items = activity?.taskId === task.id ? activity.events : null;
  if (!items) return null;
  const shown = all ? items : items.slice(-30);
  // Each task event carries the whole task: the one before an event is what it changed from.
  const before = new Map<WebSocketMessage, Task>();
  let last: Task | undefined;
  for (const m of items) {
    if (last) before.set(m, last);
    const t = (m.payload.value as { task?: Task }).task;
    if (t && (m.payload.case === "taskCreated" || m.payload.case === "taskUpdated")) last = t;
  }
  return (
    <div class="field-block">
      <div class="block-head">
        <span>Activity</span>
      </div>
      <ul class="activity" data-testid="activity">
        {shown
          .slice()
          .reverse()
          .map((m) => {
            const v = m.payload.value as { actorId?: string; seq?: bigint; task?: Task };
            const who = store.members.get(v.actorId ?? "");
            const when = v.task?.updateTime ? timestampDate(v.task.updateTime) : undefined;
            return (
              <li key={String(v.seq)}>
                <b>{who?.displayName ?? "Someone"}</b> {describe(m, before.get(m))} <span class="muted">{m.payload.case === "taskCreated" || m.payload.case === "taskUpdated" ? ago(when) : ""}</span>
              </li>
            );
          })}
      </ul>
      {items.length > shown.length && (
        <button class="link" onClick={() => setAll(true)}>
          Show all {items.length}
        </button>
      )}
      {failed ? (
        <p class="muted small-text" role="status" data-testid="activity-failed">
          Couldn't load the activity.{" "}
          <button class="link" onClick={() => setRetries(retries + 1)}>
            Try again
          </button>
        </p>
      ) : (
        activity && !activity.complete && <p class="muted small-text">Older history is no longer kept.</p>
      )}
    </div>
  );
}

export function TaskPanel({ taskId }: { taskId: string }) {
  const task = store.task(taskId);
  const conn = connection();
  useEffect(() => {
    conn.updatePresence({ viewingTaskId: taskId });
    if (conn.state === "live" || conn.state === "polling") {
      conn.listComments(taskId).then((list) => store.setComments(taskId, list), () => {});
    }
    return () => conn.updatePresence({});
  }, [taskId, connState.value]);
  // A snapshot names only the members active in the project: the assignee picker asks for all.
  useEffect(() => {
    conn.listMembers().then((list) => store.putMembers(list), () => {});
  }, [taskId]);
  if (!task) {
    if (store.seq !== 0n) return <OffBoardTask taskId={taskId} />;
    return (
      <aside class="panel" data-testid="task-panel">
        <div class="panel-head">
          <span class="spacer" />
          <button class="icon" onClick={() => go(store.projectId)} aria-label="Close">×</button>
        </div>
        <p class="muted pad">Loading…</p>
      </aside>
    );
  }
  const viewers = othersWhere((p) => p.viewingTaskId === task.id);
  const members = assignable(store.members.values(), (id) => id === task.assigneeId);
  const parent = task.parentTaskId ? store.task(task.parentTaskId) : undefined;
  const ro = store.readOnly;
  return (
    <aside class="panel" data-testid="task-panel" aria-label={`Task ${task.key}`}>
      <div class="panel-head">
        <span class="key">{task.key || "…"}</span>
        {parent && (
          <a class="muted" href={`#/p/${parent.projectId}/t/${parent.id}`}>
            ↑ {parent.key}
          </a>
        )}
        <span class="spacer" />
        <WatchButton task={task} />
        <span class="avatars" data-testid="task-viewers">
          {viewers.map((p) => (
            <Avatar key={p.connectionId} member={p.member} size={22} ring />
          ))}
        </span>
        <ArchiveTaskButton task={task} />
        {!ro && <button class="icon danger" title="Delete task" aria-label="Delete task" onClick={() => {
          // No confirmation: the notice that follows offers "Undo", and z undoes it too.
          store.deleteTaskUndoably(task.id);
          go(store.projectId);
        }}>
          <svg width="14" height="14" viewBox="0 0 16 16" fill="none" stroke="currentColor" stroke-width="1.5" aria-hidden="true">
            <path d="M2.5 4h11M6 4V2.5h4V4M4 4l.7 9.5h6.6L12 4" />
          </svg>
        </button>}
        <button class="icon" onClick={() => go(store.projectId)} aria-label="Close" title="Close (Esc)">
          ×
        </button>
      </div>
      <div class="panel-body">
        <TextField
          label="Title"
          value={task.title}
          version={task.version}
          disabled={ro}
          onSave={(v, base) => v.trim() && store.updateTask(task.id, { title: v.trim() }, true, base)}
        />
        <div class="props">
          <label>Status</label>
          <ColumnSelect task={task} disabled={ro} />
          <label>Priority</label>
          <select aria-label="Priority" disabled={ro} value={task.priority} onChange={(e) => store.updateTask(task.id, { priority: Number((e.target as HTMLSelectElement).value) })}>
            {PRIORITIES.map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
          </select>
          <label>Assignee</label>
          <select aria-label="Assignee" disabled={ro} value={task.assigneeId} onChange={(e) => store.updateTask(task.id, { assigneeId: (e.target as HTMLSelectElement).value })}>
            <option value="">Unassigned</option>
            {members.map((m) => <option key={m.id} value={m.id}>{m.displayName}</option>)}
          </select>
          <label>Points</label>
          <input
            aria-label="Story points" disabled={ro}
            type="number"
            min={0}
            value={task.storyPoints ?? ""}
            onChange={(e) => {
              const raw = (e.target as HTMLInputElement).value;
              store.updateTask(task.id, { storyPoints: raw === "" ? undefined : Math.max(0, Math.round(Number(raw))) });
            }}
          />
          <label>Labels</label>
          <TextField
            label="Labels"
            value={task.labels.join(", ")}
            version={task.version}
            disabled={ro}
            onSave={(v, base) => store.updateTask(task.id, { labels: v.split(",").map((x) => x.trim()).filter(Boolean) }, true, base)}
          />
          <label>Due</label>
          <input aria-label="Due date" disabled={ro} type="date" value={task.dueDate} onChange={(e) => store.updateTask(task.id, { dueDate: (e.target as HTMLInputElement).value })} />
          {store.sprints.size > 0 && (
            <>
              <label>Sprint</label>
              <select aria-label="Sprint" disabled={ro} value={task.sprintId} onChange={(e) => store.updateTask(task.id, { sprintId: (e.target as HTMLSelectElement).value })}>
                <option value="">No sprint</option>
                {store
                  .viewSprints()
                  .filter((s) => s.state !== SprintState.COMPLETED || s.id === task.sprintId)
                  .map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
              </select>
            </>
          )}
        </div>
        <Description task={task} />
        {!task.parentTaskId && <Subtasks task={task} />}
        <Attachments key={`files-${task.id}`} task={task} />
        <Comments key={task.id} task={task} />
        <Activity task={task} />
      </div>
    </aside>
  );
}
