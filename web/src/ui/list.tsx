/**
 * The list view: the project's tasks as rows beside the board, sortable by any column, drawn a
 * screenful at a time (virtual.ts), with a selection made by click, Ctrl/Cmd-click, Shift-click and
 * `x`, and a bar that edits or deletes every selected task as one change (one undo step).
 */
import { signal } from "@preact/signals";
import type { JSX } from "preact";
import { useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { filters, go, route, selectedTask, store } from "../app-context";
import { labelKey } from "../filters";
import { SprintState, TaskPriority, TaskStatus, type Task } from "../proto";
import type { TaskValues } from "../state/store";
import { byRank } from "../state/store";
import { Filters, taskFilter } from "./board";
import { Avatar, PRIORITIES, priorityOf, STATUSES, statusName } from "./common";
import { DueDate } from "./due";
import { BoardWaiting } from "./guidance";
import { LabelChip } from "./labels";
import { CHECK_REM, type ColumnKey, fitColumns, type ListColumn } from "./list-columns";
import { assignable } from "./people";
import { useVirtualizer } from "./virtual";
import "./list.css";

/** The most tasks one bulk edit may change (the server's MAX_BULK_TASKS). */
export const MAX_BULK = 1000;
const ROW_HEIGHT = 36;

type SortKey = "rank" | ColumnKey;

export const listSort = signal<{ key: SortKey; desc: boolean }>({ key: "rank", desc: false });
/** The selected rows' task ids. */
export const listSelection = signal<ReadonlySet<string>>(new Set());
/** Where a Shift-click range starts: the row clicked or toggled last. */
let anchor = "";

const memberName = (id: string) => (id ? (store.members.get(id)?.displayName ?? "") : "");
const sprintName = (id: string) => (id ? (store.sprint(id)?.name ?? "") : "");
const millis = (t: Task) => (t.updateTime ? Number(t.updateTime.seconds) * 1000 + t.updateTime.nanos / 1e6 : Infinity);
const keyNumber = (t: Task) => Number(t.key.slice(t.key.lastIndexOf("-") + 1)) || Infinity;

/** How each column sorts: a value compared, then board order. */
const SORT_VALUE: Record<ColumnKey, (t: Task) => string | number> = {
  key: keyNumber,
  title: (t) => t.title.toLowerCase(),
  status: (t) => t.status,
  // Most urgent first when sorted up: the order a person reads priorities in.
  priority: (t) => -t.priority,
  assignee: (t) => memberName(t.assigneeId).toLowerCase() || "\uffff",
  labels: (t) => t.labels.map(labelKey).sort().join(",") || "\uffff",
  sprint: (t) => sprintName(t.sprintId).toLowerCase() || "\uffff",
  points: (t) => t.storyPoints ?? Infinity,
  due: (t) => t.dueDate || "\uffff",
  updated: (t) => -millis(t),
};

/** When a task last changed, as short as a row has room for: "Dec 4", "Dec 4, 2025" (another year). */
function updatedShort(t: Task): string {
  const at = new Date(millis(t));
  const year = at.getFullYear() === new Date().getFullYear() ? undefined : "numeric";
  return at.toLocaleDateString(undefined, { month: "short", day: "numeric", year });
}

/** Each column's cell in a task's row. */
const CELL: Record<ColumnKey, (task: Task) => JSX.Element> = {
  key: (task) => <td class="key">{task.key || "…"}</td>,
  title: (task) => (
    <td class="title-cell">
      <a href={`#/p/${task.projectId}/list/t/${task.id}`} title={task.title} onFocus={() => (selectedTask.value = task.id)}>
        {task.parentTaskId && <span class="muted" aria-label="subtask">↳ </span>}
        {task.title}
      </a>
    </td>
  ),
  status: (task) => (
    <td>
      <span class={`dot s${task.status}`} aria-hidden="true" /> {statusName(task.status)}
    </td>
  ),
  priority: (task) => {
    const pr = priorityOf(task.priority);
    return (
      <td>
        <span class={`prio p${task.priority}`} aria-hidden="true">{pr.glyph}</span> {task.priority > TaskPriority.NONE ? pr.name : ""}
      </td>
    );
  },
  assignee: (task) => {
    const assignee = task.assigneeId ? store.members.get(task.assigneeId) : null;
    return (
      <td class="assignee-cell">
        {assignee && <Avatar member={assignee} size={18} />} <span>{assignee?.displayName ?? ""}</span>
      </td>
    );
  },
  labels: (task) => (
    <td class="labels">
      {task.labels.map((l) => (
        <LabelChip key={l} label={l} />
      ))}
    </td>
  ),
  sprint: (task) => <td>{sprintName(task.sprintId)}</td>,
  points: (task) => <td class="num">{task.storyPoints ?? ""}</td>,
  due: (task) => <td>{task.dueDate && <DueDate date={task.dueDate} done={task.status === TaskStatus.DONE} />}</td>,
  updated: (task) =>
    task.updateTime ? (
      <td class="muted" title={new Date(millis(task)).toLocaleString()}>
        {updatedShort(task)}
      </td>
    ) : (
      <td class="muted" />
    ),
};

function sorted(tasks: Iterable<Task>, key: SortKey, desc: boolean, filter?: (t: Task) => boolean): Task[] {
  const rows: Task[] = [];
  for (const t of tasks) if (!filter || filter(t)) rows.push(t);
  if (key === "rank") return rows.sort(byRank);
  const value = SORT_VALUE[key];
  // Each value read once, not once per comparison: 10,000 rows sort in a few milliseconds.
  const values = new Map(rows.map((t) => [t.id, value(t)]));
  const sign = desc ? -1 : 1;
  return rows.sort((a, b) => {
    const x = values.get(a.id)!;
    const y = values.get(b.id)!;
    return (x < y ? -sign : x > y ? sign : 0) || byRank(a, b);
  });
}

/** The rows in the order shown (for the keyboard's j/k and for Shift-click ranges). */
export function listOrder(): Task[] {
  const s = listSort.value;
  return sorted(store.viewTasks().values(), s.key, s.desc, taskFilter());
}

function select(ids: Iterable<string>): void {
  listSelection.value = new Set(ids);
}

/** Toggles one row in the selection (Ctrl/Cmd-click, the checkbox, `x`). */
export function toggleRow(taskId: string): void {
  const next = new Set(listSelection.value);
  if (!next.delete(taskId)) next.add(taskId);
  anchor = taskId;
  listSelection.value = next;
}

/** `x`: toggles the row the keyboard is on. */
export function toggleSelectedRow(): void {
  if (selectedTask.value) toggleRow(selectedTask.value);
}

function clickRow(e: MouseEvent, t: Task, order: Task[]): void {
  selectedTask.value = t.id;
  if (e.shiftKey && anchor) {
    const a = order.findIndex((x) => x.id === anchor);
    const b = order.findIndex((x) => x.id === t.id);
    if (a >= 0 && b >= 0) {
      const [from, to] = a < b ? [a, b] : [b, a];
      const next = e.ctrlKey || e.metaKey ? new Set(listSelection.value) : new Set<string>();
      for (const x of order.slice(from, to + 1)) next.add(x.id);
      listSelection.value = next;
      return;
    }
  }
  if (e.ctrlKey || e.metaKey) return toggleRow(t.id);
  anchor = t.id;
  select([t.id]);
}

function Row({ task, index, selected, focused, order, columns }: { task: Task; index: number; selected: boolean; focused: boolean; order: Task[]; columns: ListColumn[] }) {
  return (
    <tr
      class={`row-task${selected ? " chosen" : ""}${focused ? " focused" : ""}${store.isPending(task.id) ? " pending" : ""}`}
      data-testid="list-row"
      data-task-id={task.id}
      aria-rowindex={index + 2}
      aria-selected={selected}
      style={{ height: `${ROW_HEIGHT}px` }}
      onMouseDown={(e) => e.shiftKey && e.preventDefault() /* no text selection on Shift-click */}
      onClick={(e) => {
        if ((e.target as HTMLElement).closest("input, a, button")) return;
        clickRow(e, task, order);
      }}
      onDblClick={() => go(task.projectId, task.id)}
    >
      <td class="check">
        <input type="checkbox" checked={selected} aria-label={`Select ${task.key || task.title}`} onClick={(e) => {
          selectedTask.value = task.id;
          if (e.shiftKey) {
            e.preventDefault();
            clickRow(e, task, order);
          } else toggleRow(task.id);
        }} />
      </td>
      {columns.map((c) => CELL[c.key](task))}
    </tr>
  );
}

/** One menu of the bulk bar: choosing an entry applies it to every selected task. */
function BulkMenu({ label, options, apply }: { label: string; options: { value: string; name: string }[]; apply: (value: string) => void }) {
  return (
    <select
      aria-label={label}
      data-testid={`bulk-${label.split(" ")[1] ?? label}`.toLowerCase()}
      value=""
      onChange={(e) => {
        const el = e.target as HTMLSelectElement;
        const v = el.value;
        el.value = "";
        if (v) apply(v);
      }}
    >
      <option value="">{label}…</option>
      {options.map((o) => (
        <option key={o.value} value={o.value}>
          {o.name}
        </option>
      ))}
    </select>
  );
}

function BulkBar({ ids }: { ids: string[] }) {
  const tasks = ids.map((id) => store.task(id)).filter((t): t is Task => !!t);
  const n = tasks.length;
  const what = n === 1 ? (tasks[0].key || "1 task") : `${n} tasks`;
  const tooMany = n > MAX_BULK;
  const edit = (values: (t: Task) => TaskValues | null, verb: string) => {
    if (tooMany) return;
    const changes = tasks.flatMap((t) => {
      const v = values(t);
      return v ? [{ taskId: t.id, values: v }] : [];
    });
    store.bulkUpdate(changes, `${verb} of ${what}`);
  };
  const labels = new Map<string, string>();
  for (const t of store.viewTasks().values()) for (const l of t.labels) if (!labels.has(labelKey(l))) labels.set(labelKey(l), l);
  const held = new Map<string, string>();
  for (const t of tasks) for (const l of t.labels) if (!held.has(labelKey(l))) held.set(labelKey(l), l);
  const sorted = (m: Map<string, string>) => [...m.values()].sort((a, b) => a.localeCompare(b)).map((l) => ({ value: l, name: l }));
  return (
    <div class="bulk-bar" role="toolbar" aria-label="Change the selected tasks" data-testid="bulk-bar">
      <strong data-testid="bulk-count">{n} selected</strong>
      {tooMany && <span class="danger-text">Select at most {MAX_BULK} to change them at once</span>}
      {!store.readOnly && !tooMany && (
        <>
          <BulkMenu label="Set status" options={STATUSES.map((s) => ({ value: String(s.id), name: s.name }))} apply={(v) => edit(() => ({ status: Number(v) }), "the status")} />
          <BulkMenu
            label="Set assignee"
            options={[{ value: "none", name: "Unassigned" }, ...assignable(store.members.values(), () => false).map((m) => ({ value: m.id, name: m.displayName }))]}
            apply={(v) => edit(() => ({ assigneeId: v === "none" ? "" : v }), "the assignee")}
          />
          <BulkMenu label="Set priority" options={PRIORITIES.map((p) => ({ value: String(p.id), name: p.name }))} apply={(v) => edit(() => ({ priority: Number(v) }), "the priority")} />
          <BulkMenu
            label="Add label"
            options={[{ value: "\u0000new", name: "New label…" }, ...sorted(labels)]}
            apply={(v) => {
              const label = v === "\u0000new" ? (window.prompt("New label")?.trim() ?? "") : v;
              if (!label) return;
              edit((t) => (t.labels.some((l) => labelKey(l) === labelKey(label)) ? null : { labels: [...t.labels, label] }), "adding a label");
            }}
          />
          {held.size > 0 && (
            <BulkMenu
              label="Remove label"
              options={sorted(held)}
              apply={(v) => edit((t) => (t.labels.some((l) => labelKey(l) === labelKey(v)) ? { labels: t.labels.filter((l) => labelKey(l) !== labelKey(v)) } : null), "removing a label")}
            />
          )}
          <BulkMenu
            label="Set sprint"
            options={[
              { value: "none", name: "No sprint" },
              ...store.viewSprints().filter((s) => s.state !== SprintState.COMPLETED).map((s) => ({ value: s.id, name: s.name })),
            ]}
            apply={(v) => edit(() => ({ sprintId: v === "none" ? "" : v }), "the sprint")}
          />
          <button
            class="danger"
            data-testid="bulk-delete"
            onClick={() => {
              store.bulkDeleteUndoably(tasks.map((t) => t.id));
              select([]);
            }}
          >
            Delete
          </button>
        </>
      )}
      <span class="spacer" />
      <button onClick={() => select([])}>Clear selection</button>
    </div>
  );
}

function Header({ order, columns }: { order: Task[]; columns: ListColumn[] }) {
  const s = listSort.value;
  const chosen = listSelection.value;
  const all = order.length > 0 && order.every((t) => chosen.has(t.id));
  return (
    <thead>
      <tr aria-rowindex={1}>
        <th class="check" scope="col" style={{ width: `${CHECK_REM}rem` }}>
          <input type="checkbox" aria-label="Select every task shown" checked={all} onChange={() => select(all ? [] : order.map((t) => t.id))} />
        </th>
        {columns.map((c) => {
          const on = s.key === c.key;
          return (
            <th key={c.key} scope="col" style={{ width: c.width ? `${c.width}rem` : "auto" }} aria-sort={on ? (s.desc ? "descending" : "ascending") : undefined}>
              <button
                class="sort"
                data-testid={`sort-${c.key}`}
                onClick={() => (listSort.value = on && !s.desc ? { key: c.key, desc: true } : on ? { key: "rank", desc: false } : { key: c.key, desc: false })}
              >
                {c.name}
                <span aria-hidden="true" class="sort-mark">{on ? (s.desc ? " ↓" : " ↑") : ""}</span>
              </button>
            </th>
          );
        })}
      </tr>
    </thead>
  );
}

/** The list's width in rem, kept as the window or the panel beside it resizes (0 until drawn). */
function useListWidth(scroller: { current: HTMLDivElement | null }): number {
  const [width, setWidth] = useState(0);
  const watched = useRef<{ el: HTMLDivElement; observer: ResizeObserver } | null>(null);
  // After every render: the list's element appears only once the project has loaded. Measured
  // before the paint, so a narrow list never shows every column for a frame.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (watched.current?.el === el) return;
    watched.current?.observer.disconnect();
    watched.current = null;
    if (!el) return;
    const measure = () => setWidth(el.clientWidth / (parseFloat(getComputedStyle(document.documentElement).fontSize) || 16));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    watched.current = { el, observer };
  });
  useLayoutEffect(() => () => watched.current?.observer.disconnect(), []);
  return width;
}

