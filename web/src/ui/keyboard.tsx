/**
 * The board's keyboard shortcuts, declared once: the table below both handles a key press and
 * lists the shortcuts in the cheat sheet that `?` opens, so the two cannot disagree.
 */
import { signal } from "@preact/signals";
import { TaskStatus } from "../proto";
import { APPLE as MAC, MOD } from "./platform";
import { go, paletteOpen, quickAddStatus, route, selectedTask, store } from "../app-context";
import { visibleOrder } from "./board";
import { listOrder, toggleSelectedRow } from "./list";
import { focusOnMount } from "./common";
import { nextColumn } from "./workflow";

export const cheatSheetOpen = signal(false);


interface Shortcut {
  /** What other parts of the page call it by (the palette shows its keys as a hint). */
  id: string;
  /** How the keys are shown: each entry one way to press it, as key caps joined by "+". */
  keys: string[];
  what: string;
  matches: (e: KeyboardEvent) => boolean;
  /** Works while typing in a field (only chords with Ctrl/Cmd do). */
  inFields?: boolean;
  /** Changes the board: not offered to a viewer. */
  edits?: boolean;
  /** Acts on the board's cards or the list's rows: only on those views. */
  onBoard?: boolean;
  /** Acts on the list's rows only. */
  onList?: boolean;
  run: (e: KeyboardEvent) => void;
}

const mod = (e: KeyboardEvent) => e.ctrlKey || e.metaKey;
const plain = (key: string) => (e: KeyboardEvent) => e.key === key && !mod(e) && !e.altKey;

function selected() {
  const order = route.value.view === "list" ? listOrder() : visibleOrder();
  const cur = order.findIndex((t) => t.id === selectedTask.value);
  return { order, cur, sel: cur >= 0 ? order[cur] : undefined };
}

/** Nothing has the keyboard focus (it went with an element that closed). */
function focusLost(): boolean {
  return !document.activeElement || document.activeElement === document.body;
}

function step(by: number): void {
  const { order, cur } = selected();
  const next = order[Math.max(0, Math.min(order.length - 1, cur + by))];
  if (next) selectedTask.value = next.id;
  const el = document.querySelector<HTMLElement>(`.card[data-task-id="${next?.id}"], .row-task[data-task-id="${next?.id}"]`);
  el?.scrollIntoView({ block: "nearest" });
  // The keyboard focus follows the selection when it is on a card (or a row's title), or
  // nowhere (the panel just closed): a card focused later would take the selection back.
  const on = document.activeElement as HTMLElement | null;
  if (el?.classList.contains("card") && (focusLost() || on?.classList.contains("card"))) el.focus();
  if (el && on?.closest(".row-task")) el.querySelector<HTMLElement>(".title-cell a")?.focus();
}

