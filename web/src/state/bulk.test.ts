import { describe, expect, it, vi } from "vitest";
import { create, TaskPriority, TaskStatus, WebSocketMessageSchema, type Task } from "../proto";
import { BoardStore } from "./store";
import { MemoryStorage, snapshot, task } from "./testkit";

function loaded(tasks = [task("a"), task("b"), task("c")]) {
  const s = new BoardStore(new MemoryStorage());
  s.openProject("p1");
  s.applyMessage(snapshot(tasks));
  return s;
}

function bulkAck(messageId: string, tasks: Task[], deletedTaskIds: string[] = []) {
  return create(WebSocketMessageSchema, {
    messageId,
    payload: { case: "ack", value: { seq: 20n, result: { case: "bulk", value: { tasks, deletedTaskIds } } } },
  });
}

describe("bulk edit", () => {
  it("changes several tasks at once as one command and undoes them in one step", () => {
    const s = loaded([task("a", { priority: TaskPriority.LOW }), task("b", { priority: TaskPriority.HIGH }), task("c")]);
    s.bulkUpdate(
      ["a", "b"].map((taskId) => ({ taskId, values: { priority: TaskPriority.URGENT, status: TaskStatus.DONE } })),
      "editing 2 tasks",
    );
    expect(s.outbox.size).toBe(1);
    const sent = s.outbox.first()!;
    expect(sent.msg.payload.case).toBe("bulkEditTasks");
    expect(s.task("a")?.priority).toBe(TaskPriority.URGENT);
    expect(s.task("b")?.status).toBe(TaskStatus.DONE);
    expect(s.task("c")?.status).toBe(TaskStatus.TODO);

    s.applyMessage(
      bulkAck(sent.msg.messageId, [
        task("a", { priority: TaskPriority.URGENT, status: TaskStatus.DONE, version: 2n }),
        task("b", { priority: TaskPriority.URGENT, status: TaskStatus.DONE, version: 2n }),
      ]),
    );
    expect(s.outbox.size).toBe(0);
    expect(s.undo()).toBe(true);
    expect(s.outbox.size).toBe(1);
    const undo = s.outbox.first()!.msg.payload;
    if (undo.case !== "bulkEditTasks") throw new Error(undo.case);
    // Each task gets its own earlier values back, on its current version.
    expect(undo.value.updates.map((u) => [u.taskId, u.baseVersion, u.task?.priority])).toEqual([
      ["a", 2n, TaskPriority.LOW],
      ["b", 2n, TaskPriority.HIGH],
    ]);
    expect(s.task("a")?.priority).toBe(TaskPriority.LOW);
    expect(s.task("b")?.status).toBe(TaskStatus.TODO);
    // And redo makes the change again, as one command.
    expect(s.redo()).toBe(true);
    expect(s.outbox.size).toBe(2);
    expect(s.task("b")?.priority).toBe(TaskPriority.URGENT);
  });

  it("rebases a later edit of a task on the bulk edit's result", () => {
    const s = loaded();
    s.bulkUpdate([{ taskId: "a", values: { title: "Bulk" } }], "editing a");
    s.updateTask("a", { priority: TaskPriority.HIGH });
    const [bulk] = s.outbox.all();
    s.applyMessage(bulkAck(bulk.msg.messageId, [task("a", { title: "Bulk", version: 5n })]));
    const next = s.outbox.first()!.msg.payload;
    expect(next.case).toBe("updateTask");
    expect((next.value as { baseVersion: bigint }).baseVersion).toBe(5n);
  });

  it("holds a bulk delete for the undo window, then sends it as one command", () => {
    vi.useFakeTimers();
    try {
      const s = loaded();
      s.bulkDeleteUndoably(["a", "b"], 1000);
      expect([...s.viewTasks().keys()]).toEqual(["c"]);
      expect(s.outbox.size).toBe(0);
      expect(s.notices.at(-1)?.text).toBe("Deleted 2 tasks");
      expect(s.undo()).toBe(true);
      expect([...s.viewTasks().keys()].sort()).toEqual(["a", "b", "c"]);
      s.bulkDeleteUndoably(["a", "b"], 1000);
      vi.advanceTimersByTime(1001);
      expect(s.outbox.size).toBe(1);
      const sent = s.outbox.first()!.msg.payload;
      if (sent.case !== "bulkEditTasks") throw new Error(sent.case);
      expect(sent.value.deleteTaskIds).toEqual(["a", "b"]);
      s.applyMessage(bulkAck(s.outbox.first()!.msg.messageId, [], ["a", "b"]));
      expect([...s.viewTasks().keys()]).toEqual(["c"]);
    } finally {
      vi.useRealTimers();
    }
  });
});
