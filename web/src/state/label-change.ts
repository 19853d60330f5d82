/** The words the activity uses for a change of a task's labels: which were added and removed,
 * found from the labels before it (undefined when the log no longer holds the earlier state). */

function plural(n: number, one: string): string {
  return n === 1 ? one : `${one}s`;
}

export function labelChange(before: readonly string[] | undefined, after: readonly string[]): string {
  if (!before) return after.length ? `set labels to ${after.join(", ")}` : "cleared the labels";
  const added = after.filter((l) => !before.includes(l));
  const removed = before.filter((l) => !after.includes(l));
  const parts = [];
  if (added.length) parts.push(`added ${plural(added.length, "label")} ${added.join(", ")}`);
  if (removed.length) parts.push(`removed ${added.length ? "" : `${plural(removed.length, "label")} `}${removed.join(", ")}`);
  return parts.join(", ") || "reordered the labels";
}
