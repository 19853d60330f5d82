/** The page frame: header with presence and the connection indicator, first-run name prompt,
 * notices, the conflict dialog, the command palette and keyboard shortcuts. */
import { useEffect, useState } from "preact/hooks";
import { TaskStatus } from "../proto";
import {
  connection,
  connDetail,
  connState,
  displayName,
  filters,
  go,
  identity,
  learnIdentity,
  NAME_KEY,
  paletteOpen,
  quickAddStatus,
 
  route,
  selectedTask,
  store,
} from "../app-context";
import { Board, visibleOrder } from "./board";
import { Avatar, othersWhere, priorityOf, STATUSES, statusName, focusOnMount } from "./common";
import { Projects } from "./projects";
import { SprintsView } from "./sprints";
import { TaskPanel } from "./task";
import { ProjectNotFound } from "./guidance";
import { assignable } from "./people";

const STATE_TEXT: Record<string, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
  polling: "Live connection blocked, polling",
  ended: "Access ended",
};

function Indicator() {
  const s = connState.value;
  const waiting = store.outbox.size;
  return (
    <span class={`conn ${s}`} data-testid="connection" data-state={s} title={connDetail.value || STATE_TEXT[s]}>
      <span class="conn-dot" />
      {STATE_TEXT[s]}
      {waiting > 0 && s !== "live" && <span class="muted"> · {waiting} unsent</span>}
    </span>
  );
}

function FirstRun() {
  const [name, setName] = useState("");
  return (
    <div class="modal-backdrop" role="dialog" aria-modal="true" aria-label="Welcome">
      <form
        class="modal"
        onSubmit={(e) => {
          e.preventDefault();
          if (!name.trim()) return;
          localStorage.setItem(NAME_KEY, name.trim());
          displayName.value = name.trim();
        }}
      >
        <h2>Welcome to Tandem</h2>
        <p class="muted">What should your teammates see as your name?</p>
        <input ref={focusOnMount} placeholder="Your name" aria-label="Your name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        <div class="row end">
          <button class="primary" type="submit" disabled={!name.trim()}>
            Continue
          </button>
        </div>
      </form>
    </div>
  );
}

function Notices() {
  useEffect(() => {
    if (store.notices.length === 0) return;
    const id = store.notices[0].id;
    const t = setTimeout(() => store.dismissNotice(id), 8000);
    return () => clearTimeout(t);
  }, [store.notices[0]?.id]);
  return (
    <div class="notices" aria-live="assertive">
      {store.notices.map((n) => (
        <div class="notice" key={n.id} data-testid="notice">
          {n.text}
          <button class="icon" aria-label="Dismiss" onClick={() => store.dismissNotice(n.id)}>×</button>
        </div>
      ))}
    </div>
  );
}

function show(field: string, t: Record<string, unknown>): string {
  const key = field.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const v = t[key];
  if (field === "status") return statusName(v as TaskStatus);
  if (field === "priority") return priorityOf(v as number).name;
  if (field === "assignee_id") return store.members.get(v as string)?.displayName ?? "Unassigned";
  if (Array.isArray(v)) return v.join(", ") || "—";
  return v === undefined || v === "" ? "—" : String(v);
}

