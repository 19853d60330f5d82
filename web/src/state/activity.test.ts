import { describe, expect, it } from "vitest";
import { Connection } from "./connection";
import { loadTaskActivity } from "./activity";
import { BoardStore } from "./store";
import { MemoryStorage } from "./testkit";

/** One change-log event as the server's JSON has it: task X touched at seq n. */
function jsonEvent(seq: number, taskId: string, kind: "taskCreated" | "taskUpdated" = "taskUpdated") {
  const task = { id: taskId, projectId: "p1", title: `Task ${taskId} @${seq}`, status: "TASK_STATUS_TODO", version: String(seq) };
  return { [kind]: { projectId: "p1", seq: String(seq), actorId: "m1", task, ...(kind === "taskUpdated" ? { updateMask: "title" } : {}) } };
}

/** A fake events endpoint over a log of `head` events, answering at most `pageSize` a call. */
function fakeLog(head: () => number, pageSize: number, at: (seq: number) => object) {
  const calls: string[] = [];
  const fetchImpl = (async (url: string) => {
    calls.push(url);
    const since = Number(/since=(\d+)/.exec(url)?.[1] ?? "0");
    const events = [];
    for (let s = since + 1; s <= Math.min(head(), since + pageSize); s++) events.push(at(s));
    return new Response(JSON.stringify({ projectId: "p1", epoch: "e1", headSeq: String(head()), events }), {
      status: 200,
      headers: { "Content-Type": "application/json" },
    });
  }) as unknown as typeof fetch;
  const conn = new Connection({ store: new BoardStore(new MemoryStorage()), wsUrl: "ws://x/ws", clientId: "b1", displayName: "Ana", fetch: fetchImpl });
  return { conn, calls };
}

describe("task activity", () => {
  it("pages through the whole change log: the creation on page 1 and a change on page 3 both show", async () => {
    // 2,500 events in pages of 1,000: task T is created at seq 1 and renamed at seq 2,400;
    // every other event is about another task.
    const { conn, calls } = fakeLog(() => 2500, 1000, (s) =>
      s === 1 ? jsonEvent(1, "T", "taskCreated") : s === 2400 ? jsonEvent(2400, "T") : jsonEvent(s, "other"),
    );
    const a = await loadTaskActivity(conn, "p1", "T");
    expect(calls).toEqual([
      "/api/v1/projects/p1/events?since=0",
      "/api/v1/projects/p1/events?since=1000",
      "/api/v1/projects/p1/events?since=2000",
    ]);
    expect(a.events.map((m) => m.payload.case)).toEqual(["taskCreated", "taskUpdated"]);
    expect(a.events.map((m) => (m.payload.value as { seq: bigint }).seq)).toEqual([1n, 2400n]);
    expect(a.complete).toBe(true);
    expect(a.seq).toBe(2500n);
  });

  it("goes on from the last seq read, keeping what it had", async () => {
    let head = 2500;
    const log = fakeLog(() => head, 1000, (s) => (s === 5 ? jsonEvent(5, "T", "taskCreated") : s === 2700 ? jsonEvent(2700, "T") : jsonEvent(s, "other")));
    const a = await loadTaskActivity(log.conn, "p1", "T");
    expect(a.events).toHaveLength(1);
    head = 3000;
    log.calls.length = 0;
    const b = await loadTaskActivity(log.conn, "p1", "T", a);
    expect(log.calls).toEqual(["/api/v1/projects/p1/events?since=2500"]);
    expect(b.events.map((m) => (m.payload.value as { seq: bigint }).seq)).toEqual([5n, 2700n]);
    // Another task's activity starts from the beginning again.
    log.calls.length = 0;
    const c = await loadTaskActivity(log.conn, "p1", "other", b);
    expect(log.calls[0]).toBe("/api/v1/projects/p1/events?since=0");
    expect(c.events).toHaveLength(2998);
  });

  it("says the history is incomplete when the oldest events are no longer kept", async () => {
    const fetchImpl = (async () =>
      new Response(JSON.stringify({ projectId: "p1", epoch: "e1", headSeq: "9", resyncRequired: true }), { status: 200 })) as unknown as typeof fetch;
    const conn = new Connection({ store: new BoardStore(new MemoryStorage()), wsUrl: "ws://x/ws", clientId: "b1", displayName: "Ana", fetch: fetchImpl });
    const a = await loadTaskActivity(conn, "p1", "T");
    expect(a.complete).toBe(false);
    expect(a.events).toEqual([]);
  });
});
