/**
 * The project's workflow on the board: which columns show, the "Columns" editor (rename, reorder,
 * hide, add, remove, change a column's status category) and the strip that lists hidden columns.
 * Every column belongs to one of the five status categories, so sprints and reports keep counting
 * by status whatever the columns are called.
 */
import { signal } from "@preact/signals";
import { useRef, useState } from "preact/hooks";
import { create, WorkflowColumnSchema, type Task, type TaskStatus, type WorkflowColumn } from "../proto";
import { quickAddStatus, store } from "../app-context";
import { firstOf, missingCategories, placed as placedIn } from "../state/workflow";
import { focusOnMount, STATUSES, statusName } from "./common";
import "./workflow.css";

/** The column whose quick add is open ("" for the first shown column of quickAddStatus). */
export const quickAddColumn = signal("");

export function visibleColumns(): WorkflowColumn[] {
  return store.columns().filter((c) => !c.hidden);
}

export function showsQuickAdd(column: WorkflowColumn): boolean {
  if (quickAddStatus.value !== column.category) return false;
  if (quickAddColumn.value) return quickAddColumn.value === column.id;
  return visibleColumns().find((c) => c.category === column.category)?.id === column.id;
}

/** The shown column after the task's own (the first after the last): where "s" moves it. */
export function nextColumn(task: Task): WorkflowColumn | undefined {
  const shown = visibleColumns();
  const i = shown.findIndex((c) => c.id === placedIn(store.columns(), task));
  return shown[(i + 1) % shown.length];
}

const editorOpen = signal(false);

/** A column's name in its header: double-click to rename it in place. Not a tab stop: the
 * keyboard renames columns in the Columns editor, and Tab goes from card to card. */
export function ColumnName({ column }: { column: WorkflowColumn }) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(column.name);
  // Enter saves and closes the field; the blur that may follow must not save again.
  const saved = useRef(false);
  const canEdit = !store.readOnly && !!store.project;
  const start = () => {
    saved.current = false;
    setName(column.name);
    setEditing(true);
  };
  if (!editing) {
    return (
      <span
        class="column-name"
        title={canEdit ? "Double-click to rename (or use Columns)" : undefined}
        onDblClick={() => canEdit && start()}
      >
        {column.name}
      </span>
    );
  }
  const save = () => {
    if (saved.current) return;
    saved.current = true;
    setEditing(false);
    const next = name.trim();
    const columns = store.columns();
    const taken = columns.some((c) => c.id !== column.id && c.name.toLowerCase() === next.toLowerCase());
    if (!next || next === column.name || next.length > 60) return;
    if (taken) return void store.tell(`A column is already called “${next}”.`);
    store.updateWorkflow(columns.map((c) => (c.id === column.id ? { ...c, name: next } : c)));
  };
  return (
    <input
      class="column-rename"
      ref={focusOnMount}
      aria-label={`Rename column ${column.name}`}
      value={name}
      maxLength={60}
      onInput={(e) => setName((e.target as HTMLInputElement).value)}
      onKeyDown={(e) => {
        if (e.key === "Enter") save();
        if (e.key === "Escape") {
          saved.current = true;
          setEditing(false);
        }
      }}
      onBlur={save}
    />
  );
}

export function WorkflowButton() {
  if (store.readOnly || !store.project) return null;
  return (
    <>
      <button type="button" class="workflow-button" data-testid="edit-columns" onClick={() => (editorOpen.value = true)}>
        Columns
      </button>
      {editorOpen.value && <WorkflowEditor onClose={() => (editorOpen.value = false)} />}
    </>
  );
}

/** Hidden columns with tasks in them, named at the board's end so their tasks are not lost. */
export function HiddenColumns({ filter }: { filter?: (t: Task) => boolean }) {
  const hidden = store.columns().filter((c) => c.hidden);
  if (hidden.length === 0) return null;
  return (
    <aside class="hidden-columns" aria-label="Hidden columns" data-testid="hidden-columns">
      <span class="hidden-title">Hidden</span>
      {hidden.map((c) => (
        <span key={c.id} class="hidden-column">
          {c.name} <span class="count">{store.columnTasks(c.id, filter).length}</span>
        </span>
      ))}
    </aside>
  );
}

interface Draft {
  key: string;
  id: string;
  name: string;
  category: TaskStatus;
  hidden: boolean;
}

let drafted = 0;
const toDraft = (c: WorkflowColumn): Draft => ({ key: `k${drafted++}`, id: c.id, name: c.name, category: c.category, hidden: c.hidden });

