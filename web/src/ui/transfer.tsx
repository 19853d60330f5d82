/**
 * Your data in and out: download the workspace (or a project, or a project's tasks as CSV), and
 * import a file with a preview (what will be created, how its columns map, changeable) and a
 * progress bar. The server does the reading (`previewImport`, `importWorkspace`); both are sent
 * as binary protobuf, so a large file travels as its own bytes.
 */
import { useRef, useState } from "preact/hooks";
import { ImportFormat, type ImportSummary } from "../proto";
import { clientId, connection, displayName, go, store } from "../app-context";
import { preview, upload, type ImportRequest } from "../state/imports";
import "./transfer.css";

const FORMATS: { id: ImportFormat; name: string; noun: string }[] = [
  { id: ImportFormat.UNSPECIFIED, name: "Detect from the file", noun: "file" },
  { id: ImportFormat.TANDEM, name: "Tandem export", noun: "Tandem export" },
  { id: ImportFormat.TRELLO, name: "Trello board (JSON)", noun: "Trello board" },
  { id: ImportFormat.JIRA_CSV, name: "Jira CSV", noun: "Jira CSV export" },
  { id: ImportFormat.LINEAR_CSV, name: "Linear CSV", noun: "Linear CSV export" },
  { id: ImportFormat.CSV, name: "CSV (map the columns)", noun: "CSV file" },
  { id: ImportFormat.FOCALBOARD, name: "Focalboard archive", noun: "Focalboard archive" },
];
const CSV_FORMATS = new Set([ImportFormat.JIRA_CSV, ImportFormat.LINEAR_CSV, ImportFormat.CSV]);

/** The fields a CSV column can fill, as the server names them, and how the page shows them. */
const FIELDS: [string, string][] = [
  ["title", "Title"],
  ["description", "Description"],
  ["status", "Status"],
  ["priority", "Priority"],
  ["assignee", "Assignee"],
  ["points", "Story points"],
  ["labels", "Labels"],
  ["due_date", "Due date"],
  ["sprint", "Sprint"],
  ["parent", "Parent"],
  ["id", "Id (for parents)"],
  ["created", "Created"],
  ["updated", "Updated"],
];

function formatName(f: ImportFormat): string {
  return FORMATS.find((x) => x.id === f)?.name ?? "file";
}

