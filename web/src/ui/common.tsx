/** Small shared pieces: avatars, names of statuses and priorities, presence helpers. */
import { TaskPriority, TaskStatus, type Member, type UserPresence } from "../proto";
import { store } from "../app-context";

export const STATUSES: { id: TaskStatus; name: string }[] = [
  { id: TaskStatus.BACKLOG, name: "Backlog" },
  { id: TaskStatus.TODO, name: "To do" },
  { id: TaskStatus.IN_PROGRESS, name: "In progress" },
  { id: TaskStatus.IN_REVIEW, name: "In review" },
  { id: TaskStatus.DONE, name: "Done" },
];

export const PRIORITIES: { id: TaskPriority; name: string; glyph: string }[] = [
  { id: TaskPriority.NONE, name: "No priority", glyph: "–" },
  { id: TaskPriority.LOW, name: "Low", glyph: "▂" },
  { id: TaskPriority.MEDIUM, name: "Medium", glyph: "▄" },
  { id: TaskPriority.HIGH, name: "High", glyph: "▆" },
  { id: TaskPriority.URGENT, name: "Urgent", glyph: "!" },
];

export function statusName(s: TaskStatus): string {
  return STATUSES.find((x) => x.id === s)?.name ?? "Backlog";
}

export function priorityOf(p: TaskPriority) {
  return PRIORITIES.find((x) => x.id === p) ?? PRIORITIES[0];
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] ?? "?") + (parts[1]?.[0] ?? "")).toUpperCase();
}

/** White or near-black, whichever reads better on a member's colour ("#rrggbb"). */
export function textOn(color: string | undefined): string | undefined {
  const m = /^#([0-9a-f]{6})$/i.exec(color ?? "");
  if (!m) return undefined;
  const n = parseInt(m[1], 16);
  const lin = (c: number) => {
    const v = c / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const l = 0.2126 * lin(n >> 16) + 0.7152 * lin((n >> 8) & 255) + 0.0722 * lin(n & 255);
  // Contrast with white, and with #111 (luminance about 0.0056).
  return 1.05 / (l + 0.05) >= (l + 0.05) / 0.0556 ? "#fff" : "#111";
}

export function Avatar({ member, size = 22, ring = false }: { member?: Pick<Member, "displayName" | "color"> | null; size?: number; ring?: boolean }) {
  const name = member?.displayName || "Unassigned";
  return (
    <span
      class={`avatar${ring ? " ring" : ""}${member ? "" : " empty"}`}
      title={name}
      style={{ width: size, height: size, fontSize: size * 0.42, background: member?.color || undefined, color: textOn(member?.color) }}
    >
      {member ? initials(name) : ""}
    </span>
  );
}

/** Others' presences (one per person) matching a predicate; this connection is left out. */
export function othersWhere(pred: (p: UserPresence) => boolean): UserPresence[] {
  const seen = new Set<string>();
  const out: UserPresence[] = [];
  for (const p of store.presence.values()) {
    if (p.connectionId === store.connectionId || !p.member || !pred(p)) continue;
    if (p.member.id === store.me?.id && p.connectionId === store.connectionId) continue;
    if (seen.has(p.member.id)) continue;
    seen.add(p.member.id);
    out.push(p);
  }
  return out;
}

export function names(list: UserPresence[]): string {
  const n = list.map((p) => p.member?.displayName ?? "Someone");
  return n.length <= 2 ? n.join(" and ") : `${n.slice(0, -1).join(", ")} and ${n.at(-1)}`;
}

/**
 * A ref that focuses its element once, when it is mounted. The autofocus attribute is not enough:
 * browsers honour it once per document, so a palette or form opened a second time would not get
 * the keyboard.
 */
export function focusOnMount(el: HTMLElement | null): void {
  if (el && document.activeElement !== el) queueMicrotask(() => el.focus());
}
