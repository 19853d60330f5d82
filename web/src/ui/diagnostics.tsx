/** The diagnostics page (this computer only): the live server at a glance, drawn from
 * GET /api/v1/diagnostics every couple of seconds. Anyone else gets a 404 from the server, and
 * this page says so. */
import { useEffect, useState } from "preact/hooks";
import { fromJson, timestampDate, DiagnosticsResponseSchema, type DiagnosticsResponse, type DiagnosticsSample } from "../proto";
import type { JsonValue } from "@bufbuild/protobuf";

export const DIAGNOSTICS_PATH = "/api/v1/diagnostics";
const REFRESH_MS = 2000;
/** The charts show this much of the past, the newest sample at the right edge. */
const WINDOW_MINUTES = 5;

type Loaded = { kind: "loading" } | { kind: "ok"; data: DiagnosticsResponse } | { kind: "local-only" } | { kind: "error"; message: string };

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function ago(date: Date, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - date.getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

function ms(seconds: number | undefined): string {
  if (seconds === undefined) return "–";
  const v = seconds * 1000;
  return v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

interface Line {
  name: string;
  cls: string;
  values: (number | undefined)[];
  format: (v: number | undefined) => string;
}

/** A full-width line chart of the last minutes, with the value under the pointer. */
function Chart({ title, lines, times }: { title: string; lines: Line[]; times: Date[] }) {
  const [hover, setHover] = useState<number | null>(null);
  const W = 800;
  const H = 100;
  const n = times.length;
  const max = Math.max(1e-9, ...lines.flatMap((l) => l.values.filter((v): v is number => v !== undefined)));
  const windowMs = WINDOW_MINUTES * 60_000;
  const newest = n ? times[n - 1].getTime() : 0;
  const x = (i: number) => W - ((newest - times[i].getTime()) / windowMs) * W;
  const shown = (i: number) => newest - times[i].getTime() <= windowMs;
  const y = (v: number) => H - (v / max) * (H - 8);
  const at = hover ?? n - 1;
  const summary = lines.map((l) => `${l.name} ${l.format(l.values[n - 1])}`).join(", ");
  return (
    <figure class="diag-chart" data-testid={`chart-${title}`}>
      <figcaption>
        <strong>{title}</strong>
        <span class="legend">
          {lines.map((l) => (
            <span key={l.name} class={`key ${l.cls}`}>
              {l.name} <b>{n ? l.format(l.values[at]) : "–"}</b>
            </span>
          ))}
          {hover !== null && n > 0 && <span class="muted"> at {times[at].toLocaleTimeString()}</span>}
        </span>
      </figcaption>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${title}, the last ${WINDOW_MINUTES} minutes: now ${summary || "no data yet"}`}
        onMouseMove={(e) => {
          if (n === 0) return;
          const box = (e.currentTarget as SVGSVGElement).getBoundingClientRect();
          // The sample nearest the pointer's moment.
          const moment = newest - (1 - (e.clientX - box.left) / box.width) * windowMs;
          let best = n - 1;
          for (let i = 0; i < n; i++) if (Math.abs(times[i].getTime() - moment) < Math.abs(times[best].getTime() - moment)) best = i;
          setHover(best);
        }}
        onMouseLeave={() => setHover(null)}
      >
        <line class="axis" x1="0" y1={H - 0.5} x2={W} y2={H - 0.5} />
        <line class="grid" x1="0" y1={y(max) + 0.5} x2={W} y2={y(max) + 0.5} />
        {lines.map((l) => {
          const points = l.values.map((v, i) => (v === undefined || !shown(i) ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`)).filter(Boolean);
          return <polyline key={l.name} class={`series ${l.cls}`} points={points.join(" ")} fill="none" />;
        })}
        {hover !== null && <line class="cursor" x1={x(hover)} y1="0" x2={x(hover)} y2={H} />}
      </svg>
      <div class="diag-axis muted" aria-hidden="true">
        <span>{WINDOW_MINUTES} min ago</span>
        <span>top {lines[0]?.format(max)}</span>
        <span>now</span>
      </div>
    </figure>
  );
}

function Figure({ label, value, id }: { label: string; value: string; id: string }) {
  return (
    <div class="diag-figure">
      <dt>{label}</dt>
      <dd data-testid={`diag-${id}`}>{value}</dd>
    </div>
  );
}

