/** The board: columns by status, cards, drag and drop, quick add, filters, counts and totals. */
import { memo } from "preact/compat";
import { labelKey, taskMatcher } from "../filters";
import { BoardGuidance, BoardWaiting } from "./guidance";
import { FilterPicker } from "./filter-picker";
import { assignable } from "./people";
import { useRef, useState } from "preact/hooks";
import { SprintState, TaskPriority, TaskStatus, type Task, type WorkflowColumn } from "../proto";
import { connection, filters, go, quickAddStatus, route, selectedTask, store } from "../app-context";
import { Avatar, othersWhere, PRIORITIES, priorityOf, focusOnMount } from "./common";
import { DueDate } from "./due";
import { Windowed } from "./virtual";
import { LabelChip } from "./labels";
import { ColumnName, HiddenColumns, quickAddColumn, showsQuickAdd, visibleColumns, WorkflowButton } from "./workflow";
import { CardFiles } from "./attachments";
import { BoardScopeSwitch, withBoardScope } from "./board-scope";
import { ArchiveDoneButton } from "./trash";

export function taskFilter(): ((t: Task) => boolean) | undefined {
  return withBoardScope(taskMatcher(filters.value, store.me?.id ?? ""));
}

/** The visible cards in board order, for j/k navigation. */
export function visibleOrder(): Task[] {
  const filter = taskFilter();
  return visibleColumns().flatMap((c) => store.columnTasks(c.id, filter));
}

function open(task: Task): void {
  selectedTask.value = task.id;
  go(task.projectId, task.id);
}

const Card = memo(function Card({ task, selected, viewers, pending }: { task: Task; selected: boolean; viewers: string; pending: boolean }) {
  const assignee = task.assigneeId ? store.members.get(task.assigneeId) : null;
  const pr = priorityOf(task.priority);
  return (
    <article
      class={`card${selected ? " selected" : ""}${pending ? " pending" : ""}`}
      data-task-id={task.id}
      data-testid="card"
      draggable={!store.readOnly}
      onDragStart={(e) => {
        e.dataTransfer?.setData("text/x-tandem-task", task.id);
        e.dataTransfer?.setData("text/plain", task.key);
        if (e.dataTransfer) e.dataTransfer.effectAllowed = "move";
      }}
      // A card is a button to the keyboard: Tab reaches it, Enter or Space opens it.
      tabIndex={0}
      role="button"
      onClick={() => open(task)}
      onFocus={() => (selectedTask.value = task.id)}
      onKeyDown={(e) => {
        if (e.key !== "Enter" && e.key !== " ") return;
        e.preventDefault();
        e.stopPropagation();
        open(task);
      }}
    >
      {/* The card's name to a screen reader is its text: glyphs are hidden, words stand in. */}
      <div class="card-top">
        <span class="key">{task.key || "…"}</span>
        {viewers && (
          <span class="viewers" title={`${viewers} viewing`} aria-hidden="true">
            ●
          </span>
        )}
        <span class={`prio p${task.priority}`} title={pr.name} aria-hidden="true">
          {pr.glyph}
        </span>
      </div>
      <div class="title" title={task.title}>{task.title}</div>
      <div class="card-bottom">
        <span class="labels">
          {task.labels.map((l) => (
            <LabelChip key={l} label={l} />
          ))}
        </span>
        <span class="spacer" />
        <CardFiles taskId={task.id} />
        {task.dueDate && <DueDate date={task.dueDate} done={task.status === TaskStatus.DONE} />}
        {task.storyPoints !== undefined && (
          <span class="points" title="Story points">
            {task.storyPoints}
            <span class="sr-only">{task.storyPoints === 1 ? " point" : " points"}</span>
          </span>
        )}
        <span aria-hidden="true">
          <Avatar member={assignee} size={20} />
        </span>
      </div>
      <span class="sr-only">
        {[task.priority > TaskPriority.NONE ? `${pr.name} priority` : "", assignee ? `assigned to ${assignee.displayName}` : "", viewers ? `${viewers} viewing` : ""]
          .filter(Boolean)
          .join(", ")}
      </span>
    </article>
  );
});

