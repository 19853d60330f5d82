import { effect } from "@preact/signals";
import { describe, expect, it } from "vitest";
import { TaskStatus } from "../proto";
import { BoardStore } from "./store";
import { ack, MemoryStorage, snapshot, task, updated } from "./testkit";

/** How many times a reader (as a component would) re-ran after it first read the store. */
function reruns(read: () => unknown): { count: () => number; stop: () => void } {
  let n = -1;
  const stop = effect(() => {
    read();
    n++;
  });
  return { count: () => n, stop };
}

function loaded() {
  const s = new BoardStore(new MemoryStorage());
  s.openProject("p1");
  s.applyMessage(snapshot([task("a"), task("b")]));
  return s;
}

describe("what a change redraws", () => {
  it("a reader of one task re-runs only when that task changes", () => {
    const s = loaded();
    const a = reruns(() => s.task("a")?.title);
    s.applyMessage(updated(11n, task("b", { title: "B2", version: 2n })));
    expect(a.count()).toBe(0);
    s.applyMessage(updated(12n, task("a", { title: "A2", version: 2n })));
    expect(a.count()).toBe(1);
    // A pending change of b (the optimistic view) leaves a's reader alone too.
    s.updateTask("b", { title: "B3" });
    expect(a.count()).toBe(1);
    s.updateTask("a", { title: "A3" });
    expect(a.count()).toBe(2);
    expect(s.task("a")?.title).toBe("A3");
    a.stop();
  });

  it("tasks, sprints, notices and the outbox are separate signals", () => {
    const s = loaded();
    const sprints = reruns(() => s.viewSprints());
    const notices = reruns(() => s.notices);
    const column = reruns(() => s.column(TaskStatus.TODO));
    s.moveTask("a", TaskStatus.DONE, "", "");
    expect(column.count()).toBe(1);
    expect(sprints.count()).toBe(0);
    expect(notices.count()).toBe(0);
    const id = s.outbox.first()!.msg.messageId;
    s.applyMessage(ack(id, task("a", { status: TaskStatus.DONE, version: 2n })));
    expect(sprints.count()).toBe(0);
    expect(notices.count()).toBe(0);
    for (const r of [sprints, notices, column]) r.stop();
  });

  it("one message is one change for its readers, however many records it touches", () => {
    const s = loaded();
    const column = reruns(() => s.column(TaskStatus.TODO).map((t) => t.id));
    s.applyMessage(snapshot([task("a"), task("b"), task("c")], 20n));
    expect(column.count()).toBe(1);
    expect(s.column(TaskStatus.TODO).map((t) => t.id)).toEqual(["a", "b", "c"]);
    column.stop();
  });
});