function Summary({ summary, verb }: { summary: ImportSummary; verb: string }) {
  return (
    <>
      <table class="transfer-table" aria-label={`${verb} projects`}>
        <thead>
          <tr><th>Project</th><th>Tasks</th><th>Sprints</th><th>Comments</th></tr>
        </thead>
        <tbody>
          {summary.projects.map((p) => (
            <tr key={p.project?.id} data-testid="import-project">
              <td>
                <span class="key">{p.project?.key}</span> {p.project?.name}
                {p.remapped && <span class="muted"> (new ids)</span>}
              </td>
              <td>{p.tasks}</td>
              <td>{p.sprints}</td>
              <td>{p.comments}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {summary.members > 0 && <p class="muted">{summary.members} people become members.</p>}
      {summary.notes.length > 0 && (
        <ul class="transfer-notes">
          {summary.notes.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      )}
    </>
  );
}

function ColumnMap({ summary, onChange }: { summary: ImportSummary; onChange: (map: Record<string, string>) => void }) {
  const chosen = Object.fromEntries(summary.columns.map((c) => [c.column, c.field]));
  const known = new Set(FIELDS.map(([f]) => f));
  const choose = (column: string, field: string) => {
    const next = { ...chosen };
    for (const [c, f] of Object.entries(next)) if (field && f === field) next[c] = "";
    next[column] = field;
    onChange(Object.fromEntries(Object.entries(next).filter(([, f]) => f).map(([c, f]) => [f, c])));
  };
  return (
    <table class="transfer-table" aria-label="Column mapping">
      <thead>
        <tr><th>Column in the file</th><th>Becomes</th></tr>
      </thead>
      <tbody>
        {summary.columns.map((c) => (
          <tr key={c.column}>
            <td>{c.column}</td>
            <td>
              <select aria-label={`Field for column ${c.column}`} value={c.field} onChange={(e) => choose(c.column, (e.target as HTMLSelectElement).value)}>
                <option value="">Not imported</option>
                {FIELDS.map(([f, name]) => (
                  <option key={f} value={f}>{name}</option>
                ))}
                {c.field && !known.has(c.field) && <option value={c.field}>{c.field.replace(/_/g, " ")}</option>}
              </select>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const sender = () => ({ clientId: clientId(), displayName: displayName.value });

type Phase = "choose" | "previewing" | "ready" | "uploading" | "importing" | "done";

export function ImportDialog({ onClose }: { onClose: () => void }) {
  const [phase, setPhase] = useState<Phase>("choose");
  const [error, setError] = useState("");
  const [req, setReq] = useState<ImportRequest | null>(null);
  const [summary, setSummary] = useState<ImportSummary | null>(null);
  const [progress, setProgress] = useState(0);
  const asked = useRef(0);

  const look = async (next: ImportRequest) => {
    const n = ++asked.current;
    setReq(next);
    setError("");
    setPhase("previewing");
    try {
      const found = await preview(next, sender());
      if (n !== asked.current) return;
      setSummary(found);
      setPhase("ready");
    } catch (e) {
      if (n !== asked.current) return;
      setSummary(null);
      setError((e as Error).message);
      setPhase("choose");
    }
  };
  const pick = async (file: File | undefined) => {
    if (!file) return;
    const data = new Uint8Array(await file.arrayBuffer());
    void look({ data, format: ImportFormat.UNSPECIFIED, fileName: file.name, columnMap: {}, projectKey: "" });
  };
  const start = async () => {
    if (!req || !summary) return;
    setPhase("uploading");
    setProgress(0);
    try {
      const done = await upload({ ...req, format: req.format || summary.format }, sender(), (sent) => {
        setProgress(sent);
        if (sent >= 1) setPhase("importing");
      });
      setSummary(done);
      setPhase("done");
      connection().listProjects().then((l) => store.setProjects(l), () => {});
    } catch (e) {
      setError((e as Error).message);
      setPhase("ready");
    }
  };
  const busy = phase === "uploading" || phase === "importing" || phase === "previewing";
  const csv = summary !== null && CSV_FORMATS.has(summary.format);
  return (
    <div class="modal-backdrop" role="dialog" aria-modal="true" aria-labelledby="import-title" onKeyDown={(e) => e.key === "Escape" && !busy && onClose()}>
      <div class="modal transfer" data-phase={phase}>
        <h2 id="import-title">Import</h2>
        <p class="muted">A Tandem export, a Trello board (JSON), a Jira or Linear CSV, any CSV, or a Focalboard archive. Nothing is created until you import, and then all of it or nothing.</p>
        {phase !== "done" && (
          <input type="file" aria-label="File to import" accept=".json,.csv,.tsv,.txt,.zip,.boardarchive,.jsonl,.focalboard" disabled={busy} onChange={(e) => void pick((e.target as HTMLInputElement).files?.[0])} />
        )}
        {error && <p class="transfer-error" role="alert">{error}</p>}
        {phase === "previewing" && <p class="muted" role="status">Reading the file…</p>}
        {summary && req && (phase === "ready" || phase === "uploading" || phase === "importing") && (
          <section aria-label="Preview">
            <div class="transfer-row">
              <label>
                Format
                <select aria-label="Format" value={req.format} disabled={busy} onChange={(e) => void look({ ...req, format: Number((e.target as HTMLSelectElement).value) as ImportFormat, columnMap: {} })}>
                  {FORMATS.map((f) => (
                    <option key={f.id} value={f.id}>{f.id === ImportFormat.UNSPECIFIED ? `${f.name} (${formatName(summary.format)})` : f.name}</option>
                  ))}
                </select>
              </label>
              <label>
                Project key
                <input class="key-input" aria-label="Project key" placeholder={summary.projects[0]?.project?.key ?? "KEY"} value={req.projectKey} maxLength={10} disabled={busy}
                  onChange={(e) => void look({ ...req, projectKey: (e.target as HTMLInputElement).value.toUpperCase().replace(/[^A-Z0-9]/g, "") })} />
              </label>
            </div>
            <h3>Will create</h3>
            <Summary summary={summary} verb="Will create" />
            {summary.sampleTasks.length > 0 && (
              <p class="transfer-sample">First tasks: {summary.sampleTasks.map((t) => `${t.key} ${t.title}`).join(" · ")}</p>
            )}
            {csv && <ColumnMap summary={summary} onChange={(columnMap) => void look({ ...req, columnMap })} />}
          </section>
        )}
        {(phase === "uploading" || phase === "importing") && (
          <div role="status">
            <progress class="transfer-progress" aria-label="Import progress" max={1} value={phase === "importing" ? undefined : progress} />
            <p class="muted">{phase === "uploading" ? `Sending the file… ${Math.round(progress * 100)}%` : "Importing in one transaction…"}</p>
          </div>
        )}
        {phase === "done" && summary && (
          <section class="transfer-done" aria-label="Imported">
            <p>Imported from the {FORMATS.find((f) => f.id === summary.format)?.noun ?? "file"}:</p>
            <Summary summary={summary} verb="Imported" />
          </section>
        )}
        <div class="row end">
          {phase === "done" ? (
            <>
              {summary?.projects[0]?.project && <button onClick={() => { onClose(); go(summary.projects[0].project!.id, "", "board"); }}>Open {summary.projects[0].project.key}</button>}
              <button class="primary" onClick={onClose}>Done</button>
            </>
          ) : (
            <>
              <button onClick={onClose} disabled={phase === "uploading" || phase === "importing"}>Cancel</button>
              <button class="primary" disabled={phase !== "ready" || !summary?.projects.length} onClick={() => void start()}>
                Import
              </button>
            </>
          )}
        </div>
      </div>
    </div>
  );
}

/** The projects page's export links and import button. */
export function TransferButtons() {
  const [importing, setImporting] = useState(false);
  const projects = store.viewProjects();
  return (
    <div class="transfer-buttons">
      <details class="export-menu">
        <summary class="button">Export</summary>
        <ul class="menu-list">
          <li>
            <a href="/api/v1/export?format=zip" download>Everything with files (ZIP)</a>
            {" · "}
            <a href="/api/v1/export" download aria-label="Everything (JSON only)">JSON only</a>
          </li>
          {projects.map((p) => (
            <li key={p.id}>
              <a href={`/api/v1/export?project=${encodeURIComponent(p.key)}&format=zip`} download>{p.key} with files (ZIP)</a>
              {" · "}
              <a href={`/api/v1/export?project=${encodeURIComponent(p.key)}`} download aria-label={`${p.key} (JSON only)`}>JSON</a>
              {" · "}
              <a href={`/api/v1/export?project=${encodeURIComponent(p.key)}&format=csv`} download>{p.key} tasks (CSV)</a>
            </li>
          ))}
        </ul>
      </details>
      {!store.readOnly && <button onClick={() => setImporting(true)}>Import…</button>}
      {importing && <ImportDialog onClose={() => setImporting(false)} />}
    </div>
  );
}
