/**
 * Conflicts: a command of ours refused because someone else changed the task since our base
 * version. Theirs is kept on screen; ours is kept for the dialog, and "keep mine" re-sends it on
 * top of their version.
 */
import { clone, TaskSchema, type Error as ProtoError, type Task, type TaskStatus, type WebSocketMessage } from "../proto";
import type { PayloadInit } from "./commands";
import { newId } from "./ids";
import { applyMask } from "./overlay";

export interface Conflict {
  id: string;
  taskId: string;
  /** The fields someone else changed since our base version. */
  fields: string[];
  /** The fields we tried to set, by proto name, and our values. */
  mask: string[];
  mine: Task;
  theirs: Task;
  kind: "update" | "move";
  /** For a move: where we wanted the card. */
  move?: { status: TaskStatus; afterTaskId: string; beforeTaskId: string };
}

/** The conflict a refused update or move makes; null for any other command. */
export function conflictOf(payload: WebSocketMessage["payload"], err: ProtoError, theirs: Task): Conflict | null {
  const mine = clone(TaskSchema, theirs);
  const base = { id: newId(), taskId: theirs.id, fields: err.conflictingFields, theirs, mine };
  if (payload.case === "updateTask" && payload.value.task) {
    const mask = payload.value.updateMask?.paths ?? [];
    applyMask(mine, payload.value.task, mask);
    return { ...base, mask, kind: "update" };
  }
  if (payload.case === "moveTask") {
    const { status, afterTaskId, beforeTaskId } = payload.value;
    mine.status = status;
    return { ...base, mask: ["status"], kind: "move", move: { status, afterTaskId, beforeTaskId } };
  }
  return null;
}

/** "Keep mine": our change again, based on the version that beat it. */
export function keepMine(c: Conflict, theirsVersion: bigint): PayloadInit {
  if (c.kind === "move" && c.move) {
    return { case: "moveTask", value: { taskId: c.taskId, baseVersion: theirsVersion, ...c.move } };
  }
  return {
    case: "updateTask",
    value: { taskId: c.taskId, baseVersion: theirsVersion, updateMask: { paths: c.mask }, task: c.mine },
  };
}

/** "Keep both": mine, with a description that is theirs, a rule, then mine, so no text is lost. */
export function keepBoth(c: Conflict): Conflict {
  const mine = clone(TaskSchema, c.mine);
  mine.description = [c.theirs.description, c.mine.description].filter((d) => d.trim()).join("\n\n---\n\n");
  return { ...c, mine };
}
