/**
 * Desktop notifications, when Settings turned them on and the browser allows them: a task that
 * someone else assigned to this person, as its event arrives.
 */
import type { BoardStore } from "./state/store";
import type { Task, WebSocketMessage } from "./proto";

/** The task an event newly assigns to me by someone else, or null. */
export function assignedToMe(msg: WebSocketMessage, me: string): Task | null {
  const p = msg.payload;
  if (!me) return null;
  if (p.case === "taskCreated" && p.value.actorId !== me && p.value.task?.assigneeId === me) return p.value.task;
  if (p.case === "taskUpdated" && p.value.actorId !== me && p.value.task?.assigneeId === me && p.value.updateMask?.paths.includes("assignee_id")) return p.value.task;
  return null;
}

export function notifyAssignments(store: BoardStore, enabled: () => boolean): () => void {
  return store.onEvent((msg) => {
    const task = assignedToMe(msg, store.me?.id ?? "");
    if (!task || !enabled() || typeof Notification === "undefined" || Notification.permission !== "granted") return;
    const who = store.members.get(msg.payload.case === "taskUpdated" || msg.payload.case === "taskCreated" ? msg.payload.value.actorId : "")?.displayName;
    new Notification(`${task.key} assigned to you`, { body: `${task.title}${who ? ` (by ${who})` : ""}`, tag: task.id });
  });
}
