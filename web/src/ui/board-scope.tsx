/**
 * What the board shows: the active sprint's work by default, when a sprint is running, with a
 * switch to all work. A sprint chosen in the filters wins over both; with no sprint running the
 * board shows all work and the switch is not offered.
 */
import { signal } from "@preact/signals";
import { SprintState, type Sprint, type Task } from "../proto";
import { filters, store } from "../app-context";

/** This page's choice; "sprint" unless the person asked for all work. */
export const boardScope = signal<"sprint" | "all">("sprint");

/** The sprint the board is narrowed to, or undefined when it shows all work. */
export function scopedSprint(): Sprint | undefined {
  if (boardScope.value === "all" || filters.value.sprint.length > 0) return undefined;
  return store.viewSprints().find((s) => s.state === SprintState.ACTIVE);
}

/** The board's filter narrowed to the active sprint when the board shows it. */
export function withBoardScope(filter: ((t: Task) => boolean) | undefined): ((t: Task) => boolean) | undefined {
  const sprint = scopedSprint();
  if (!sprint) return filter;
  return (t) => t.sprintId === sprint.id && (!filter || filter(t));
}

export function BoardScopeSwitch() {
  const active = store.viewSprints().find((s) => s.state === SprintState.ACTIVE);
  if (!active || filters.value.sprint.length > 0) return null;
  const showing = boardScope.value;
  return (
    <span class="board-scope" role="group" aria-label="Show on the board" data-testid="board-scope">
      <button type="button" aria-pressed={showing === "sprint"} onClick={() => (boardScope.value = "sprint")}>
        {active.name}
      </button>
      <button type="button" aria-pressed={showing === "all"} onClick={() => (boardScope.value = "all")}>
        All work
      </button>
    </span>
  );
}
