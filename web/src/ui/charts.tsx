/**
 * The sprint charts, drawn with uPlot: the burndown (ideal line, scope stepping up and down as
 * work is added or removed, remaining work) and velocity (committed against completed points per
 * sprint, with the average). Both fill their container's width, take their colours from the
 * page's theme (light or dark, redrawn when it changes), and show each value on hover in the
 * legend. A table of the same figures sits under each, for screen readers and for reading.
 */
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./report.css";
import { useEffect, useRef, useState } from "preact/hooks";
import type { SprintReport, VelocityResponse } from "../proto";

interface Colors {
  text: string;
  muted: string;
  line: string;
  accent: string;
  scope: string;
  done: string;
  soft: string;
}

function colors(): Colors {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  return {
    text: v("--text", "#1d1e22"),
    muted: v("--muted", "#6b6f7a"),
    line: v("--line", "#e4e5e9"),
    accent: v("--accent", "#5e6ad2"),
    scope: v("--chart-scope", "#c05621"),
    done: v("--chart-done", "#2f855a"),
    soft: v("--chart-committed", "#a3aae8"),
  };
}

/** Bumps when the page switches between light and dark, so charts redraw in the new colours. */
function useScheme(): number {
  const [n, setN] = useState(0);
  useEffect(() => {
    const mq = window.matchMedia?.("(prefers-color-scheme: dark)");
    if (!mq) return;
    const on = () => setN((k) => k + 1);
    mq.addEventListener("change", on);
    return () => mq.removeEventListener("change", on);
  }, []);
  return n;
}

/** One uPlot chart in a div as wide as its container; rebuilt when `key` changes. */
function UChart({ make, data, chartKey, testId }: { make: (c: Colors, width: number) => uPlot.Options; data: uPlot.AlignedData; chartKey: string; testId: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const scheme = useScheme();
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(240, el.clientWidth);
    const u = new uPlot(make(colors(), width), data, el);
    plot.current = u;
    // Which scheme it was drawn in: a test (or a curious reader) can tell a redraw happened.
    el.dataset.drawnFor = window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
    const ro = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(() => u.setSize({ width: Math.max(240, el.clientWidth), height: u.height }));
    ro?.observe(el);
    return () => {
      ro?.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [chartKey, scheme]);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);
  return <div class="chart" ref={box} data-testid={testId} />;
}

