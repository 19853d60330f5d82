/** A task's due date on its card: short ("Dec 3"), and marked overdue once the day has passed
 * while the task is not done. */
import { dueState } from "../state/due";

export function DueDate({ date, done }: { date: string; done: boolean }) {
  const d = dueState(date, done, new Date());
  if (!d) return null;
  return (
    <span class={`due ${d.state}`} data-testid="due" data-state={d.state} title={d.long}>
      {d.state === "overdue" && <span aria-hidden="true">⚠ </span>}
      {d.short}
      <span class="sr-only">{d.state === "overdue" ? `, overdue, was due ${d.long}` : `, due ${d.long}`}</span>
    </span>
  );
}
