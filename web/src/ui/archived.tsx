/** A task that is not on the board, opened from the Archive (or a link to it): read as the server
 * has it (fields, description, files, comments), shown read-only (an archived task cannot be
 * changed), with Restore to put it back on the board, where the usual panel takes over. A link
 * to a task in the Trash says so (who deleted it, when, how long it waits there), with Restore. */
import { useEffect, useState } from "preact/hooks";
import { timestampDate, type Attachment, type Comment, type Task, type TrashedTask } from "../proto";
import { connection, go, store } from "../app-context";
import { renderMarkdown } from "../markdown";
import { contentUrl } from "./attachments";
import { Avatar, PRIORITIES, statusName } from "./common";
import { daysLeft, useNames, when, Who } from "./trash";
import "./trash.css";

type Read = { task: Task; comments: Comment[]; files: Attachment[] } | { trashed: TrashedTask } | "missing" | null;

/** The Trash's entry for ``taskId`` (the server reads a task in the trash as not found). */
async function inTrash(taskId: string): Promise<Read> {
  const trash = await connection().listTrash(store.projectId);
  const entry = trash.tasks.find((e) => e.task?.id === taskId);
  return entry ? { trashed: entry } : "missing";
}

export function OffBoardTask({ taskId }: { taskId: string }) {
  const [read, setRead] = useState<Read>(null);
  const seq = store.seq;
  useEffect(() => {
    let current = true;
    const conn = connection();
    Promise.all([conn.getTask(taskId), conn.listComments(taskId), conn.listAttachments(taskId)]).then(
      // A task of another project is not this board's to show (the link is mistyped).
      ([task, comments, files]) => current && setRead(task.projectId === store.projectId ? { task, comments, files } : "missing"),
      () =>
        inTrash(taskId).then(
          (found) => current && setRead(found),
          () => current && setRead("missing"),
        ),
    );
    return () => {
      current = false;
    };
  }, [taskId, seq]);
  const close = () => go(store.projectId);
  if (read === null || read === "missing") {
    return (
      <aside class="panel" data-testid="task-panel">
        <div class="panel-head">
          <span class="spacer" />
          <button class="icon" onClick={close} aria-label="Close">×</button>
        </div>
        <p class="muted pad">{read === null ? "Loading…" : "This task is not on the board: it may be in the Trash, or the link is mistyped."}</p>
      </aside>
    );
  }
  if ("trashed" in read) return <TrashedPanel entry={read.trashed} close={close} />;
  const { task, comments, files } = read;
  const assignee = task.assigneeId ? store.members.get(task.assigneeId) : undefined;
  const priority = PRIORITIES.find((p) => p.id === task.priority)?.name ?? "No priority";
  return (
    <aside class="panel" data-testid="task-panel" aria-label={`Task ${task.key}`}>
      <Head taskKey={task.key} close={close} />
      <div class="archived-note" data-testid="archived-note" role="status">
        <span>Archived: read-only until it is restored to the board.</span>
        <Restore task={task} />
      </div>
      <div class="panel-body">
        <h2 class="archived-title" data-testid="archived-title">{task.title}</h2>
        <dl class="props archived-props">
          <dt>Status</dt>
          <dd>{statusName(task.status)}</dd>
          <dt>Priority</dt>
          <dd>{priority}</dd>
          <dt>Assignee</dt>
          <dd>{assignee?.displayName ?? (task.assigneeId ? "Someone" : "Unassigned")}</dd>
          {task.storyPoints !== undefined && (
            <>
              <dt>Points</dt>
              <dd>{task.storyPoints}</dd>
            </>
          )}
          {task.labels.length > 0 && (
            <>
              <dt>Labels</dt>
              <dd>{task.labels.join(", ")}</dd>
            </>
          )}
          {task.dueDate && (
            <>
              <dt>Due</dt>
              <dd>{task.dueDate}</dd>
            </>
          )}
        </dl>
        <div class="field-block">
          <div class="block-head"><span>Description</span></div>
          <div
            class="markdown"
            data-testid="description"
            dangerouslySetInnerHTML={{ __html: task.description ? renderMarkdown(task.description) : `<p class="muted">No description.</p>` }}
          />
        </div>
        {files.length > 0 && (
          <div class="field-block">
            <div class="block-head"><span>Attachments</span></div>
            <ul class="archived-files">
              {files.map((a) => (
                <li key={a.id} data-testid="archived-file">
                  <a href={contentUrl(a)} download={a.name}>{a.name}</a>
                </li>
              ))}
            </ul>
          </div>
        )}
        <div class="field-block">
          <div class="block-head"><span>Comments</span></div>
          {comments.length === 0 ? (
            <p class="muted">No comments.</p>
          ) : (
            <ul class="comments">
              {comments.map((c) => (
                <li class="comment" data-testid="comment" key={c.id}>
                  <Avatar member={store.members.get(c.authorId)} size={24} />
                  <div class="comment-body">
                    <div class="comment-meta">
                      <b>{store.members.get(c.authorId)?.displayName ?? "Someone"}</b>
                      <span class="muted">{c.createTime ? timestampDate(c.createTime).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : ""}</span>
                    </div>
                    <div class="markdown" dangerouslySetInnerHTML={{ __html: renderMarkdown(c.body) }} />
                  </div>
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
    </aside>
  );
}

/** An off-board task panel's head: its key and Close. */
function Head({ taskKey, close }: { taskKey: string; close: () => void }) {
  return (
    <div class="panel-head">
      <span class="key">{taskKey}</span>
      <span class="spacer" />
      <button class="icon" onClick={close} aria-label="Close" title="Close (Esc)">×</button>
    </div>
  );
}

/** Puts an off-board task back on the board (none for a viewer). */
function Restore({ task }: { task: Task }) {
  if (store.readOnly) return null;
  return (
    <button class="primary small" onClick={() => store.restoreTask(task.id, task.key)}>
      Restore
    </button>
  );
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/** What comes back with a task from the Trash, as the end of a sentence. */
function withIt(entry: TrashedTask): string {
  const parts = [];
  if (entry.subtaskCount > 0) parts.push(count(entry.subtaskCount, "subtask"));
  if (entry.commentCount > 0) parts.push(count(entry.commentCount, "comment"));
  return parts.length ? `, with its ${parts.join(" and ")}` : "";
}

function TrashedPanel({ entry, close }: { entry: TrashedTask; close: () => void }) {
  const task = entry.task!;
  useNames([entry.deletedById]);
  return (
    <aside class="panel" data-testid="task-panel" aria-label={`Task ${task.key}`}>
      <Head taskKey={task.key} close={close} />
      <div class="archived-note" data-testid="trashed-note" role="status">
        <span>
          In the Trash: deleted by <Who id={entry.deletedById} /> · <time>{when(entry.deleteTime)}</time> ·{" "}
          <span title={`Deleted for good on ${when(entry.purgeTime)}`}>{daysLeft(entry.purgeTime)}</span>
        </span>
        <Restore task={task} />
      </div>
      <div class="panel-body">
        <h2 class="archived-title" data-testid="trashed-title">{task.title}</h2>
        <p class="muted">Restore puts it back where it was on the board{withIt(entry)}.</p>
      </div>
    </aside>
  );
}
