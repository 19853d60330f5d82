/**
 * A task's activity history: the events of its project's change log that concern it (the task
 * itself and its comments), read through the whole log and then followed on from the last seq
 * read, so a task created long ago still shows its creation.
 */
import type { Comment, Task, WebSocketMessage } from "../proto";
import type { LogHistory } from "./connection";

export interface LogReader {
  history(projectId: string, since?: bigint): Promise<LogHistory>;
}

export interface TaskActivity {
  taskId: string;
  events: WebSocketMessage[];
  /** The last seq read from the log: the next read starts after it. */
  seq: bigint;
  /** False when the oldest events are no longer kept (or too many to read). */
  complete: boolean;
}

export function concernsTask(m: WebSocketMessage, taskId: string): boolean {
  const v = m.payload.value as { task?: Task; taskId?: string; comment?: Comment; tasks?: Task[]; taskIds?: string[] } | undefined;
  if (v?.tasks?.some((t) => t.id === taskId) || v?.taskIds?.includes(taskId)) return true; // restored, archived
  return v?.task?.id === taskId || v?.taskId === taskId || v?.comment?.taskId === taskId;
}

/** Reads a task's activity; given what was read before for the same task, only what follows. */
export async function loadTaskActivity(
  log: LogReader,
  projectId: string,
  taskId: string,
  before?: TaskActivity | null,
): Promise<TaskActivity> {
  const prev = before && before.taskId === taskId ? before : null;
  const h = await log.history(projectId, prev?.seq ?? 0n);
  const mine = h.events.filter((m) => concernsTask(m, taskId));
  return {
    taskId,
    events: prev ? [...prev.events, ...mine] : mine,
    seq: h.seq,
    complete: prev ? prev.complete && h.complete : h.complete,
  };
}