function WorkflowEditor({ onClose }: { onClose: () => void }) {
  const [rows, setRows] = useState<Draft[]>(() => store.columns().map(toDraft));
  const set = (i: number, patch: Partial<Draft>) => setRows(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const move = (i: number, by: number) => {
    const next = [...rows];
    [next[i], next[i + by]] = [next[i + by], next[i]];
    setRows(next);
  };
  const columns = rows.map((r) => create(WorkflowColumnSchema, { id: r.id, name: r.name.trim(), category: r.category, hidden: r.hidden }));
  const missing = missingCategories(columns);
  const names = columns.map((c) => c.name.toLowerCase());
  const duplicate = names.find((n, i) => n && names.indexOf(n) !== i);
  const empty = columns.some((c) => !c.name);
  const problem = empty
    ? "Every column needs a name."
    : duplicate
      ? `Two columns are called “${duplicate}”.`
      : missing.length
        ? `Every status needs a column; none is ${missing.map(statusName).join(", ")}.`
        : "";
  const count = (id: string) => (id ? store.columnTasks(id).length : 0);
  return (
    <div class="modal-backdrop" role="dialog" aria-modal="true" aria-labelledby="workflow-title" data-testid="workflow-editor">
      <form
        class="modal wide workflow-editor"
        onSubmit={(e) => {
          e.preventDefault();
          if (problem) return;
          store.updateWorkflow(columns);
          onClose();
        }}
        onKeyDown={(e) => e.key === "Escape" && onClose()}
      >
        <h2 id="workflow-title">Columns</h2>
        <p class="muted small-text">
          Each column counts as one status in sprints and reports. Moving a column to another status moves its tasks with it.
        </p>
        <ol class="workflow-rows">
          {rows.map((r, i) => (
            <li key={r.key} class="workflow-row" data-testid="workflow-row">
              <input
                ref={i === 0 ? focusOnMount : undefined}
                aria-label={`Name of column ${i + 1}`}
                value={r.name}
                maxLength={60}
                onInput={(e) => set(i, { name: (e.target as HTMLInputElement).value })}
              />
              <select
                aria-label={`Status of ${r.name || `column ${i + 1}`}`}
                value={r.category}
                onChange={(e) => set(i, { category: Number((e.target as HTMLSelectElement).value) as TaskStatus })}
              >
                {STATUSES.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.name}
                  </option>
                ))}
              </select>
              <label class="toggle">
                <input
                  type="checkbox"
                  aria-label={`Hide ${r.name || `column ${i + 1}`}`}
                  checked={r.hidden}
                  onChange={(e) => set(i, { hidden: (e.target as HTMLInputElement).checked })}
                />
                Hide
              </label>
              <span class="workflow-tools">
                <button type="button" class="icon" aria-label={`Move ${r.name || "column"} up`} disabled={i === 0} onClick={() => move(i, -1)}>
                  ↑
                </button>
                <button type="button" class="icon" aria-label={`Move ${r.name || "column"} down`} disabled={i === rows.length - 1} onClick={() => move(i, 1)}>
                  ↓
                </button>
                <button
                  type="button"
                  class="icon"
                  aria-label={`Remove ${r.name || "column"}`}
                  title={count(r.id) ? `Its ${count(r.id)} tasks go to the first column of their status` : "Remove"}
                  onClick={() => setRows(rows.filter((_, j) => j !== i))}
                >
                  ×
                </button>
              </span>
            </li>
          ))}
        </ol>
        <button
          type="button"
          data-testid="add-column"
          onClick={() => setRows([...rows, { key: `k${drafted++}`, id: "", name: "", category: rows.at(-1)?.category ?? STATUSES[1].id, hidden: false }])}
        >
          Add column
        </button>
        <p class="danger small-text" role="status">
          {problem}
        </p>
        <div class="row end">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button class="primary" type="submit" disabled={!!problem}>
            Save columns
          </button>
        </div>
      </form>
    </div>
  );
}

/** The task panel's "Status": the board's columns, each under its status; choosing one moves the
 * task to the end of that column. The first column of each status has the status as its value
 * (as the select had before workflows), any other "column:" and its id. */
export function ColumnSelect({ task, disabled }: { task: Task; disabled: boolean }) {
  const columns = store.columns();
  const valueOf = (c: WorkflowColumn) => (firstOf(columns, c.category) === c.id ? String(c.category) : `column:${c.id}`);
  const current = columns.find((c) => c.id === placedIn(columns, task));
  return (
    <select
      aria-label="Status"
      disabled={disabled}
      value={current ? valueOf(current) : String(task.status)}
      onChange={(e) => {
        const value = (e.target as HTMLSelectElement).value;
        const col = columns.find((c) => valueOf(c) === value);
        if (!col) return;
        const last = store.columnTasks(col.id).filter((t) => t.id !== task.id).at(-1);
        store.moveTask(task.id, col.category, last?.id ?? "", "", col.id);
      }}
    >
      {columns.map((c) => (
        <option key={c.id} value={valueOf(c)}>
          {c.name}
          {c.hidden ? " (hidden)" : ""}
        </option>
      ))}
    </select>
  );
}
