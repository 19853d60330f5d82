/** What the page says when there is nothing to show: a project that does not exist, a board not
 * loaded because the server cannot be reached, a board with no tasks yet, filters that match
 * nothing. Each says why and offers the next step. */
import { connState, filters, store } from "../app-context";
import { emptyFilters, filtersActive } from "../filters";

export function ProjectNotFound() {
  return (
    <main class="projects empty-state" data-testid="project-not-found">
      <div class="empty-art" aria-hidden="true">
        ?
      </div>
      <h1>Project not found</h1>
      <p class="muted">This link names no project here: it may have been deleted, or the address is mistyped.</p>
      <a class="button primary" href="#/">
        All projects
      </a>
    </main>
  );
}

/** Above the columns, while the board is empty or the filters hide every task; else nothing. */
export function BoardGuidance({ shown }: { shown: number }) {
  if (shown > 0) return null;
  if (filtersActive(filters.value)) {
    return (
      <p class="board-guidance" role="status" data-testid="no-matches">
        No tasks match these filters.{" "}
        <button class="link" onClick={() => (filters.value = emptyFilters())}>
          Clear filters
        </button>
      </p>
    );
  }
  return (
    <p class="board-guidance" role="status" data-testid="empty-board">
      {store.readOnly ? (
        "This board has no tasks yet."
      ) : (
        <>
          This board has no tasks yet. Press <kbd>N</kbd> or a column's <b>+</b> to add the first one.
        </>
      )}
    </p>
  );
}

/** Instead of "Loading the board…" while the server cannot be reached (a reload with it down). */
export function BoardWaiting({ what }: { what: string }) {
  const s = connState.value;
  if (s !== "reconnecting" && s !== "offline") return <div class="loading">Loading the {what}…</div>;
  const unsent = store.outbox.size;
  return (
    <div class="loading" role="status" data-testid="board-unreachable">
      <p>Can't reach Tandem right now; the {what} shows once it is back.</p>
      {unsent > 0 && (
        <p class="muted">
          {unsent === 1 ? "1 change" : `${unsent} changes`} made here {unsent === 1 ? "is" : "are"} kept in this browser and will be sent then.
        </p>
      )}
    </div>
  );
}
