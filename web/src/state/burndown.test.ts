import { describe, expect, it } from "vitest";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { create, TaskStatus, WebSocketMessageSchema } from "../proto";
import { computeBurndown } from "./burndown";
import { task } from "./testkit";

function ev(kind: "taskCreated" | "taskUpdated", id: string, status: TaskStatus, at: Date, seq: bigint) {
  const t = task(id, { status, updateTime: timestampFromDate(at), createTime: timestampFromDate(at) });
  return create(WebSocketMessageSchema, { payload: { case: kind, value: { projectId: "p1", seq, task: t } } });
}

describe("burndown", () => {
  it("counts the points not done at the end of each day from the change log", () => {
    const a = task("a", { storyPoints: 3, status: TaskStatus.DONE, sprintId: "s" });
    const b = task("b", { storyPoints: 5, status: TaskStatus.DONE, sprintId: "s" });
    const c = task("c", { storyPoints: 2, status: TaskStatus.IN_PROGRESS, sprintId: "s" });
    const events = [
      ev("taskCreated", "a", TaskStatus.TODO, new Date(2025, 0, 6, 9), 1n),
      ev("taskCreated", "b", TaskStatus.TODO, new Date(2025, 0, 6, 9), 2n),
      ev("taskCreated", "c", TaskStatus.TODO, new Date(2025, 0, 6, 9), 3n),
      ev("taskUpdated", "a", TaskStatus.DONE, new Date(2025, 0, 7, 15), 4n),
      ev("taskUpdated", "b", TaskStatus.DONE, new Date(2025, 0, 8, 23, 59), 5n),
    ];
    const bd = computeBurndown([a, b, c], events, "2025-01-06", "2025-01-10", new Date(2025, 0, 9, 12));
    expect(bd.days).toEqual(["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-09", "2025-01-10"]);
    expect(bd.total).toBe(10);
    expect(bd.remaining).toEqual([10, 7, 2, 2, null]);
    expect(bd.ideal).toEqual([10, 7.5, 5, 2.5, 0]);
    expect(bd.now).toBe(2);
  });

  it("runs on to today when the sprint overran its end date", () => {
    const a = task("a", { storyPoints: 4, status: TaskStatus.DONE });
    const bd = computeBurndown([a], [ev("taskUpdated", "a", TaskStatus.DONE, new Date(2025, 0, 9, 10), 1n)], "2025-01-06", "2025-01-07", new Date(2025, 0, 9, 12));
    expect(bd.days).toEqual(["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-09"]);
    expect(bd.remaining).toEqual([4, 4, 4, 0]);
    expect(bd.ideal).toEqual([4, 0, 0, 0]);
  });

  it("without an end date runs to today and draws no ideal line", () => {
    const a = task("a", { storyPoints: 4, status: TaskStatus.TODO });
    const bd = computeBurndown([a], [], "2025-01-06", "", new Date(2025, 0, 8, 12));
    expect(bd.days).toHaveLength(3);
    expect(bd.remaining).toEqual([4, 4, 4]);
    expect(bd.ideal).toEqual([]);
  });
});