function QuickAdd({ status, columnId }: { status: TaskStatus; columnId: string }) {
  const [title, setTitle] = useState("");
  // Each task typed goes below the one typed before it, so a list comes out in the order typed.
  const lastAdded = useRef("");
  const close = () => {
    quickAddStatus.value = 0;
    quickAddColumn.value = "";
  };
  return (
    <form
      class="quick-add"
      onSubmit={(e) => {
        e.preventDefault();
        const t = title.trim();
        if (!t) return close();
        const col = store.columnTasks(columnId);
        const prev = col.findIndex((x) => x.id === lastAdded.current);
        const before = prev >= 0 ? (col[prev + 1]?.id ?? "") : (col[0]?.id ?? "");
        lastAdded.current = store.createTask({ title: t, status, columnId }, before, prev >= 0 ? lastAdded.current : "").id;
        setTitle("");
      }}
    >
      <input
        ref={focusOnMount}
        placeholder="Task title, Enter to add"
        value={title}
        onInput={(e) => setTitle((e.target as HTMLInputElement).value)}
        onKeyDown={(e) => e.key === "Escape" && close()}
        onBlur={(e) => !e.currentTarget.value.trim() && close()}
        aria-label="New task title"
      />
    </form>
  );
}

function Column({ column, tasks }: { column: WorkflowColumn; tasks: Task[] }) {
  const status = column.category;
  const name = column.name;
  const [dropAt, setDropAt] = useState(-1);
  const listRef = useRef<HTMLDivElement>(null);
  const points = tasks.reduce((n, t) => n + (t.storyPoints ?? 0), 0);
  const sel = selectedTask.value;
  const viewing = new Map<string, string>();
  for (const p of othersWhere((p) => p.viewingTaskId !== "")) {
    viewing.set(p.viewingTaskId, (viewing.get(p.viewingTaskId) ? viewing.get(p.viewingTaskId) + ", " : "") + (p.member?.displayName ?? ""));
  }

  // A long column draws only the cards in view (virtual.tsx): the first drawn is card number first.
  const first = useRef(0);
  const indexAt = (y: number) => {
    const cards = listRef.current ? [...listRef.current.querySelectorAll<HTMLElement>(".card")] : [];
    let i = 0;
    for (; i < cards.length; i++) {
      const r = cards[i].getBoundingClientRect();
      if (y < r.top + r.height / 2) break;
    }
    return first.current + i;
  };

  return (
    <section
      class={`column${dropAt >= 0 ? " drop" : ""}`}
      data-status={status}
      data-column-id={column.id}
      data-testid={`column-${status}`}
      onDragOver={(e) => {
        if (store.readOnly) return;
        e.preventDefault();
        setDropAt(indexAt(e.clientY));
      }}
      onDragLeave={(e) => {
        if (!(e.currentTarget as HTMLElement).contains(e.relatedTarget as Node)) setDropAt(-1);
      }}
      onDrop={(e) => {
        e.preventDefault();
        const id = e.dataTransfer?.getData("text/x-tandem-task");
        setDropAt(-1);
        if (!id || store.readOnly) return;
        const at = indexAt(e.clientY);
        const others = tasks.filter((t) => t.id !== id);
        const before = tasks.slice(0, at).filter((t) => t.id !== id).length;
        const after = others[before - 1]?.id ?? "";
        const next = others[before]?.id ?? "";
        const cur = store.task(id);
        if (cur && tasks.some((t) => t.id === id)) {
          const idx = tasks.findIndex((t) => t.id === id);
          if (tasks[idx - 1]?.id === (after || undefined) && tasks[idx + 1]?.id === (next || undefined)) return;
        }
        store.moveTask(id, status, after, next, column.id);
      }}
    >
      <header class="column-head">
        <span class={`dot s${status}`} />
        <ColumnName column={column} />
        <span class="count" data-testid="count">{tasks.length}</span>
        {points > 0 && <span class="sum" title="Story points">{points} {points === 1 ? "pt" : "pts"}</span>}
        <span class="spacer" />
        {status === TaskStatus.DONE && <ArchiveDoneButton tasks={tasks} />}
        {!store.readOnly && <button class="icon" title={`Add a task to ${name}`} aria-label={`Add a task to ${name}`} onClick={() => {
          quickAddColumn.value = column.id;
          quickAddStatus.value = status;
        }}>
          +
        </button>}
      </header>
      {showsQuickAdd(column) && !store.readOnly && <QuickAdd status={status} columnId={column.id} />}
      <div class="cards" ref={listRef}>
        <Windowed scroller={listRef} count={tasks.length} keyOf={(i) => tasks[i].id} estimate={84} gap={6} first={first} reveal={tasks.findIndex((t) => t.id === sel)}>
          {(i) => (
            <>
              {dropAt === i && <div class="drop-line" />}
              <Card key={tasks[i].id} task={tasks[i]} selected={tasks[i].id === sel} viewers={viewing.get(tasks[i].id) ?? ""} pending={store.isPending(tasks[i].id)} />
            </>
          )}
        </Windowed>
        {dropAt >= tasks.length && <div class="drop-line" />}
      </div>
    </section>
  );
}