/** The chart's figures as a table, folded away under a summary: each row is [key, name, ...values]. */
function FiguresTable({ summary, head, rows, testId }: { summary: string; head: string[]; rows: (string | number)[][]; testId: string }) {
  return (
    <details class="chart-table">
      <summary>{summary}</summary>
      <table>
        <thead>
          <tr>
            {head.map((h) => (
              <th key={h} scope="col">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map(([key, name, ...values]) => (
            <tr key={key} data-testid={testId}>
              <th scope="row">{name}</th>
              {values.map((v, i) => (
                <td key={i}>{v}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

function shortDate(iso: string): string {
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(y, m - 1, d).toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

const axis = (c: Colors): uPlot.Axis => ({
  stroke: c.muted,
  grid: { stroke: c.line, width: 1 },
  ticks: { stroke: c.line, width: 1 },
  font: "11px system-ui, sans-serif",
});

const pts = (n: number | null | undefined) => (n === null || n === undefined ? "–" : `${Math.round(n * 100) / 100} pts`);

/** The burndown's series, from the report's days: index, ideal, scope, remaining (null ahead). */
export function burndownData(r: SprintReport): uPlot.AlignedData {
  const x = r.days.map((_, i) => i);
  return [
    x,
    r.days.map((d) => d.ideal),
    r.days.map((d) => (d.elapsed ? d.scope : null)),
    r.days.map((d) => (d.elapsed ? d.remaining : null)),
  ];
}

export function BurndownChart({ report }: { report: SprintReport }) {
  const days = report.days;
  const data = burndownData(report);
  const top = Math.max(1, report.committedPoints, ...days.map((d) => (d.elapsed ? d.scope : 0)));
  const label = (i: number) => (days[i] ? shortDate(days[i].date) : "");
  const stepped = uPlot.paths.stepped!({ align: 1 });
  const make = (c: Colors, width: number): uPlot.Options => ({
    width,
    height: 280,
    scales: { x: { time: false, range: [0, Math.max(1, days.length - 1)] }, y: { range: [0, Math.ceil(top * 1.1)] } },
    cursor: { points: { size: 8 } },
    legend: { live: true },
    axes: [
      { ...axis(c), values: (_u, splits) => splits.map((s) => (Number.isInteger(s) ? label(s) : "")), splits: () => days.map((_, i) => i).filter((i) => days.length <= 12 || i % Math.ceil(days.length / 12) === 0) },
      { ...axis(c), size: 44, values: (_u, splits) => splits.map((s) => String(s)) },
    ],
    series: [
      { label: "Day", value: (_u, v) => (v === null ? "–" : label(v)) },
      { label: "Ideal", stroke: c.muted, width: 1.5, dash: [6, 5], points: { show: false }, value: (_u, v) => pts(v) },
      {
        label: "Scope",
        stroke: c.scope,
        width: 2,
        paths: stepped,
        // A dot on each day scope was added, so the step up stands out from the line.
        points: { show: true, size: 7, fill: c.scope, filter: (_u, _s, show) => (show ? days.flatMap((d, i) => (d.added > 0 || d.removed > 0 ? [i] : [])) : null) },
        value: (_u, v) => pts(v),
      },
      { label: "Remaining", stroke: c.accent, width: 2.5, paths: stepped, points: { show: true, size: 6, fill: c.accent }, value: (_u, v) => pts(v) },
    ],
  });
  const elapsed = days.filter((d) => d.elapsed);
  const scope = report.committedPoints + report.addedPoints - report.removedPoints;
  const words = `${report.remainingPoints} of ${scope} pts remaining · ${report.committedPoints} committed, +${report.addedPoints} added, −${report.removedPoints} removed`;
  return (
    <figure class="chart-card" aria-label={`Burndown of ${report.sprint?.name ?? "the sprint"}: ${words}`} data-testid="burndown">
      <figcaption>
        <b>Burndown</b>
        <span class="muted"> · {words}</span>
      </figcaption>
      {days.length === 0 ? (
        <p class="muted small-text">The burndown starts when the sprint starts.</p>
      ) : (
        <UChart make={make} data={data} chartKey={`${days.length}:${top}:${days[0]?.date}`} testId="burndown-chart" />
      )}
      {elapsed.length > 0 && (
        <FiguresTable
          summary="The figures, day by day"
          head={["Day", "Added", "Removed", "Completed", "Scope", "Remaining", "Ideal"]}
          testId="burndown-day"
          rows={elapsed.map((d) => [d.date, shortDate(d.date), d.added || "", d.removed || "", d.completed || "", d.scope, d.remaining, Math.round(d.ideal * 10) / 10])}
        />
      )}
    </figure>
  );
}

export function VelocityChart({ velocity }: { velocity: VelocityResponse }) {
  const list = velocity.sprints;
  const n = list.length;
  const data: uPlot.AlignedData = [
    list.map((_, i) => i),
    list.map((s) => s.committedPoints),
    list.map((s) => s.completedPoints),
    list.map(() => velocity.averageCompleted),
  ];
  const top = Math.max(1, ...list.map((s) => Math.max(s.committedPoints, s.completedPoints)));
  const name = (i: number) => list[i]?.name ?? "";
  const make = (c: Colors, width: number): uPlot.Options => ({
    width,
    height: 240,
    scales: { x: { time: false, range: [-0.5, n - 0.5] }, y: { range: [0, Math.ceil(top * 1.15)] } },
    legend: { live: true },
    cursor: { points: { show: false } },
    // The average is a dashed line across the whole chart (a line series of one sprint would be a dot).
    hooks: {
      draw: [
        (u) => {
          const y = Math.round(u.valToPos(velocity.averageCompleted, "y", true));
          const ctx = u.ctx;
          const px = devicePixelRatio || 1;
          ctx.save();
          ctx.strokeStyle = c.done;
          ctx.lineWidth = 1.5 * px;
          ctx.setLineDash([5 * px, 4 * px]);
          ctx.beginPath();
          ctx.moveTo(u.bbox.left, y);
          ctx.lineTo(u.bbox.left + u.bbox.width, y);
          ctx.stroke();
          ctx.restore();
        },
      ],
    },
    axes: [
      { ...axis(c), splits: () => list.map((_, i) => i), values: (_u, splits) => splits.map((s) => name(s)) },
      { ...axis(c), size: 44, values: (_u, splits) => splits.map((s) => String(s)) },
    ],
    series: [
      { label: "Sprint", value: (_u, v) => (v === null ? "–" : name(Math.round(v))) },
      { label: "Committed", stroke: c.soft, fill: c.soft, width: 1, paths: uPlot.paths.bars!({ size: [0.36, 60], align: -1 }), points: { show: false }, value: (_u, v) => pts(v) },
      { label: "Completed", stroke: c.accent, fill: c.accent, width: 1, paths: uPlot.paths.bars!({ size: [0.36, 60], align: 1 }), points: { show: false }, value: (_u, v) => pts(v) },
      { label: "Average completed", stroke: c.done, width: 1.5, dash: [5, 4], paths: () => null, points: { show: false }, value: (_u, v) => pts(v) },
    ],
  });
  const summary = n
    ? `Velocity of the last ${n} ${n === 1 ? "sprint" : "sprints"}: ${Math.round(velocity.averageCompleted * 10) / 10} points completed on average, of ${Math.round(velocity.averageCommitted * 10) / 10} committed`
    : "";
  return (
    <figure class="chart-card" aria-label={summary || "Velocity"} data-testid="velocity">
      <figcaption>
        <b>Velocity</b>
        {n > 0 && <span class="muted"> · {summary.split(": ")[1]}</span>}
      </figcaption>
      {n === 0 ? (
        <p class="muted small-text">Velocity shows once a sprint has been completed.</p>
      ) : (
        <>
          <UChart make={make} data={data} chartKey={`${n}:${top}:${list.map((s) => s.sprintId).join()}`} testId="velocity-chart" />
          <FiguresTable
            summary="The figures, sprint by sprint"
            head={["Sprint", "Committed", "Completed", "Added", "Removed", "Carried over"]}
            testId="velocity-sprint"
            rows={list.map((s) => [s.sprintId, s.name, s.committedPoints, s.completedPoints, s.addedPoints, s.removedPoints, s.carriedOverPoints])}
          />
        </>
      )}
    </figure>
  );
}
