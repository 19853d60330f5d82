import { describe, expect, it } from "vitest";
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

  it("sends a bulk delete as one command (to the trash) and undoes it in one step", () => {
    const s = loaded();
    s.bulkDeleteUndoably(["a", "b"]);
    expect([...s.viewTasks().keys()]).toEqual(["c"]);
    expect(s.outbox.size).toBe(1);
    const sent = s.outbox.first()!.msg.payload;
    if (sent.case !== "bulkEditTasks") throw new Error(sent.case);
    expect(sent.value.deleteTaskIds).toEqual(["a", "b"]);
    expect(s.notices.at(-1)?.text).toBe("Deleted 2 tasks");
    s.applyMessage(bulkAck(s.outbox.first()!.msg.messageId, [], ["a", "b"]));
    expect([...s.viewTasks().keys()]).toEqual(["c"]);
    expect(s.undo()).toBe(true);
    // One command brings both back (all or none), last deleted first.
    const [restore, ...more] = s.outbox.all().map((e) => e.msg.payload);
    expect(more).toEqual([]);
    if (restore.case !== "restoreTasks") throw new Error(restore.case);
    expect(restore.value.taskIds).toEqual(["b", "a"]);
    s.applyMessage(bulkAck(s.outbox.first()!.msg.messageId, [task("a"), task("b")]));
    expect([...s.viewTasks().keys()].sort()).toEqual(["a", "b", "c"]);
    // Redo deletes both again, as one bulk edit.
    expect(s.redo()).toBe(true);
    const [again, ...rest] = s.outbox.all().map((e) => e.msg.payload);
    expect(rest).toEqual([]);
    if (again.case !== "bulkEditTasks") throw new Error(again.case);
    expect(again.value.deleteTaskIds).toEqual(["a", "b"]);
  });
});
