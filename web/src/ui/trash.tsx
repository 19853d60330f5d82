/** The project's Trash and Archive views, and the small controls other screens mount: the Done
 * column's "Archive all", a done task's "Archive" and a completed sprint's "Archive".
 *
 * Both views read the server's lists over REST (GET /api/v1/projects/{id}/trash and /archive)
 * and read them again whenever the project's change log moves, so a delete, restore or purge by
 * anyone shows here live. Restoring and deleting forever are commands of the outbox like any
 * other change. */
import { useEffect, useState } from "preact/hooks";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate, TaskStatus, type ListArchiveResponse, type ListTrashResponse, type Sprint, type Task, type TrashedProject } from "../proto";
import { connection, go, route, store } from "../app-context";
import { Avatar } from "./common";
import "./trash.css";

/** A signal-free list read: again on every change-log move of the project (or a new query). */
function useList<T>(read: () => Promise<T>, deps: unknown[]): { data: T | null; error: string } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState("");
  const seq = store.seq;
  useEffect(() => {
    let current = true;
    read().then(
      (d) => current && (setData(d), setError("")),
      (e: Error) => current && setError(e.message),
    );
    return () => {
      current = false;
    };
  }, [seq, ...deps]);
  return { data, error };
}

/** Whoever a list names but the board does not (someone who only deleted), once. */
export function useNames(ids: readonly string[]): void {
  const missing = ids.filter((id) => id && !store.members.peek(id));
  const key = missing.join(",");
  useEffect(() => {
    if (!key) return;
    void connection()
      .listMembers()
      .then((list) => store.putMembers(list))
      .catch(() => {});
  }, [key]);
}