function ConflictDialog() {
  const c = store.conflicts[0];
  if (!c) return null;
  const fields = c.mask;
  return (
    <div class="modal-backdrop" role="dialog" aria-modal="true" aria-label="Conflicting edit" data-testid="conflict">
      <div class="modal wide">
        <h2>Someone changed this at the same time</h2>
        <p class="muted">
          {c.theirs.key} · {c.theirs.title}. Choose which version to keep.
        </p>
        <table class="conflict-table">
          <thead>
            <tr>
              <th />
              <th>Theirs (saved)</th>
              <th>Mine</th>
            </tr>
          </thead>
          <tbody>
            {fields.map((f) => (
              <tr key={f} class={c.fields.includes(f) ? "differs" : ""}>
                <th>{f.replace(/_id$/, "").replace(/_/g, " ")}</th>
                <td data-testid="theirs">{show(f, c.theirs)}</td>
                <td data-testid="mine">{show(f, c.mine)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <div class="row end">
          <button onClick={() => store.resolveConflict(c.id, "theirs")}>Take theirs</button>
          <button class="primary" onClick={() => store.resolveConflict(c.id, "mine")}>
            Keep mine
          </button>
        </div>
      </div>
    </div>
  );
}

/** The board's terminal state once access is gone: nothing to retry, nothing to edit. */
function AccessEnded() {
  return (
    <div class="modal-backdrop" role="alertdialog" aria-modal="true" aria-label="Access ended" data-testid="access-ended">
      <div class="modal">
        <h2>Your access to this board ended</h2>
        <p class="muted">
          The owner stopped sharing the board or withdrew your invite. Ask them for a new invite link if you still need
          it.
        </p>
      </div>
    </div>
  );
}

interface Action {
  name: string;
  hint?: string;
  run: () => void;
  /** Instead of running: a second list to choose from (a picker). */
  pick?: () => Action[];
}

/** The task palette commands act on: the open one, else the selected card. */
function targetTask() {
  return store.task(route.value.taskId || selectedTask.value);
}

function setStatus(taskId: string, status: TaskStatus): void {
  const t = store.task(taskId);
  if (!t || t.status === status) return;
  const last = store.column(status).at(-1);
  store.moveTask(taskId, status, last?.id ?? "", "");
}

function taskPickers(list: Action[]): void {
  const t = targetTask();
  if (!t || store.readOnly) return;
  list.push({
    name: "Set status…",
    hint: t.key,
    run: () => {},
    pick: () =>
      STATUSES.map((s) => ({
        name: s.name,
        hint: s.id === t.status ? "current" : undefined,
        run: () => setStatus(t.id, s.id),
      })),
  });
  list.push({
    name: "Assign to…",
    hint: t.key,
    run: () => {},
    pick: () => [
      { name: "Unassigned", hint: t.assigneeId === "" ? "current" : undefined, run: () => store.updateTask(t.id, { assigneeId: "" }) },
      ...assignable(store.members.values(), (id) => id === t.assigneeId).map((m) => ({
          name: m.displayName + (m.id === store.me?.id ? " (me)" : ""),
          hint: m.id === t.assigneeId ? "current" : undefined,
          run: () => store.updateTask(t.id, { assigneeId: m.id }),
        })),
    ],
  });
}

function actions(): Action[] {
  const list: Action[] = [];
  const pid = route.value.projectId;
  if (pid && !store.readOnly) {
    taskPickers(list);
    list.push({
      name: "New task",
      hint: "N",
      run: () => {
        if (route.value.view !== "board") go(pid, "", "board");
        quickAddStatus.value = TaskStatus.TODO;
      },
    });
    list.push({ name: "Undo my last change", hint: "Z", run: () => store.undo() });
  }
  if (pid) {
    list.push({ name: "Go to board", run: () => go(pid, "", "board") });
    list.push({ name: "Go to sprints", run: () => go(pid, "", "sprints") });
    list.push({ name: filters.value.mine ? "Show everyone's tasks" : "Only my tasks", run: () => (filters.value = { ...filters.value, mine: !filters.value.mine }) });
    for (const t of store.viewTasks().values()) {
      list.push({ name: `${t.key} ${t.title}`, hint: statusName(t.status), run: () => go(pid, t.id) });
      if (list.length > 400) break;
    }
  }
  list.push({ name: "All projects", run: () => go("") });
  for (const p of store.viewProjects()) list.push({ name: `Open ${p.name}`, hint: p.key, run: () => go(p.id) });
  return list;
}

function Palette() {
  const [q, setQ] = useState("");
  const [i, setI] = useState(0);
  const [sub, setSub] = useState<{ title: string; hint: string; items: Action[] } | null>(null);
  if (!paletteOpen.value) return null;
  const close = () => {
    paletteOpen.value = false;
    setQ("");
    setI(0);
    setSub(null);
  };
  const words = q.toLowerCase().split(/\s+/).filter(Boolean);
  const found = (sub ? sub.items : actions()).filter((a) => words.every((w) => a.name.toLowerCase().includes(w))).slice(0, 12);
  const run = (a?: Action) => {
    if (a?.pick) {
      setSub({ title: a.name, hint: a.hint ?? "", items: a.pick() });
      setQ("");
      setI(0);
      return;
    }
    close();
    a?.run();
  };
  return (
    <div class="modal-backdrop top" onClick={close}>
      <div class="palette" role="dialog" aria-label="Command palette" onClick={(e) => e.stopPropagation()}>
        {sub && (
          <h2 class="palette-title" id="palette-picker-title">
            {sub.title.replace(/…$/, "")}
            {sub.hint && <span class="muted"> {sub.hint}</span>}
            <span class="hint">Backspace to go back</span>
          </h2>
        )}
        <input
          ref={focusOnMount}
          placeholder={sub ? "Type to filter…" : "Type a command or search tasks…"}
          aria-label={sub ? `${sub.title} ${sub.hint}`.trim() : "Command"}
          value={q}
          onInput={(e) => {
            setQ((e.target as HTMLInputElement).value);
            setI(0);
          }}
          onKeyDown={(e) => {
            if (e.key === "Escape") close();
            else if (e.key === "Backspace" && sub && q === "") {
              setSub(null);
              setI(0);
            }
            else if (e.key === "ArrowDown") setI(Math.min(i + 1, found.length - 1));
            else if (e.key === "ArrowUp") setI(Math.max(i - 1, 0));
            else if (e.key === "Enter") run(found[i]);
          }}
        />
        <ul>
          {found.map((a, n) => (
            <li key={a.name + n} class={n === i ? "active" : ""} onMouseEnter={() => setI(n)} onClick={() => run(a)}>
              {a.name}
              {a.hint && <span class="hint">{a.hint}</span>}
            </li>
          ))}
        </ul>
      </div>
    </div>
  );
}

function typingTarget(e: KeyboardEvent): boolean {
  const el = e.target as HTMLElement | null;
  return !!el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
}

function onKey(e: KeyboardEvent): void {
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") {
    e.preventDefault();
    paletteOpen.value = !paletteOpen.value;
    return;
  }
  if (typingTarget(e) || e.ctrlKey || e.metaKey || e.altKey || paletteOpen.value) return;
  const pid = route.value.projectId;
  if (!pid) return;
  // A viewer moves around the board but has no shortcuts that change it.
  if (store.readOnly && "nsaz".includes(e.key)) return;
  // Selection keys act on the board's cards; elsewhere they would change what is not on screen.
  if (route.value.view !== "board" && "jksa".includes(e.key)) return;
  const order = visibleOrder();
  const cur = order.findIndex((t) => t.id === selectedTask.value);
  const sel = cur >= 0 ? order[cur] : undefined;
  switch (e.key) {
    case "n":
      e.preventDefault();
      if (route.value.view !== "board") go(pid, "", "board");
      quickAddStatus.value = TaskStatus.TODO;
      break;
    case "j":
    case "k": {
      const next = order[Math.max(0, Math.min(order.length - 1, cur + (e.key === "j" ? 1 : -1)))];
      if (next) selectedTask.value = next.id;
      const el = document.querySelector<HTMLElement>(`.card[data-task-id="${next?.id}"]`);
      el?.scrollIntoView({ block: "nearest" });
      // The keyboard focus follows the selection when it is on a card.
      if (el && (document.activeElement as HTMLElement | null)?.classList.contains("card")) el.focus();
      break;
    }
    case "Enter":
      if (sel) go(pid, sel.id);
      break;
    case "Escape": {
      const open = route.value.taskId;
      if (!open) break;
      go(pid);
      // Back to the card the panel was opened from, so the keyboard carries on where it was.
      setTimeout(() => {
        const lost = !document.activeElement || document.activeElement === document.body;
        if (lost) document.querySelector<HTMLElement>(`.card[data-task-id="${open}"]`)?.focus();
      }, 0);
      break;
    }
    case "s":
      if (sel) {
        const i = STATUSES.findIndex((s) => s.id === sel.status);
        const status = STATUSES[(i + 1) % STATUSES.length].id;
        const last = store.column(status).at(-1);
        store.moveTask(sel.id, status, last?.id ?? "", "");
      }
      break;
    case "a":
      if (sel && store.me) store.updateTask(sel.id, { assigneeId: sel.assigneeId === store.me.id ? "" : store.me.id });
      break;
    case "z":
      store.undo();
      break;
  }
}

export function App() {
  const r = route.value;
  useEffect(() => {
    document.addEventListener("keydown", onKey);
    void learnIdentity();
    return () => document.removeEventListener("keydown", onKey);
  }, []);
  useEffect(() => {
    if (!displayName.value) return;
    const conn = connection();
    conn.setProject(r.projectId);
    if (conn.state === "connecting") conn.start();
  }, [r.projectId, displayName.value]);
  useEffect(() => {
    if (r.taskId) selectedTask.value = r.taskId;
  }, [r.taskId]);
  if (!displayName.value) return identity.value === "ask" ? <FirstRun /> : <div class="loading">Loading…</div>;
  const here = othersWhere(() => true);
  const project = store.project;
  return (
    <div class={`app${r.taskId ? " with-panel" : ""}`}>
      <header class="top">
        <a class="brand" href="#/">
          <span class="logo">◧</span> Tandem
        </a>
        {r.projectId && (
          <>
            <span class="crumb">/</span>
            <span class="project-title">{project?.name ?? ""}</span>
            <nav class="tabs" aria-label="View">
              <a href={`#/p/${r.projectId}`} class={r.view === "board" ? "on" : ""} aria-current={r.view === "board" ? "page" : undefined}>
                Board
              </a>
              <a href={`#/p/${r.projectId}/sprints`} class={r.view === "sprints" ? "on" : ""} aria-current={r.view === "sprints" ? "page" : undefined}>
                Sprints
              </a>
            </nav>
          </>
        )}
        <span class="spacer" />
        <span class="avatars" data-testid="presence">
          {here.map((p) => (
            <Avatar key={p.connectionId} member={p.member} ring />
          ))}
        </span>
        <button class="palette-btn" onClick={() => (paletteOpen.value = true)} title="Command palette (Ctrl+K)">
          <span aria-hidden="true">⌘K</span>
          <span class="sr-only">Command palette</span>
        </button>
        {store.readOnly && (
          <span class="view-only" data-testid="view-only" title="You were invited to look: changes are not available">
            View only
          </span>
        )}
        <Indicator />
        <Avatar member={store.me ?? { displayName: displayName.value, color: "" }} />
      </header>
      <div class="main">
        {!r.projectId ? <Projects /> : store.missingProject === r.projectId ? <ProjectNotFound /> : r.view === "sprints" ? <SprintsView /> : <Board />}
        {r.projectId && r.taskId && <TaskPanel taskId={r.taskId} />}
      </div>
      <Notices />
      <ConflictDialog />
      {connState.value === "ended" && <AccessEnded />}
      <Palette />
    </div>
  );
}
