/** The sprints view: plan sprints (each against its capacity), put backlog tasks in them, start
 * one, complete it (choosing where unfinished work goes); the active sprint's burndown, velocity,
 * and each sprint's report (report.tsx). */
import { useEffect, useState } from "preact/hooks";
import { SprintState, TaskStatus, type Sprint, type Task } from "../proto";
import { connection, connState, filters, go, reportHref, route, store } from "../app-context";
import { nextSprintDates } from "../state/sprint-dates";
import { Avatar, names, othersWhere, statusName, focusOnMount } from "./common";
import { BoardWaiting } from "./guidance";
import { ActiveSprintBurndown, CapacityMeter, ProjectVelocity, SprintReportView } from "./report";
import { ArchiveSprintButton } from "./trash";

const STATE_NAME: Record<number, string> = {
  [SprintState.PLANNED]: "Planned",
  [SprintState.ACTIVE]: "Active",
  [SprintState.COMPLETED]: "Completed",
};

/** "Backlog" is a status (a board column); tasks outside every sprint are named apart from it. */
const NO_SPRINT_SECTION = "Not in a sprint";

function points(tasks: readonly Task[]): number {
  return tasks.reduce((n, t) => n + (t.storyPoints ?? 0), 0);
}

function pts(n: number): string {
  return `${n} ${n === 1 ? "pt" : "pts"}`;
}