export function Diagnostics() {
  const [state, setState] = useState<Loaded>({ kind: "loading" });
  useEffect(() => {
    let live = true;
    let timer = 0;
    const load = async () => {
      try {
        const r = await fetch(DIAGNOSTICS_PATH, { headers: { Accept: "application/json" } });
        if (!live) return;
        if (r.status === 404) setState({ kind: "local-only" });
        else if (!r.ok) setState({ kind: "error", message: `the server answered ${r.status}` });
        else setState({ kind: "ok", data: fromJson(DiagnosticsResponseSchema, (await r.json()) as JsonValue, { ignoreUnknownFields: true }) });
      } catch {
        if (live) setState({ kind: "error", message: "the server cannot be reached" });
      }
      if (live) timer = window.setTimeout(load, REFRESH_MS);
    };
    void load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, []);
  if (state.kind === "loading") return <div class="loading">Loading diagnostics…</div>;
  if (state.kind === "local-only")
    return (
      <section class="diagnostics" aria-labelledby="diag-title">
        <h1 id="diag-title">Diagnostics</h1>
        <p class="muted">Diagnostics are shown on the computer that runs Tandem only.</p>
      </section>
    );
  if (state.kind === "error")
    return (
      <section class="diagnostics" aria-labelledby="diag-title">
        <h1 id="diag-title">Diagnostics</h1>
        <p role="alert">Diagnostics could not be read: {state.message}.</p>
      </section>
    );
  const d = state.data;
  const now = new Date();
  const samples: DiagnosticsSample[] = d.samples;
  const times = samples.map((s) => (s.time ? timestampDate(s.time) : now));
  const count = (v: number | undefined) => (v === undefined ? "–" : String(Math.round(v)));
  const rate = (v: number | undefined) => (v === undefined ? "–" : `${Math.round(v)}/s`);
  const started = d.startTime ? timestampDate(d.startTime) : now;
  const backup = d.lastBackupTime ? timestampDate(d.lastBackupTime) : null;
  const rec = d.recording;
  return (
    // Focusable: the page scrolls, and keyboard users scroll it too.
    <section class="diagnostics" aria-labelledby="diag-title" tabIndex={0}>
      <h1 id="diag-title">Diagnostics</h1>
      <dl class="diag-figures">
        <Figure id="version" label="Version" value={d.serverVersion} />
        <Figure id="uptime" label="Running since" value={`${started.toLocaleString()} (${ago(started, now).replace(" ago", "")})`} />
        <Figure id="connections" label="Connections" value={`${d.connections} (${d.subscriptions} subscribed)`} />
        <Figure id="commands" label="Commands" value={`${d.commandsTotal} (${d.rejectsTotal} refused)`} />
        <Figure id="database" label="Database" value={bytes(Number(d.databaseBytes))} />
        <Figure id="backup" label="Last backup" value={backup ? ago(backup, now) : "none yet"} />
        <div class="diag-figure wide">
          <dt>Data folder</dt>
          <dd data-testid="diag-folder">
            <code>{d.dataFolder}</code>
          </dd>
        </div>
        <div class="diag-figure wide">
          <dt>Traffic recording</dt>
          <dd data-testid="diag-recording">
            {rec?.active ? (
              <>
                Recording into <code>{rec.path}</code>: {String(rec.frames)} frames
              </>
            ) : rec?.path ? (
              <>
                Last: <code>{rec.path}</code> ({String(rec.frames)} frames, ended: {rec.endedReason})
              </>
            ) : (
              "Off (start it from the tray, or tandem serve --record FILE)"
            )}
          </dd>
        </div>
      </dl>
      <Chart title="Connections" times={times} lines={[{ name: "open", cls: "s1", values: samples.map((s) => s.connections), format: count }]} />
      <Chart
        title="Messages per second"
        times={times}
        lines={[
          { name: "in", cls: "s1", values: samples.map((s) => Number(s.messagesIn)), format: rate },
          { name: "out", cls: "s2", values: samples.map((s) => Number(s.messagesOut)), format: rate },
        ]}
      />
      <Chart
        title="Command latency"
        times={times}
        lines={[
          { name: "p50", cls: "s1", values: samples.map((s) => s.p50Seconds), format: ms },
          { name: "p95", cls: "s2", values: samples.map((s) => s.p95Seconds), format: ms },
          { name: "p99", cls: "s3", values: samples.map((s) => s.p99Seconds), format: ms },
        ]}
      />
      <h2>Latest warnings and errors</h2>
      {d.errors.length === 0 ? (
        <p class="muted" data-testid="diag-no-errors">
          None since Tandem started.
        </p>
      ) : (
        <table class="diag-errors" data-testid="diag-errors">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Level</th>
              <th scope="col">Where</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {[...d.errors].reverse().map((e, i) => (
              <tr key={i}>
                <td>{e.time ? timestampDate(e.time).toLocaleTimeString() : ""}</td>
                <td>{e.level}</td>
                <td>
                  <code>{e.logger}</code>
                </td>
                <td>{e.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
