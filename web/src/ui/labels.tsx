/**
 * Labels managed (#/p/PROJECT/labels): every label of the project, whatever its case, with how
 * many tasks carry it, its colour, a rename and a merge into another label. A rename or merge
 * changes every task carrying the label, for everyone (one RenameLabel command); colours are the
 * project's, shown as a dot on cards and rows.
 */
import { useState } from "preact/hooks";
import { store } from "../app-context";
import { labelKey } from "../filters";
import { BoardWaiting } from "./guidance";
import "./pages.css";

/** A few colours that read on both themes; any other can be picked too. */
export const PALETTE: { color: string; name: string }[] = [
  { color: "#e5484d", name: "Red" },
  { color: "#f76b15", name: "Orange" },
  { color: "#ffc53d", name: "Yellow" },
  { color: "#30a46c", name: "Green" },
  { color: "#12a594", name: "Teal" },
  { color: "#0090ff", name: "Blue" },
  { color: "#6e56cf", name: "Violet" },
  { color: "#d6409f", name: "Pink" },
  { color: "#8b8d98", name: "Grey" },
];

/** A label as shown on a card or row: its colour as a dot beside the name (never as the text's
 * colour, which could not keep its contrast on both themes). */
export function LabelChip({ label }: { label: string }) {
  const color = store.labelColors().get(labelKey(label));
  return (
    <span class="label" data-color={color ?? ""}>
      {color && <span class="label-dot" style={{ background: color }} aria-hidden="true" />}
      {label}
    </span>
  );
}

interface Known {
  name: string;
  count: number;
}

/** Each label of the project once, spelt as most of its tasks spell it, with its task count. */
export function projectLabels(): Known[] {
  const by = new Map<string, Map<string, number>>();
  for (const t of store.viewTasks().values())
    for (const l of t.labels) {
      const m = by.get(labelKey(l)) ?? new Map<string, number>();
      m.set(l, (m.get(l) ?? 0) + 1);
      by.set(labelKey(l), m);
    }
  return [...by.values()]
    .map((m) => ({ name: [...m].sort((a, b) => b[1] - a[1])[0][0], count: [...m.values()].reduce((a, b) => a + b, 0) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function LabelRow({ label, others }: { label: Known; others: Known[] }) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(label.name);
  const color = store.labelColors().get(labelKey(label.name)) ?? "";
  const readOnly = store.readOnly;
  const clean = name.trim();
  const id = `label-${labelKey(label.name).replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <li class="label-row" data-testid="label-row" data-label={label.name}>
      <span class="label-swatch" style={{ background: color || "transparent" }} aria-hidden="true" />
      {editing ? (
        <form
          class="label-rename"
          onSubmit={(e) => {
            e.preventDefault();
            if (clean && clean !== label.name) store.renameLabel(label.name, clean);
            setEditing(false);
          }}
        >
          <input aria-label={`New name for ${label.name}`} value={name} maxLength={50} onInput={(e) => setName((e.target as HTMLInputElement).value)} onKeyDown={(e) => e.key === "Escape" && setEditing(false)} />
          <button class="primary" type="submit" disabled={!clean}>
            Rename
          </button>
          <button type="button" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      ) : (
        <span class="label-name" id={id}>
          {label.name}
        </span>
      )}
      <span class="muted label-count">{label.count === 1 ? "1 task" : `${label.count} tasks`}</span>
      {!readOnly && !editing && (
        <span class="label-actions">
          <span class="swatches" role="group" aria-label={`Colour of ${label.name}`}>
            {PALETTE.map(({ color: c, name: n }) => (
              <button
                key={c}
                class={`swatch${c === color ? " on" : ""}`}
                style={{ background: c }}
                aria-label={n}
                title={c === color ? `${n} (again: no colour)` : n}
                aria-pressed={c === color}
                onClick={() => store.setLabelColor(label.name, c === color ? "" : c)}
              />
            ))}
          </span>
          <button
            onClick={() => {
              setName(label.name);
              setEditing(true);
            }}
            aria-describedby={id}
          >
            Rename
          </button>
          {others.length > 0 && (
            <select
              aria-label={`Merge ${label.name} into`}
              value=""
              onChange={(e) => {
                const into = (e.target as HTMLSelectElement).value;
                if (into) store.renameLabel(label.name, into);
              }}
            >
              <option value="">Merge into…</option>
              {others.map((o) => (
                <option key={o.name} value={o.name}>
                  {o.name}
                </option>
              ))}
            </select>
          )}
        </span>
      )}
    </li>
  );
}

export function LabelsPage() {
  if (!store.project && store.seq === 0n) return <BoardWaiting what="labels" />;
  const labels = projectLabels();
  return (
    <section class="labels-page" aria-labelledby="labels-title">
      <h1 id="labels-title">Labels</h1>
      <p class="muted">A label is one label whatever its case. Renaming one changes every task that carries it; renaming it to another merges the two.</p>
      {labels.length === 0 ? (
        <p class="muted">No task has a label yet.</p>
      ) : (
        <ul class="label-list">
          {labels.map((l) => (
            <LabelRow key={labelKey(l.name)} label={l} others={labels.filter((o) => o !== l)} />
          ))}
        </ul>
      )}
    </section>
  );
}