function shortDate(iso: string): string {
  if (!iso) return "";
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(y, m - 1, d).toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

function dates(sp: Sprint): string {
  if (!sp.startDate && !sp.endDate) return "No dates";
  return `${shortDate(sp.startDate) || "…"} – ${shortDate(sp.endDate) || "…"}`;
}

/** The board, showing only this sprint's tasks: where a started sprint's work is done, and what
 * opening a completed sprint shows. */
function showSprintBoard(sprintId: string): void {
  filters.value = { ...filters.value, sprint: [sprintId] };
  go(store.projectId, "", "board");
}

function openSprints(): Sprint[] {
  return store.viewSprints().filter((s) => s.state !== SprintState.COMPLETED);
}

// ---- sprint form -----------------------------------------------------------------------------

function SprintForm({ sprint, onClose }: { sprint?: Sprint; onClose: () => void }) {
  const next = nextSprintDates(store.viewSprints(), new Date());
  const [name, setName] = useState(sprint?.name ?? `Sprint ${store.viewSprints().length + 1}`);
  const [goal, setGoal] = useState(sprint?.goal ?? "");
  const [startDate, setStart] = useState(sprint ? sprint.startDate : next.startDate);
  const [endDate, setEnd] = useState(sprint ? sprint.endDate : next.endDate);
  const [capacity, setCapacity] = useState(sprint?.capacity === undefined ? "" : String(sprint.capacity));
  const badDates = !!startDate && !!endDate && endDate < startDate;
  const badCapacity = capacity.trim() !== "" && !/^\d{1,6}$/.test(capacity.trim());
  const val = (e: Event) => (e.target as HTMLInputElement).value;
  return (
    <div class="modal-backdrop" role="dialog" aria-modal="true" aria-label={sprint ? "Edit sprint" : "New sprint"}>
      <form
        class="modal"
        onSubmit={(e) => {
          e.preventDefault();
          if (!name.trim() || badDates || badCapacity) return;
          const values = { name: name.trim(), goal: goal.trim(), startDate, endDate, capacity: capacity.trim() ? Number(capacity) : undefined };
          if (sprint) {
            const changed = Object.fromEntries(
              Object.entries(values).filter(([k, v]) => (sprint as unknown as Record<string, unknown>)[k] !== v),
            );
            store.updateSprint(sprint.id, changed);
          } else store.createSprint(values);
          onClose();
        }}
        onKeyDown={(e) => e.key === "Escape" && onClose()}
      >
        <h2>{sprint ? "Edit sprint" : "New sprint"}</h2>
        <label class="field">
          <span>Name</span>
          <input ref={focusOnMount} aria-label="Sprint name" value={name} onInput={(e) => setName(val(e))} maxLength={200} />
        </label>
        <label class="field">
          <span>Goal</span>
          <textarea aria-label="Sprint goal" rows={2} value={goal} onInput={(e) => setGoal(val(e))} placeholder="What this sprint is for" />
        </label>
        <div class="field-pair">
          <label class="field">
            <span>Starts</span>
            <input type="date" aria-label="Start date" value={startDate} onInput={(e) => setStart(val(e))} />
          </label>
          <label class="field">
            <span>Ends</span>
            <input type="date" aria-label="End date" value={endDate} onInput={(e) => setEnd(val(e))} />
          </label>
        </div>
        <label class="field">
          <span>Capacity (story points, optional)</span>
          <input inputMode="numeric" aria-label="Capacity in story points" value={capacity} onInput={(e) => setCapacity(val(e))} placeholder="No capacity" />
        </label>
        {badDates && <p class="danger small-text">The end date is before the start date.</p>}
        {badCapacity && <p class="danger small-text">The capacity is a whole number of points, or empty for none.</p>}
        <div class="row end">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button class="primary" type="submit" disabled={!name.trim() || badDates || badCapacity}>
            {sprint ? "Save" : "Create sprint"}
          </button>
        </div>
      </form>
    </div>
  );
}

// ---- completing ------------------------------------------------------------------------------

function CompleteDialog({ sprint, onClose }: { sprint: Sprint; onClose: () => void }) {
  const tasks = store.sprintTasks(sprint.id);
  const done = tasks.filter((t) => t.status === TaskStatus.DONE);
  const open = tasks.filter((t) => t.status !== TaskStatus.DONE);
  const targets = openSprints().filter((s) => s.id !== sprint.id);
  const [to, setTo] = useState(targets[0]?.id ?? "");
  return (
    <div class="modal-backdrop" role="dialog" aria-modal="true" aria-label="Complete sprint" data-testid="complete-dialog">
      <div class="modal" onKeyDown={(e) => e.key === "Escape" && onClose()}>
        <h2>Complete {sprint.name}</h2>
        <p>
          <b>{done.length}</b> done {done.length === 1 ? "task" : "tasks"} ({pts(points(done))}) stay in this sprint.
          {open.length > 0 ? (
            <>
              {" "}
              <b>{open.length}</b> unfinished {open.length === 1 ? "task" : "tasks"} ({pts(points(open))}) move to:
            </>
          ) : (
            " Nothing is left unfinished."
          )}
        </p>
        {open.length > 0 && (
          <div class="choices" role="radiogroup" aria-label="Move unfinished tasks to">
            {targets.map((s) => (
              <label key={s.id} class="choice">
                <input type="radio" name="carry" checked={to === s.id} onChange={() => setTo(s.id)} />
                {s.name}
                <span class="muted"> · {STATE_NAME[s.state]}</span>
              </label>
            ))}
            <label class="choice">
              <input type="radio" name="carry" checked={to === ""} onChange={() => setTo("")} />
              No sprint
            </label>
          </div>
        )}
        <div class="row end">
          <button onClick={onClose}>Cancel</button>
          <button
            class="primary"
            ref={focusOnMount}
            onClick={() => {
              store.completeSprint(sprint.id, open.length ? to : "");
              onClose();
            }}
          >
            Complete sprint
          </button>
        </div>
      </div>
    </div>
  );
}

// ---- presence ----------------------------------------------------------------------------------

/** Small avatars of the others looking at the plan (any sprint) or at one sprint of it. */
function Lookers({ sprintId, testId }: { sprintId?: string; testId: string }) {
  const list = othersWhere((p) => p.viewingSprintId !== "" && (sprintId === undefined || p.viewingSprintId === sprintId));
  if (list.length === 0) return null;
  const label = `${names(list)} ${list.length === 1 ? "is" : "are"} looking at ${sprintId === undefined ? "the sprint plan" : "this sprint"}`;
  return (
    <span class="lookers" data-testid={testId} role="img" aria-label={label} title={label}>
      {list.map((p) => (
        <Avatar key={p.member!.id} member={p.member} size={sprintId === undefined ? 24 : 18} ring />
      ))}
    </span>
  );
}

// ---- task rows and sections ------------------------------------------------------------------

function TaskRow({ task, sprints }: { task: Task; sprints: Sprint[] }) {
  const assignee = task.assigneeId ? store.members.get(task.assigneeId) : null;
  return (
    <li
      class={`sprint-task${task.status === TaskStatus.DONE ? " done" : ""}${store.isPending(task.id) ? " pending" : ""}`}
      data-testid="sprint-task"
      data-task-id={task.id}
      draggable={!store.readOnly}
      onDragStart={(e) => {
        e.dataTransfer?.setData("text/x-tandem-task", task.id);
        if (e.dataTransfer) e.dataTransfer.effectAllowed = "move";
      }}
    >
      <span class={`dot s${task.status}`} title={statusName(task.status)} />
      <span class="key">{task.key || "…"}</span>
      <a class="sprint-task-title" href={`#/p/${task.projectId}/sprints/t/${task.id}`}>
        {task.title}
      </a>
      <span class="spacer" />
      {task.storyPoints !== undefined && <span class="points">{task.storyPoints}</span>}
      <Avatar member={assignee} size={20} />
      <select
        class="move-select"
        aria-label={`Sprint of ${task.key || task.title}`}
        value={task.sprintId}
        onChange={(e) => store.updateTask(task.id, { sprintId: (e.target as HTMLSelectElement).value })}
      >
        <option value="">No sprint</option>
        {sprints.map((s) => (
          <option key={s.id} value={s.id}>
            {s.name}
          </option>
        ))}
      </select>
    </li>
  );
}

function QuickAddToSprint({ sprintId }: { sprintId: string }) {
  const [title, setTitle] = useState("");
  return (
    <form
      class="sprint-add"
      onSubmit={(e) => {
        e.preventDefault();
        if (!title.trim()) return;
        store.createTask({ title: title.trim(), status: sprintId ? TaskStatus.TODO : TaskStatus.BACKLOG, sprintId });
        setTitle("");
      }}
    >
      <input
        class="inline-input"
        placeholder="+ Add a task, Enter to save"
        aria-label={sprintId ? "Add a task to this sprint" : "Add a task to no sprint"}
        value={title}
        onInput={(e) => setTitle((e.target as HTMLInputElement).value)}
      />
    </form>
  );
}

function Section({
  sprint,
  tasks,
  sprints,
  children,
  head,
}: {
  sprint: Sprint | null;
  tasks: Task[];
  sprints: Sprint[];
  children?: preact.ComponentChildren;
  head: preact.ComponentChildren;
}) {
  const [over, setOver] = useState(false);
  const id = sprint?.id ?? "";
  const done = tasks.filter((t) => t.status === TaskStatus.DONE);
  return (
    <section
      class={`sprint${over ? " drop" : ""}${sprint?.state === SprintState.ACTIVE ? " active" : ""}`}
      data-testid={sprint ? "sprint" : "backlog"}
      data-sprint-id={id}
      aria-label={sprint ? sprint.name : NO_SPRINT_SECTION}
      // The sprint worked on last is the one this person's presence names.
      onFocusIn={() => sprint && connection().setViewingSprint(sprint.id)}
      onPointerDown={() => sprint && connection().setViewingSprint(sprint.id)}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={(e) => {
        if (!(e.currentTarget as HTMLElement).contains(e.relatedTarget as Node)) setOver(false);
      }}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        const taskId = e.dataTransfer?.getData("text/x-tandem-task");
        const t = taskId ? store.task(taskId) : undefined;
        if (t && t.sprintId !== id) store.updateTask(t.id, { sprintId: id });
      }}
    >
      <header class="sprint-head">
        {head}
        <span class="spacer" />
        {sprint && <Lookers sprintId={sprint.id} testId="sprint-lookers" />}
        <span class="muted sprint-stats" data-testid="sprint-stats">
          {tasks.length} {tasks.length === 1 ? "task" : "tasks"} · {pts(points(tasks))}
          {sprint && tasks.length > 0 && ` · ${done.length} done`}
        </span>
        {sprint && <CapacityMeter sprint={sprint} points={points(tasks)} />}
      </header>
      {children}
      <ul class="sprint-tasks">
        {tasks.map((t) => (
          <TaskRow key={t.id} task={t} sprints={sprints} />
        ))}
        {tasks.length === 0 && (
          <li class="muted sprint-empty">{sprint ? "Drag tasks here, or pick this sprint in a task's menu." : "Every open task is in a sprint."}</li>
        )}
      </ul>
      <QuickAddToSprint sprintId={id} />
    </section>
  );
}

