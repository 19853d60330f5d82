/** The page frame: header with presence and the connection indicator, first-run name prompt,
 * notices (with their undo buttons) and the command palette; it mounts the conflict dialog
 * (conflict.tsx) and the keyboard shortcuts (keyboard.tsx). */
import { useEffect, useLayoutEffect, useState } from "preact/hooks";
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
import { Board } from "./board";
import { LabelsPage } from "./labels";
import { ListView } from "./list";
import { searchHref, SearchPageView } from "./search";
import { SettingsPage } from "./settings";
import { Avatar, othersWhere, STATUSES, statusName, focusOnMount } from "./common";
import { NOTICE_MS } from "../state/store";
import { ConflictDialog } from "./conflict";
import { CheatSheet, keysOf, onKey } from "./keyboard";
import { Me } from "./name";
import { MOD, PALETTE_KEYS, PALETTE_KEYS_TITLE } from "./platform";
import { Projects } from "./projects";
import { Diagnostics } from "./diagnostics";
import { SprintsView } from "./sprints";
import { TaskPanel } from "./task";
import { ArchiveView, KeptTabs, TrashView } from "./trash";
import { ProjectNotFound } from "./guidance";
import { assignable } from "./people";
import { InboxButton, InboxPanel, inboxOpen } from "./inbox";

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
      <span class="conn-text">{STATE_TEXT[s]}</span>
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
    const t = setTimeout(() => store.dismissNotice(id), NOTICE_MS);
    return () => clearTimeout(t);
  }, [store.notices[0]?.id]);
  return (
    <div class="notices" aria-live="assertive">
      {store.notices.map((n) => (
        <div class="notice" key={n.id} data-testid="notice">
          {n.text}
          {n.action && (
            <button
              class="notice-action"
              onClick={() => {
                // Used once: the notice goes, and what it did says so itself.
                store.dismissNotice(n.id);
                n.action?.run();
              }}
            >
              {n.action.label}
            </button>
          )}
          <button class="icon" aria-label="Dismiss" onClick={() => store.dismissNotice(n.id)}>×</button>
        </div>
      ))}
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
      hint: keysOf("new-task"),
      run: () => {
        if (route.value.view !== "board") go(pid, "", "board");
        quickAddStatus.value = TaskStatus.TODO;
      },
    });
    list.push({ name: "Undo my last change", hint: keysOf("undo"), run: () => store.undo() });
    list.push({ name: "Redo what I undid", hint: keysOf("redo"), run: () => store.redo() });
  }
  if (pid) {
    list.push({ name: "Go to board", run: () => go(pid, "", "board") });
    list.push({ name: "Go to list", run: () => go(pid, "", "list") });
    list.push({ name: "Go to sprints", run: () => go(pid, "", "sprints") });
    list.push({ name: "Go to archive", run: () => go(pid, "", "archive") });
    list.push({ name: "Go to trash", run: () => go(pid, "", "trash") });
    list.push({ name: "Manage labels", hint: "colours, rename, merge", run: () => go(pid, "", "labels") });
    list.push({ name: filters.value.mine ? "Show everyone's tasks" : "Only my tasks", run: () => (filters.value = { ...filters.value, mine: !filters.value.mine }) });
    for (const t of store.viewTasks().values()) {
      list.push({ name: `${t.key} ${t.title}`, hint: statusName(t.status), run: () => go(pid, t.id) });
      if (list.length > 400) break;
    }
  }
  list.push({ name: "Open inbox", hint: store.inbox.unread.value ? `${store.inbox.unread.value} unread` : undefined, run: () => (inboxOpen.value = true) });
  list.push({ name: "All projects", run: () => go("") });
  list.push({ name: "Diagnostics", hint: "this computer", run: () => (location.hash = "#/diagnostics") });
  list.push({ name: "Settings", hint: "theme, default view, name", run: () => (location.hash = "#/settings") });
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
  // Words typed can always be looked for in every project's titles, descriptions and comments:
  // Ctrl/Cmd+Enter, or Enter when nothing here matches.
  const everywhere = !sub && q.trim() ? () => { close(); location.hash = searchHref(q.trim()); } : null;
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
            else if (e.key === "Enter" && everywhere && (e.ctrlKey || e.metaKey || found.length === 0)) everywhere();
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
        {everywhere && (
          <button class="palette-everywhere" data-testid="palette-search-everywhere" onClick={everywhere}>
            Search everywhere for “{q.trim()}”<span class="hint">{found.length ? `${MOD}+Enter` : "Enter"}</span>
          </button>
        )}
      </div>
    </div>
  );
}

