/**
 * Sprint reports: the page a sprint opens as once completed (what was committed, added, removed,
 * done and carried over, the burndown, velocity, the tasks, a CSV download), the running
 * sprint's burndown in the plan, and each sprint's points against its capacity.
 *
 * The record is the server's (GET /api/v1/sprints/{id}/report, or get_sprint_report over the
 * WebSocket); it is asked for again whenever a change to the sprint or one of its tasks arrives,
 * so everyone looking sees it move as the team works.
 */
import { useEffect, useState } from "preact/hooks";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { SprintState, SprintTaskOutcome, type Sprint, type SprintReport, type SprintReportTask, type VelocityResponse } from "../proto";
import { connection, connState, reportHref, store } from "../app-context";
import { csvName, OUTCOME_NAME, reportCsv } from "../state/report-csv";
import { BurndownChart, VelocityChart } from "./charts";

function pts(n: number): string {
  return `${n} ${n === 1 ? "pt" : "pts"}`;
}

/** What, on this page, the sprint's record depends on: it changes with every event that could
 * change the record (the sprint itself, a task joining, leaving or changing in it). */
function sprintFingerprint(sprintId: string): string {
  const sp = store.sprint(sprintId);
  const tasks = store.sprintTasks(sprintId).map((t) => `${t.id}.${t.version}`);
  return `${sp?.version ?? 0}|${sp?.state ?? 0}|${tasks.join(",")}|${connState.value}`;
}

function projectFingerprint(): string {
  return store
    .viewSprints()
    .filter((s) => s.state === SprintState.COMPLETED)
    .map((s) => `${s.id}.${s.version}`)
    .join(",") + `|${connState.value}`;
}