export function ListView() {
  void route.value;
  const scroller = useRef<HTMLDivElement>(null);
  const tasks = store.viewTasks();
  const s = listSort.value;
  const f = filters.value;
  const me = store.me?.id ?? "";
  const order = useMemo(() => sorted(tasks.values(), s.key, s.desc, taskFilter()), [tasks, s.key, s.desc, f, me]);
  const widthRem = useListWidth(scroller);
  const keyChars = useMemo(() => order.reduce((most, t) => Math.max(most, t.key.length), 0), [order]);
  const columns = fitColumns(widthRem, keyChars);
  const v = useVirtualizer({
    count: order.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    getItemKey: (i) => order[i]?.id ?? i,
    overscan: 10,
  });
  if (!store.project && store.seq === 0n) return <BoardWaiting what="list" />;
  // Rows that left the board (deleted, filtered out by someone's change) leave the selection.
  const chosen = listSelection.value;
  const ids = [...chosen].filter((id) => tasks.has(id));
  const items = v.getVirtualItems();
  const top = items[0]?.start ?? 0;
  const bottom = v.getTotalSize() - (items.at(-1)?.end ?? 0);
  const focused = selectedTask.value;
  return (
    <div class="list-wrap">
      <Filters />
      {ids.length > 0 && <BulkBar ids={ids} />}
      <div class="list-scroll" ref={scroller} data-testid="list">
        <table class="task-list" aria-label="Tasks" aria-rowcount={order.length + 1} aria-multiselectable="true" role="grid">
          <Header order={order} columns={columns} />
          <tbody>
            {top > 0 && <tr aria-hidden="true" style={{ height: `${top}px` }} />}
            {items.map((it) => {
              const t = order[it.index];
              return <Row key={t.id} task={t} index={it.index} selected={chosen.has(t.id)} focused={t.id === focused} order={order} columns={columns} />;
            })}
            {bottom > 0 && <tr aria-hidden="true" style={{ height: `${bottom}px` }} />}
          </tbody>
        </table>
        {order.length === 0 && <p class="muted empty-list">No tasks{tasks.size > 0 ? " match the filters" : " yet"}.</p>}
      </div>
      <p class="sr-only" aria-live="polite">
        {order.length} tasks{ids.length ? `, ${ids.length} selected` : ""}
      </p>
    </div>
  );
}