export function SprintsView() {
  void route.value;
  connection();
  const [editing, setEditing] = useState<Sprint | "new" | null>(null);
  const [completing, setCompleting] = useState<Sprint | null>(null);
  const [showDone, setShowDone] = useState(false);
  // Until this person works in one, their presence names the active sprint (or the next one).
  const firstOpen = (store.viewSprints().find((s) => s.state === SprintState.ACTIVE) ?? store.viewSprints().find((s) => s.state === SprintState.PLANNED))?.id ?? "";
  const state = connState.value;
  useEffect(() => {
    const conn = connection();
    conn.setViewingSprint(firstOpen);
    return () => conn.setViewingSprint("");
  }, [store.projectId, firstOpen === "", state]);
  if (!store.project && store.seq === 0n) return <BoardWaiting what="sprints" />;
  if (route.value.reportId) return <SprintReportView sprintId={route.value.reportId} />;
  const all = store.viewSprints();
  const open = all.filter((s) => s.state !== SprintState.COMPLETED);
  const completed = all.filter((s) => s.state === SprintState.COMPLETED);
  const active = open.find((s) => s.state === SprintState.ACTIVE);
  const backlog = store.sprintTasks("").filter((t) => t.status !== TaskStatus.DONE);
  return (
    <main class="sprints" data-testid="sprints-view">
      <div class="sprints-toolbar">
        <h1>Sprints</h1>
        <span class="spacer" />
        <Lookers testId="plan-lookers" />
        {!store.readOnly && (
          <button class="primary" onClick={() => setEditing("new")}>
            New sprint
          </button>
        )}
      </div>
      {/* A viewer reads the plan; a disabled fieldset turns off every control in it at once. */}
      <fieldset class="plain" disabled={store.readOnly}>
      {open.length === 0 && (
        <p class="muted">
          No sprint is planned. Create one, put tasks from the backlog in it, and start it when the team is ready.
        </p>
      )}
      {open.map((sp) => (
        <Section
          key={sp.id}
          sprint={sp}
          tasks={store.sprintTasks(sp.id)}
          sprints={open}
          head={
            <>
              <span class="sprint-name">{sp.name}</span>
              <span class={`badge state-${sp.state}`} data-testid="sprint-state">
                {STATE_NAME[sp.state]}
              </span>
              <span class="muted">{dates(sp)}</span>
              <button class="link" onClick={() => setEditing(sp)} aria-label={`Edit ${sp.name}`}>
                Edit
              </button>
              {sp.state === SprintState.PLANNED && (
                <button
                  class="small"
                  disabled={!!active}
                  title={active ? `${active.name} is active; complete it first` : "Start this sprint"}
                  onClick={() => {
                    store.startSprint(sp.id);
                    showSprintBoard(sp.id);
                  }}
                >
                  Start sprint
                </button>
              )}
              {sp.state === SprintState.ACTIVE && (
                <button class="small primary" onClick={() => setCompleting(sp)}>
                  Complete sprint
                </button>
              )}
            </>
          }
        >
          {sp.goal && <p class="sprint-goal">{sp.goal}</p>}
          {sp.state === SprintState.ACTIVE && <ActiveSprintBurndown sprint={sp} />}
        </Section>
      ))}
      <Section sprint={null} tasks={backlog} sprints={open} head={<span class="sprint-name">{NO_SPRINT_SECTION}</span>} />
      </fieldset>
      {completed.length > 0 && (
        <div class="completed-sprints">
          <button class="link" onClick={() => setShowDone(!showDone)} aria-expanded={showDone}>
            {showDone ? "▾" : "▸"} Completed sprints ({completed.length})
          </button>
          {showDone && (
            <ul>
              {completed.map((sp) => {
                const tasks = store.sprintTasks(sp.id);
                return (
                  <li key={sp.id} data-testid="completed-sprint">
                    <a class="sprint-name" href={reportHref(sp.projectId, sp.id)} title="Open its report">
                      {sp.name}
                    </a>{" "}
                    <span class="muted">{dates(sp)}</span>
                    <span class="spacer" />
                    <span class="muted">
                      {tasks.length} done · {pts(points(tasks))}
                    </span>
                    <button class="link small-text" onClick={() => showSprintBoard(sp.id)}>
                      Show on the board
                    </button>
                    <ArchiveSprintButton sprint={sp} />
                  </li>
                );
              })}
            </ul>
          )}
        </div>
      )}
      {completed.length > 0 && <ProjectVelocity projectId={store.projectId} />}
      {editing && <SprintForm sprint={editing === "new" ? undefined : editing} onClose={() => setEditing(null)} />}
      {completing && <CompleteDialog sprint={completing} onClose={() => setCompleting(null)} />}
    </main>
  );
}

