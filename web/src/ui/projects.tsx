/** The projects page: list, create (name and key), rename, delete with confirmation; the empty state. */
import { signal } from "@preact/signals";
import { useEffect, useState } from "preact/hooks";
import { connection, go, store } from "../app-context";
import { focusOnMount } from "./common";
import { TransferButtons } from "./transfer";
import { DeletedProjects } from "./trash";

const PROJECTS_POLL_MS = 3000;

function suggestKey(name: string): string {
  const words = name.toUpperCase().replace(/[^A-Z0-9 ]/g, "").split(/\s+/).filter(Boolean);
  const k = words.length > 1 ? words.map((w) => w[0]).join("") : (words[0] ?? "").slice(0, 4);
  return k.slice(0, 6);
}

function CreateProject({ first }: { first: boolean }) {
  const [name, setName] = useState("");
  const [key, setKey] = useState("");
  const [touched, setTouched] = useState(false);
  const k = touched ? key : suggestKey(name);
  return (
    <form
      class="create-project"
      onSubmit={(e) => {
        e.preventDefault();
        if (!name.trim() || !k) return;
        opening.value = store.createProject(name.trim(), k).id;
        setName("");
        setKey("");
        setTouched(false);
      }}
    >
      {first && <h2>Create your first project</h2>}
      <input placeholder="Project name" aria-label="Project name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
      <input
        class="key-input"
        placeholder="KEY"
        aria-label="Project key"
        value={k}
        maxLength={10}
        onInput={(e) => {
          setTouched(true);
          setKey((e.target as HTMLInputElement).value.toUpperCase().replace(/[^A-Z0-9]/g, ""));
        }}
      />
      <button class="primary" type="submit" disabled={!name.trim() || !k}>
        Create project
      </button>
    </form>
  );
}

/** The project just made here: its board opens once the server has it (a subscription before
 * then would find no project). Outside the form, which the first project replaces. */
const opening = signal("");

export function Projects() {
  const made = opening.value ? store.projects.get(opening.value) : undefined;
  useEffect(() => {
    if (!made) return;
    opening.value = "";
    go(made.id, "", "board");
  }, [made?.id]);
  const [renaming, setRenaming] = useState("");
  const [draft, setDraft] = useState("");
  const [confirmDelete, setConfirmDelete] = useState("");
  useEffect(() => {
    // The list has no subscription of its own: while it is on screen it is polled, so projects
    // others create, rename or delete show up within seconds; a hidden tab does not poll.
    let busy = false;
    const load = () => {
      if (busy || document.visibilityState === "hidden") return;
      busy = true;
      connection()
        .listProjects()
        .then((l) => store.setProjects(l), () => {})
        .finally(() => (busy = false));
    };
    load();
    const t = setInterval(load, PROJECTS_POLL_MS);
    document.addEventListener("visibilitychange", load);
    return () => {
      clearInterval(t);
      document.removeEventListener("visibilitychange", load);
    };
  }, []);
  const projects = store.viewProjects();
  const doomed = projects.find((p) => p.id === confirmDelete);
  return (
    <main class="projects">
      {projects.length === 0 ? (
        <div class="empty-state">
          <div class="empty-art">▦</div>
          <p class="muted">A board for your team's work, live for everyone who opens it.</p>
          {store.readOnly ? <p class="muted">Nothing has been shared with you yet.</p> : <CreateProject first />}
          {!store.readOnly && <TransferButtons />}
        </div>
      ) : (
        <>
          <div class="projects-head">
            <h1>Projects</h1>
            <TransferButtons />
          </div>
          <ul class="project-list">
            {projects.map((p) => (
              <li key={p.id} data-testid="project">
                <span class="key">{p.key}</span>
                {renaming === p.id ? (
                  <form
                    onSubmit={(e) => {
                      e.preventDefault();
                      if (draft.trim() && draft.trim() !== p.name) store.renameProject(p.id, draft.trim());
                      setRenaming("");
                    }}
                  >
                    <input ref={focusOnMount} aria-label="Project name" value={draft} onInput={(e) => setDraft((e.target as HTMLInputElement).value)} onBlur={() => setRenaming("")} />
                  </form>
                ) : (
                  <a href={`#/p/${p.id}`} class="project-name">
                    {p.name}
                  </a>
                )}
                <span class="spacer" />
                {!store.readOnly && (
                  <>
                    <button class="link" onClick={() => { setRenaming(p.id); setDraft(p.name); }}>Rename</button>
                    <button class="link danger" onClick={() => setConfirmDelete(p.id)}>Delete</button>
                  </>
                )}
              </li>
            ))}
          </ul>
          {!store.readOnly && <CreateProject first={false} />}
        </>
      )}
      <DeletedProjects />
      {doomed && (
        <div class="modal-backdrop" role="dialog" aria-modal="true" aria-label="Delete project">
          <div class="modal">
            <h2>Delete {doomed.name}?</h2>
            <p>It leaves the list for everyone, with all its tasks, comments and sprints. It waits in the trash for 30 days: restore it from “Recently deleted” below.</p>
            <div class="row end">
              <button onClick={() => setConfirmDelete("")}>Cancel</button>
              <button class="danger-btn" onClick={() => { store.deleteProject(doomed.id); setConfirmDelete(""); }}>
                Delete project
              </button>
            </div>
          </div>
        </div>
      )}
    </main>
  );
}

export { go };