function useLoaded<T>(load: () => Promise<T>, key: string): { value: T | null; failed: boolean } {
  const [state, setState] = useState<{ value: T | null; failed: boolean }>({ value: null, failed: false });
  useEffect(() => {
    let live = true;
    // A burst of events (a sprint completing moves every open task) asks once.
    const timer = setTimeout(() => {
      load().then(
        (value) => live && setState({ value, failed: false }),
        () => live && setState((s) => ({ value: s.value, failed: true })),
      );
    }, 120);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [key]);
  return state;
}

export function useSprintReport(sprintId: string): { value: SprintReport | null; failed: boolean } {
  return useLoaded(() => connection().sprintReport(sprintId), `${sprintId}|${sprintFingerprint(sprintId)}`);
}

export function useVelocity(projectId: string): { value: VelocityResponse | null; failed: boolean } {
  return useLoaded(() => connection().velocity(projectId), `${projectId}|${projectFingerprint()}`);
}

// ---- capacity ------------------------------------------------------------------------------

/** A sprint's points against its capacity, when it has one: a bar, and a warning when over. */
export function CapacityMeter({ sprint, points }: { sprint: Sprint; points: number }) {
  if (sprint.capacity === undefined) return null;
  const cap = sprint.capacity;
  const over = points > cap;
  const share = cap > 0 ? Math.min(1, points / cap) : points > 0 ? 1 : 0;
  const label = `${points} of ${cap} points of capacity${over ? `, ${points - cap} over` : ""}`;
  return (
    <span class={`capacity${over ? " over" : ""}`} data-testid="sprint-capacity" title={label}>
      <span class="capacity-bar" role="meter" aria-label="Capacity used" aria-valuemin={0} aria-valuemax={cap} aria-valuenow={points} aria-valuetext={label}>
        <span class="capacity-fill" style={{ width: `${Math.round(share * 100)}%` }} />
      </span>
      <span class="capacity-text">
        {points} / {pts(cap)}
        {over && <b> · {points - cap} over</b>}
      </span>
    </span>
  );
}

// ---- the running sprint's burndown, in the plan ----------------------------------------------

export function ActiveSprintBurndown({ sprint }: { sprint: Sprint }) {
  const report = useSprintReport(sprint.id).value;
  return (
    <div class="report-inline">
      {report ? <BurndownChart report={report} /> : <p class="muted small-text">Loading the burndown…</p>}
      <a class="link small-text" href={reportHref(sprint.projectId, sprint.id)}>
        Open the sprint report
      </a>
    </div>
  );
}

export function ProjectVelocity({ projectId }: { projectId: string }) {
  const velocity = useVelocity(projectId).value;
  return velocity && velocity.sprints.length > 0 ? <VelocityChart velocity={velocity} /> : null;
}

// ---- the report page -------------------------------------------------------------------------

function when(t: SprintReportTask["doneTime"]): string {
  return t ? timestampDate(t).toLocaleDateString(undefined, { month: "short", day: "numeric" }) : "";
}

function TaskList({ title, tasks, testId, note }: { title: string; tasks: SprintReportTask[]; testId: string; note: (t: SprintReportTask) => string }) {
  if (tasks.length === 0) return null;
  const total = tasks.reduce((n, t) => n + t.points, 0);
  return (
    <section class="report-tasks" data-testid={testId} aria-label={title}>
      <h2>
        {title} <span class="muted">· {tasks.length} {tasks.length === 1 ? "task" : "tasks"}, {pts(total)}</span>
      </h2>
      <ul>
        {tasks.map((t) => (
          <li key={t.taskId} data-testid="report-task">
            <span class="key">{t.key}</span>
            <a href={store.task(t.taskId) ? `#/p/${store.projectId}/t/${t.taskId}` : undefined}>{t.title || "(deleted task)"}</a>
            <span class="spacer" />
            <span class="muted small-text">{note(t)}</span>
            <span class="points">{t.points}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function download(report: SprintReport): void {
  const blob = new Blob([reportCsv(report)], { type: "text/csv;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = csvName(report);
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function Figure({ name, value, detail, testId }: { name: string; value: string; detail?: string; testId: string }) {
  return (
    <div class="figure" data-testid={testId}>
      <dt>{name}</dt>
      <dd>
        <b>{value}</b>
        {detail && <span class="muted small-text"> {detail}</span>}
      </dd>
    </div>
  );
}

export function SprintReportView({ sprintId }: { sprintId: string }) {
  const { value: report, failed } = useSprintReport(sprintId);
  const sprint = store.sprint(sprintId) ?? report?.sprint;
  const back = `#/p/${store.projectId}/sprints`;
  if (!report) {
    return (
      <main class="report-page" data-testid="sprint-report">
        <a class="link" href={back}>
          ← Sprints
        </a>
        <p class="muted">{failed ? "This sprint's report could not be loaded: the sprint may have been deleted." : "Loading the report…"}</p>
      </main>
    );
  }
  const of = (o: SprintTaskOutcome) => report.tasks.filter((t) => t.outcome === o);
  const started = report.startTime !== undefined;
  const carriedTo = report.carriedOverToSprintName || (report.carriedOverToSprintId ? "the next sprint" : "the backlog");
  const joined = (t: SprintReportTask) => (t.committed ? "" : `added ${when(t.joinTime)}`);
  return (
    <main class="report-page" data-testid="sprint-report">
      <div class="report-head">
        <a class="link" href={back}>
          ← Sprints
        </a>
        <h1>{sprint?.name ?? "Sprint"} report</h1>
        <span class={`badge state-${sprint?.state ?? 0}`} data-testid="report-state">
          {report.frozen ? "Completed" : sprint?.state === SprintState.ACTIVE ? "Running" : "Planned"}
        </span>
        <span class="spacer" />
        <button class="small" onClick={() => download(report)} data-testid="report-csv">
          Download CSV
        </button>
      </div>
      {sprint?.goal && <p class="sprint-goal">{sprint.goal}</p>}
      {!started ? (
        <p class="muted">
          {sprint?.state === SprintState.COMPLETED
            ? "This sprint completed before Tandem kept sprint records, so it has no report."
            : "This sprint has not started: its record begins when it does."}
        </p>
      ) : (
        <>
          <dl class="report-figures">
            <Figure name="Committed" value={pts(report.committedPoints)} detail="at the start" testId="figure-committed" />
            <Figure name="Added" value={`+${report.addedPoints}`} detail="while it ran" testId="figure-added" />
            <Figure name="Removed" value={`−${report.removedPoints}`} detail="while it ran" testId="figure-removed" />
            <Figure name="Completed" value={pts(report.completedPoints)} testId="figure-completed" />
            {report.frozen ? (
              <Figure name="Carried over" value={pts(report.carriedOverPoints)} detail={report.carriedOverPoints ? `to ${carriedTo}` : ""} testId="figure-carried" />
            ) : (
              <Figure name="Remaining" value={pts(report.remainingPoints)} testId="figure-remaining" />
            )}
            {report.capacity !== undefined && <Figure name="Capacity" value={pts(report.capacity)} testId="figure-capacity" />}
          </dl>
          <BurndownChart report={report} />
          <ProjectVelocity projectId={store.projectId} />
          <TaskList title="Done" tasks={of(SprintTaskOutcome.DONE)} testId="report-done" note={(t) => [joined(t), `done ${when(t.doneTime)}`].filter(Boolean).join(" · ")} />
          <TaskList title="Not done yet" tasks={of(SprintTaskOutcome.OPEN)} testId="report-open" note={joined} />
          <TaskList title={`Carried over to ${carriedTo}`} tasks={of(SprintTaskOutcome.CARRIED_OVER)} testId="report-carried" note={joined} />
          <TaskList title="Removed while it ran" tasks={of(SprintTaskOutcome.REMOVED)} testId="report-removed" note={(t) => `removed ${when(t.leaveTime)}`} />
          <p class="muted small-text">
            {report.frozen
              ? "This record was stored when the sprint completed: later changes to its tasks do not rewrite it."
              : "The record follows every change as it is made."}{" "}
            Outcomes: {Object.values(OUTCOME_NAME).join(", ")}. Days are UTC dates.
          </p>
        </>
      )}
    </main>
  );
}