export function when(t: Timestamp | undefined): string {
  if (!t) return "";
  return timestampDate(t).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function daysLeft(t: Timestamp | undefined): string {
  if (!t) return "";
  const days = Math.max(0, Math.ceil((timestampDate(t).getTime() - Date.now()) / 86_400_000));
  return days === 1 ? "1 day left" : `${days} days left`;
}

export function Who({ id }: { id: string }) {
  const m = store.members.get(id);
  return (
    <span class="who">
      <Avatar member={m} size={18} />
      {m?.displayName ?? "Someone"}
    </span>
  );
}

/** A kept task's line; an archived one opens (read-only, with Restore) when clicked. */
function TaskLine({ task, opens = false }: { task: Task; opens?: boolean }) {
  const what = (
    <>
      <span class="key">{task.key}</span> {task.title}
    </>
  );
  return (
    <span class="kept-title">
      {opens ? <a href={`#/p/${task.projectId}/archive/t/${task.id}`}>{what}</a> : what}
    </span>
  );
}

export function TrashView() {
  const projectId = route.value.projectId;
  const { data, error } = useList<ListTrashResponse>(() => connection().listTrash(projectId), [projectId]);
  const [confirm, setConfirm] = useState<Task | null>(null);
  useNames(data?.tasks.map((e) => e.deletedById) ?? []);
  const ro = store.readOnly;
  return (
    <main class="kept" data-testid="trash" aria-labelledby="trash-title">
      <h1 id="trash-title">Trash</h1>
      <p class="muted">Deleted tasks wait here for 30 days with their subtasks and comments, then are deleted for good.</p>
      {error && <p class="danger" role="alert">Couldn't load the trash: {error}</p>}
      {data && data.tasks.length === 0 && <p class="muted pad" data-testid="trash-empty">The trash is empty.</p>}
      {data && data.tasks.length > 0 && (
        <ul class="kept-list">
          {data.tasks.map((e) => e.task && (
            <li key={e.task.id} data-testid="trashed">
              <TaskLine task={e.task} />
              <span class="kept-meta">
                Deleted by <Who id={e.deletedById} /> · <time>{when(e.deleteTime)}</time>
                {e.subtaskCount > 0 && ` · ${e.subtaskCount} subtask${e.subtaskCount === 1 ? "" : "s"}`}
                {e.commentCount > 0 && ` · ${e.commentCount} comment${e.commentCount === 1 ? "" : "s"}`}
                {" · "}
                <span title={`Deleted for good on ${when(e.purgeTime)}`}>{daysLeft(e.purgeTime)}</span>
              </span>
              {!ro && (
                <span class="kept-actions">
                  <button onClick={() => store.restoreTask(e.task!.id, e.task!.key)}>Restore</button>
                  <button class="danger" onClick={() => setConfirm(e.task!)}>Delete forever</button>
                </span>
              )}
            </li>
          ))}
        </ul>
      )}
      {confirm && (
        <div class="modal-backdrop" role="dialog" aria-modal="true" aria-labelledby="purge-title">
          <div class="modal" onKeyDown={(e) => e.key === "Escape" && setConfirm(null)}>
            <h2 id="purge-title">Delete {confirm.key} forever?</h2>
            <p>“{confirm.title}”, its subtasks and comments are deleted for everyone. This cannot be undone.</p>
            <div class="row end">
              <button ref={(el) => el?.focus()} onClick={() => setConfirm(null)}>Cancel</button>
              <button
                class="danger-btn"
                onClick={() => {
                  store.purgeTask(confirm.id);
                  setConfirm(null);
                }}
              >
                Delete forever
              </button>
            </div>
          </div>
        </div>
      )}
    </main>
  );
}

export function ArchiveView() {
  const projectId = route.value.projectId;
  const [q, setQ] = useState("");
  const { data, error } = useList<ListArchiveResponse>(() => connection().listArchive(projectId, q.trim()), [projectId, q]);
  useNames([...(data?.tasks.map((a) => a.archivedById) ?? []), ...(data?.sprints.map((a) => a.archivedById) ?? [])]);
  const ro = store.readOnly;
  return (
    <main class="kept" data-testid="archive" aria-labelledby="archive-title">
      <h1 id="archive-title">Archive</h1>
      <p class="muted">Done tasks and completed sprints put away from the board. Restore one to see it there again.</p>
      <input class="kept-search" type="search" placeholder="Search the archive…" aria-label="Search the archive" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
      {error && <p class="danger" role="alert">Couldn't load the archive: {error}</p>}
      {data && data.sprints.length > 0 && !q && (
        <>
          <h2>Sprints</h2>
          <ul class="kept-list">
            {data.sprints.map((a) => a.sprint && (
              <li key={a.sprint.id} data-testid="archived-sprint">
                <span class="kept-title">{a.sprint.name}</span>
                <span class="kept-meta">
                  {a.taskCount} task{a.taskCount === 1 ? "" : "s"} · archived by <Who id={a.archivedById} /> · <time>{when(a.archiveTime)}</time>
                </span>
                {!ro && <span class="kept-actions"><button onClick={() => store.unarchiveSprint(a.sprint!.id)}>Restore</button></span>}
              </li>
            ))}
          </ul>
        </>
      )}
      {data && (data.sprints.length > 0 && !q ? <h2>Tasks</h2> : null)}
      {data && data.tasks.length === 0 && (
        <p class="muted pad" data-testid="archive-empty">{q ? "No archived task matches." : "Nothing is archived yet: archive done tasks from the board's Done column."}</p>
      )}
      {data && data.tasks.length > 0 && (
        <ul class="kept-list">
          {data.tasks.map((a) => a.task && (
            <li key={a.task.id} data-testid="archived">
              <TaskLine task={a.task} opens />
              <span class="kept-meta">
                Archived by <Who id={a.archivedById} /> · <time>{when(a.archiveTime)}</time>
              </span>
              {!ro && <span class="kept-actions"><button onClick={() => store.restoreTask(a.task!.id, a.task!.key)}>Restore</button></span>}
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}

/** The projects page's "Recently deleted": projects in the trash, each with Restore. Read again
 * whenever this browser's outbox empties (a delete or restore of its own went through) and with
 * the projects page's own polling of the list. */
export function DeletedProjects() {
  const [list, setList] = useState<TrashedProject[]>([]);
  const settledAt = store.outbox.size === 0 ? store.viewProjects().length : -1;
  useEffect(() => {
    if (settledAt < 0) return;
    let current = true;
    connection()
      .listTrashedProjects()
      .then((l) => current && setList(l), () => {});
    return () => {
      current = false;
    };
  }, [settledAt]);
  useNames(list.map((p) => p.deletedById));
  if (list.length === 0) return null;
  return (
    <section class="kept-projects" aria-labelledby="deleted-projects-title" data-testid="deleted-projects">
      <h2 id="deleted-projects-title">Recently deleted</h2>
      <ul class="kept-list">
        {list.map((t) => t.project && (
          <li key={t.project.id} data-testid="deleted-project">
            <span class="kept-title">
              <span class="key">{t.project.key}</span> {t.project.name}
            </span>
            <span class="kept-meta">
              Deleted by <Who id={t.deletedById} /> · <time>{when(t.deleteTime)}</time> · <span>{daysLeft(t.purgeTime)}</span>
            </span>
            {!store.readOnly && (
              <span class="kept-actions">
                <button onClick={() => store.restoreProject(t.project!.id, t.project!.name)}>Restore</button>
              </span>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The Archive and Trash tabs beside Board and Sprints (on a phone, in the palette only). */
export function KeptTabs({ projectId, view }: { projectId: string; view: string }) {
  return (
    <>
      {(["archive", "trash"] as const).map((v) => (
        <a key={v} href={`#/p/${projectId}/${v}`} class={`kept-tab${view === v ? " on" : ""}`} aria-current={view === v ? "page" : undefined}>
          {v === "archive" ? "Archive" : "Trash"}
        </a>
      ))}
    </>
  );
}

/** The Done column's "Archive all": the done cards shown, with a count to confirm. */
export function ArchiveDoneButton({ tasks }: { tasks: Task[] }) {
  if (store.readOnly || tasks.length === 0) return null;
  const label = `Archive all ${tasks.length} done task${tasks.length === 1 ? "" : "s"}`;
  return (
    <button class="icon" title={label} aria-label={label} data-testid="archive-done" onClick={() => store.archiveDone(tasks.map((t) => t.id))}>
      <span aria-hidden="true">⤓</span>
    </button>
  );
}

/** A done task's "Archive" in its panel. */
export function ArchiveTaskButton({ task }: { task: Task }) {
  if (store.readOnly || task.status !== TaskStatus.DONE || task.parentTaskId) return null;
  return (
    <button
      class="icon"
      title="Archive task"
      aria-label="Archive task"
      onClick={() => {
        store.archiveTask(task.id);
        go(route.value.projectId);
      }}
    >
      <span aria-hidden="true">⤓</span>
    </button>
  );
}

/** A completed sprint's "Archive" in the sprints view. */
export function ArchiveSprintButton({ sprint }: { sprint: Sprint }) {
  if (store.readOnly) return null;
  return (
    <button class="link" onClick={() => store.archiveSprint(sprint.id)}>
      Archive
    </button>
  );
}