export function Filters() {
  const f = filters.value;
  const set = (patch: Partial<typeof f>) => (filters.value = { ...f, ...patch });
  // One entry per label whatever its case, spelt as most tasks spell it.
  const spellings = new Map<string, Map<string, number>>();
  for (const t of store.viewTasks().values())
    for (const l of t.labels) {
      const k = labelKey(l);
      const m = spellings.get(k) ?? new Map<string, number>();
      m.set(l, (m.get(l) ?? 0) + 1);
      spellings.set(k, m);
    }
  const labels = [...spellings.values()].map((m) => [...m].sort((a, b) => b[1] - a[1])[0][0]).sort((a, b) => a.localeCompare(b));
  const holders = new Set([...store.viewTasks().values()].map((t) => t.assigneeId));
  const people = assignable(store.members.values(), (id) => holders.has(id) || f.assignee.includes(id));
  return (
    <div class="filters">
      <BoardScopeSwitch />
      <input
        class="search"
        type="search"
        placeholder="Filter tasks…"
        value={f.text}
        onInput={(e) => set({ text: (e.target as HTMLInputElement).value })}
        aria-label="Filter by text"
      />
      <FilterPicker
        kind="Assignee"
        any="Anyone"
        chosen={f.assignee}
        options={[{ value: "none", name: "Unassigned" }, ...people.map((m) => ({ value: m.id, name: m.displayName }))]}
        onChange={(assignee) => set({ assignee })}
      />
      <FilterPicker
        kind="Label"
        any="Any label"
        chosen={f.label}
        same={(a, b) => labelKey(a) === labelKey(b)}
        options={labels.map((l) => ({ value: l, name: l }))}
        onChange={(label) => set({ label })}
      />
      <FilterPicker
        kind="Priority"
        any="Any priority"
        chosen={f.priority.map(String)}
        options={PRIORITIES.map((p) => ({ value: String(p.id), name: p.name }))}
        onChange={(p) => set({ priority: p.map(Number) })}
      />
      {store.sprints.size > 0 && (
        <FilterPicker
          kind="Sprint"
          any="Any sprint"
          chosen={f.sprint}
          options={[
            { value: "none", name: "No sprint" },
            ...store.viewSprints().map((s) => ({
              value: s.id,
              name: s.name + (s.state === SprintState.ACTIVE ? " (active)" : s.state === SprintState.COMPLETED ? " (done)" : ""),
            })),
          ]}
          onChange={(sprint) => set({ sprint })}
        />
      )}
      <a class="manage-labels" href={`#/p/${store.projectId}/labels`}>Manage labels</a>
      <WorkflowButton />
      <label class="toggle">
        <input type="checkbox" checked={f.mine} onChange={(e) => set({ mine: (e.target as HTMLInputElement).checked })} />
        Only my tasks
      </label>
    </div>
  );
}

export function Board() {
  void route.value;
  connection();
  const filter = taskFilter();
  if (!store.project && store.seq === 0n) return <BoardWaiting what="board" />;
  const shown = visibleColumns();
  const columns = shown.map((c) => store.columnTasks(c.id, filter));
  return (
    <div class="board-wrap">
      <Filters />
      <BoardGuidance shown={columns.reduce((n, c) => n + c.length, 0)} />
      <div class="board" data-testid="board">
        {shown.map((c, i) => (
          <Column key={c.id} column={c} tasks={columns[i]} />
        ))}
        <HiddenColumns filter={filter} />
      </div>
    </div>
  );
}
