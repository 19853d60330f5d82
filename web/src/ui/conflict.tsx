/**
 * The conflict dialog: one of our edits was refused because someone else changed the task first.
 * It names who did (from the project's change log), shows both versions as written (line breaks
 * kept) with a copy button on each, and offers theirs, mine, or for a description both.
 */
import { useEffect, useState } from "preact/hooks";
import type { TaskStatus } from "../proto";
import { connection, store } from "../app-context";
import { concernsTask } from "../state/activity";
import type { Conflict } from "../state/store";
import { priorityOf, statusName } from "./common";

function show(field: string, t: Record<string, unknown>): string {
  const key = field.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const v = t[key];
  if (field === "status") return statusName(v as TaskStatus);
  if (field === "priority") return priorityOf(v as number).name;
  if (field === "assignee_id") return store.members.get(v as string)?.displayName ?? "Unassigned";
  if (Array.isArray(v)) return v.join(", ") || "—";
  return v === undefined || v === "" ? "—" : String(v);
}

const RECENT = 500n;

/** Who made the version that beat ours: the change-log event that produced it. */
function useAuthor(c: Conflict): string {
  const [name, setName] = useState("");
  useEffect(() => {
    let live = true;
    setName("");
    // The change that beat ours is recent: the last stretch of the log is enough to find it.
    const since = store.seq > RECENT ? store.seq - RECENT : 0n;
    connection()
      .history(c.theirs.projectId, since)
      .then((h) => {
        const mine = store.me?.id;
        const events = h.events.filter((m) => concernsTask(m, c.taskId));
        const made = events.filter((m) => {
          const v = m.payload.value as { task?: { version: bigint }; actorId?: string };
          return v.task && String(v.task.version) === String(c.theirs.version);
        });
        const by = [...made, ...events.reverse()]
          .map((m) => (m.payload.value as { actorId?: string }).actorId ?? "")
          .find((id) => id && id !== mine);
        const member = by ? store.members.get(by) : undefined;
        if (live && member) setName(member.displayName);
      })
      // Without the log the dialog still works; it just cannot say who.
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [c.id]);
  return name;
}

/** Copies one side's value; "what" ("my description") is read out after "Copy" or "Copied". */
function CopyButton({ text, what }: { text: string; what: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      class="link small-text copy"
      onClick={() =>
        void navigator.clipboard.writeText(text).then(
          () => setDone(true),
          () => setDone(false),
        )
      }
    >
      {done ? "Copied" : "Copy"}
      <span class="sr-only"> {what}</span>
    </button>
  );
}

export function ConflictDialog() {
  const c = store.conflicts[0];
  return c ? <ConflictView key={c.id} c={c} /> : null;
}

function ConflictView({ c }: { c: Conflict }) {
  const author = useAuthor(c);
  const who = author || "Someone";
  const fields = c.mask;
  const descriptionDiffers = fields.includes("description") && c.theirs.description !== c.mine.description;
  return (
    <div class="modal-backdrop" role="dialog" aria-modal="true" aria-labelledby="conflict-title" data-testid="conflict">
      <div class="modal wide">
        <h2 id="conflict-title">{who} changed this at the same time</h2>
        <p class="muted">
          {c.theirs.key} · {c.theirs.title}. Choose which version to keep; copy either before you choose.
        </p>
        <table class="conflict-table">
          <thead>
            <tr>
              <th />
              <th>{author ? `${author}'s (saved)` : "Theirs (saved)"}</th>
              <th>Mine</th>
            </tr>
          </thead>
          <tbody>
            {fields.map((f) => {
              const name = f.replace(/_id$/, "").replace(/_/g, " ");
              const theirs = show(f, c.theirs);
              const mine = show(f, c.mine);
              return (
                <tr key={f} class={c.fields.includes(f) ? "differs" : ""}>
                  <th>{name}</th>
                  <td>
                    <div class="conflict-value" data-testid="theirs">{theirs}</div>
                    <CopyButton text={theirs} what={`their ${name}`} />
                  </td>
                  <td>
                    <div class="conflict-value" data-testid="mine">{mine}</div>
                    <CopyButton text={mine} what={`my ${name}`} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        <div class="row end">
          <button onClick={() => store.resolveConflict(c.id, "theirs")}>Take theirs</button>
          {descriptionDiffers && (
            <button onClick={() => store.resolveConflict(c.id, "both")} title="Their description, then mine below it">
              Keep both descriptions
            </button>
          )}
          <button class="primary" onClick={() => store.resolveConflict(c.id, "mine")}>
            Keep mine
          </button>
        </div>
      </div>
    </div>
  );
}