export const SHORTCUTS: Shortcut[] = [
  {
    keys: [`${MOD}+K`],
    id: "palette",
    what: "Open the command palette",
    matches: (e) => mod(e) && e.key.toLowerCase() === "k",
    inFields: true,
    run: () => (paletteOpen.value = !paletteOpen.value),
  },
  {
    keys: ["N"],
    id: "new-task",
    what: "New task",
    matches: plain("n"),
    edits: true,
    run: () => {
      if (route.value.view !== "board") go(route.value.projectId, "", "board");
      quickAddStatus.value = TaskStatus.TODO;
    },
  },
  { keys: ["J"], id: "next", what: "Select the next card", matches: plain("j"), onBoard: true, run: () => step(1) },
  { keys: ["K"], id: "previous", what: "Select the previous card", matches: plain("k"), onBoard: true, run: () => step(-1) },
  {
    keys: ["X"],
    id: "select",
    what: "Select or unselect the row (list view), for changing many at once",
    matches: plain("x"),
    onList: true,
    run: () => toggleSelectedRow(),
  },
  {
    keys: ["Enter"],
    id: "open",
    what: "Open the selected card",
    matches: plain("Enter"),
    run: () => {
      const { sel } = selected();
      if (sel) go(route.value.projectId, sel.id);
    },
  },
  {
    keys: ["Esc"],
    id: "close",
    what: "Close the task panel",
    matches: plain("Escape"),
    run: () => {
      const open = route.value.taskId;
      if (!open) return;
      go(route.value.projectId);
      // Back to the card the panel was opened from, so the keyboard carries on where it was
      // (or to the one selected since: focusing a card selects it).
      setTimeout(() => {
        const back = selectedTask.value || open;
        if (focusLost()) document.querySelector<HTMLElement>(`.card[data-task-id="${back}"]`)?.focus();
      }, 0);
    },
  },
  {
    keys: ["S"],
    id: "status",
    what: "Move the selected card to the next status",
    matches: plain("s"),
    edits: true,
    onBoard: true,
    run: () => {
      const { sel } = selected();
      if (!sel) return;
      const next = nextColumn(sel);
      if (!next) return;
      const last = store.columnTasks(next.id).at(-1);
      store.moveTask(sel.id, next.category, last?.id ?? "", "", next.id);
    },
  },
  {
    keys: ["A"],
    id: "assign",
    what: "Assign the selected card to me (again: unassign)",
    matches: plain("a"),
    edits: true,
    onBoard: true,
    run: () => {
      const { sel } = selected();
      if (sel && store.me) store.updateTask(sel.id, { assigneeId: sel.assigneeId === store.me.id ? "" : store.me.id });
    },
  },
  {
    keys: [`${MOD}+Z`, "Z"],
    id: "undo",
    what: "Undo my last change",
    matches: (e) => e.key.toLowerCase() === "z" && !e.shiftKey && !e.altKey,
    edits: true,
    run: () => store.undo(),
  },
  {
    keys: [`${MOD}+Shift+Z`, ...(MAC ? [] : ["Ctrl+Y"])],
    id: "redo",
    what: "Redo what I undid",
    matches: (e) => mod(e) && ((e.shiftKey && e.key.toLowerCase() === "z") || (!MAC && !e.shiftKey && e.key.toLowerCase() === "y")),
    edits: true,
    run: () => store.redo(),
  },
  {
    keys: ["?"],
    id: "help",
    what: "Show these shortcuts",
    matches: (e) => e.key === "?" && !mod(e),
    run: () => (cheatSheetOpen.value = true),
  },
];

/** The first way to press a shortcut, for hints elsewhere ("Ctrl+Z"). */
export function keysOf(id: string): string | undefined {
  return SHORTCUTS.find((s) => s.id === id)?.keys[0];
}

function typingTarget(e: KeyboardEvent): boolean {
  const el = e.target as HTMLElement | null;
  return !!el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
}

export function onKey(e: KeyboardEvent): void {
  const s = SHORTCUTS.find((x) => x.matches(e));
  if (!s) return;
  if (s.inFields) {
    e.preventDefault();
    s.run(e);
    return;
  }
  // In a field, Ctrl+Z and the rest are the field's own (undoing typing), not the board's.
  if (typingTarget(e) || paletteOpen.value || cheatSheetOpen.value || e.altKey) return;
  if (!route.value.projectId) return;
  // A viewer moves around the board but has no shortcuts that change it.
  if (s.edits && store.readOnly) return;
  // Selection keys act on the board's cards; elsewhere they would change what is not on screen.
  if (s.onBoard && route.value.view === "sprints") return;
  if (s.onList && route.value.view !== "list") return;
  if (mod(e) || s.keys[0] !== "Enter") e.preventDefault();
  s.run(e);
}

/** The `?` dialog: every shortcut with its keys. */
export function CheatSheet() {
  if (!cheatSheetOpen.value) return null;
  const close = () => (cheatSheetOpen.value = false);
  return (
    <div class="modal-backdrop" onClick={close}>
      <div
        class="modal wide sheet"
        role="dialog"
        aria-modal="true"
        aria-labelledby="cheat-sheet-title"
        data-testid="cheat-sheet"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => {
          if (e.key !== "Escape" && e.key !== "?") return;
          // Not on to the page's own handler, where "?" would open the sheet again.
          e.preventDefault();
          e.stopPropagation();
          close();
        }}
      >
        <h2 id="cheat-sheet-title">Keyboard shortcuts</h2>
        <div class="sheet-body" role="group" tabIndex={0} aria-label="Shortcuts">
          <table class="shortcuts">
            <tbody>
              {SHORTCUTS.map((s) => (
                <tr key={s.id}>
                  <td>
                    {s.keys.map((k, i) => (
                      <span key={k}>
                        {i > 0 && <span class="muted"> or </span>}
                        {k.split("+").map((cap, j) => (
                          <span key={cap}>
                            {j > 0 && "+"}
                            <kbd>{cap}</kbd>
                          </span>
                        ))}
                      </span>
                    ))}
                  </td>
                  <td>{s.what}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div class="row end">
          <button ref={focusOnMount} onClick={close}>
            Close
          </button>
        </div>
      </div>
    </div>
  );
}
