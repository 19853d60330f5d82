/** One kind of board filter that takes several values: a menu to add one, and each chosen value as
 * a chip that removes it. Any chosen value matches (assigned to Ana or to Ben). */
export interface PickerOption {
  value: string;
  name: string;
}

export function FilterPicker({
  kind,
  any,
  chosen,
  options,
  onChange,
  same = (a, b) => a === b,
}: {
  kind: string;
  /** The menu's text while nothing is chosen ("Anyone"). */
  any: string;
  chosen: string[];
  options: PickerOption[];
  onChange: (values: string[]) => void;
  same?: (a: string, b: string) => boolean;
}) {
  const left = options.filter((o) => !chosen.some((c) => same(c, o.value)));
  const nameOf = (v: string) => options.find((o) => same(o.value, v))?.name ?? v;
  if (chosen.length === 0 && left.length === 0) return null;
  return (
    <span class="filter-picker" data-testid={`filter-${kind.toLowerCase()}`}>
      {chosen.map((v) => (
        <button
          type="button"
          class="chip"
          key={v}
          aria-label={`Remove filter ${kind}: ${nameOf(v)}`}
          title={`Remove this ${kind.toLowerCase()} filter`}
          onClick={() => onChange(chosen.filter((c) => c !== v))}
        >
          {nameOf(v)} <span aria-hidden="true">×</span>
        </button>
      ))}
      {left.length > 0 && (
        <select
          value=""
          aria-label={kind}
          onChange={(e) => {
            const el = e.target as HTMLSelectElement;
            if (el.value) onChange([...chosen, el.value]);
            el.value = "";
          }}
        >
          <option value="">{chosen.length ? `or ${kind.toLowerCase()}…` : any}</option>
          {left.map((o) => (
            <option value={o.value} key={o.value}>
              {o.name}
            </option>
          ))}
        </select>
      )}
    </span>
  );
}