export function App() {
  const r = route.value;
  useEffect(() => {
    document.addEventListener("keydown", onKey);
    void learnIdentity();
    return () => {
      document.removeEventListener("keydown", onKey);
    };
  }, []);
  useEffect(() => {
    if (!displayName.value) return;
    const conn = connection();
    conn.setProject(r.projectId);
    if (conn.state === "connecting") conn.start();
  }, [r.projectId, displayName.value]);
  // Chosen as the panel opens, not after the next frame: a key pressed before then (Esc, then
  // j) would have its selection taken back.
  useLayoutEffect(() => {
    if (r.taskId) selectedTask.value = r.taskId;
  }, [r.taskId]);
  if (!displayName.value) return identity.value === "ask" ? <FirstRun /> : <div class="loading">Loading…</div>;
  const here = othersWhere(() => true);
  const project = store.project;
  return (
    <div class={`app${r.taskId ? " with-panel" : ""}`}>
      <header class="top">
        <a class="brand" href="#/">
          <span class="logo" aria-hidden="true">◧</span> <span class="brand-name">Tandem</span>
        </a>
        {r.projectId && (
          <>
            <span class="crumb">/</span>
            <span class="project-title">{project?.name ?? ""}</span>
            <nav class="tabs" aria-label="View">
              <a href={`#/p/${r.projectId}`} class={r.view === "board" ? "on" : ""} aria-current={r.view === "board" ? "page" : undefined}>
                Board
              </a>
              <a href={`#/p/${r.projectId}/list`} class={r.view === "list" ? "on" : ""} aria-current={r.view === "list" ? "page" : undefined}>
                List
              </a>
              <a href={`#/p/${r.projectId}/sprints`} class={r.view === "sprints" ? "on" : ""} aria-current={r.view === "sprints" ? "page" : undefined}>
                Sprints
              </a>
              <KeptTabs projectId={r.projectId} view={r.view} />
            </nav>
          </>
        )}
        <span class="spacer" />
        <a class="header-link" href="#/search" aria-current={r.page === "search" ? "page" : undefined}>Search</a>
        <a class="header-link" href="#/settings" aria-current={r.page === "settings" ? "page" : undefined}>Settings</a>
        <span class="avatars" data-testid="presence">
          {here.map((p) => (
            <Avatar key={p.connectionId} member={p.member} ring />
          ))}
        </span>
        <button class="palette-btn" onClick={() => (paletteOpen.value = true)} title={`Command palette (${PALETTE_KEYS_TITLE})`}>
          <span aria-hidden="true">{PALETTE_KEYS}</span>
          <span class="sr-only">Command palette</span>
        </button>
        {store.readOnly && (
          <span class="view-only" data-testid="view-only" title="You were invited to look: changes are not available">
            View only
          </span>
        )}
        <InboxButton />
        <Indicator />
        <Me />
      </header>
      <div class="main">
        {r.page === "diagnostics" ? <Diagnostics /> : r.page === "search" ? <SearchPageView /> : r.page === "settings" ? <SettingsPage /> : !r.projectId ? <Projects /> : store.missingProject === r.projectId ? <ProjectNotFound /> : r.view === "sprints" ? <SprintsView /> : r.view === "list" ? <ListView /> : r.view === "labels" ? <LabelsPage /> : r.view === "archive" ? <ArchiveView /> : r.view === "trash" ? <TrashView /> : <Board />}
        {r.projectId && r.taskId && <TaskPanel taskId={r.taskId} />}
      </div>
      <Notices />
      <ConflictDialog />
      <CheatSheet />
      {connState.value === "ended" && <AccessEnded />}
      <Palette />
      <InboxPanel />
    </div>
  );
}
