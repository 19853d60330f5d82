/** Builders for unit tests: server messages as the real server would send them. */
import { create, SnapshotSchema, TaskSchema, WebSocketMessageSchema, type Task, type WebSocketMessage, TaskStatus } from "../proto";
import type { KeyValueStorage } from "./outbox";

export const PID = "p1";

export function task(id: string, init: Partial<Task> = {}): Task {
  return create(TaskSchema, {
    id,
    projectId: PID,
    key: `P-${id}`,
    title: `Task ${id}`,
    status: TaskStatus.TODO,
    // A key the server's rank library could have made, in the order of the (one-letter) ids.
    rank: `a${id}`,
    version: 1n,
    ...(init as object),
  });
}

export function snapshot(tasks: Task[], seq = 10n, epoch = "e1"): WebSocketMessage {
  return create(WebSocketMessageSchema, {
    payload: { case: "snapshot", value: create(SnapshotSchema, { projectId: PID, seq, epoch, tasks }) },
  });
}

export function updated(seq: bigint, t: Task, paths: string[] = ["title"]): WebSocketMessage {
  return create(WebSocketMessageSchema, {
    payload: { case: "taskUpdated", value: { projectId: PID, seq, task: t, updateMask: { paths } } },
  });
}

export function created(seq: bigint, t: Task): WebSocketMessage {
  return create(WebSocketMessageSchema, {
    payload: { case: "taskCreated", value: { projectId: PID, seq, task: t } },
  });
}

export function ack(messageId: string, t?: Task, seq = 0n): WebSocketMessage {
  return create(WebSocketMessageSchema, {
    messageId,
    payload: { case: "ack", value: { seq, result: t ? { case: "task", value: t } : { case: undefined } } },
  });
}

export function reject(messageId: string, code: number, message: string, current?: Task, fields: string[] = []): WebSocketMessage {
  return create(WebSocketMessageSchema, {
    messageId,
    payload: {
      case: "reject",
      value: {
        error: {
          code,
          message,
          conflictingFields: fields,
          current: current ? { case: "currentTask", value: current } : { case: undefined },
        },
      },
    },
  });
}

export class MemoryStorage implements KeyValueStorage {
  data = new Map<string, string>();
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.data.set(k, v);
  }
  removeItem(k: string) {
    this.data.delete(k);
  }
}
