import { describe, expect, it } from "vitest";
import { create, ProjectSchema, TaskStatus, WebSocketMessageSchema, WorkflowColumnSchema } from "../proto";
import { BoardStore } from "./store";
import { MemoryStorage, PID, snapshot, task } from "./testkit";
import { DEFAULT_COLUMNS, missingCategories, placed, target } from "./workflow";

const col = (id: string, name: string, category: TaskStatus, hidden = false) => create(WorkflowColumnSchema, { id, name, category, hidden });
const WORKFLOW = [
  col("backlog", "Backlog", TaskStatus.BACKLOG),
  col("todo", "Ready", TaskStatus.TODO),
  col("in_progress", "Doing", TaskStatus.IN_PROGRESS),
  col("in_review", "Review", TaskStatus.IN_REVIEW),
  col("qa", "QA", TaskStatus.IN_REVIEW),
  col("done", "Done", TaskStatus.DONE),
];

function loaded(columns = WORKFLOW) {
  const s = new BoardStore(new MemoryStorage());
  s.openProject(PID);
  const snap = snapshot([task("a", { status: TaskStatus.IN_PROGRESS }), task("b", { status: TaskStatus.IN_REVIEW, columnId: "qa" })]);
  if (snap.payload.case === "snapshot") snap.payload.value.project = create(ProjectSchema, { id: PID, key: "WEB", name: "Web", version: 1n, columns });
  s.applyMessage(snap);
  return s;
}

describe("the workflow", () => {
  it("places tasks: an empty column id is the first column of the status", () => {
    expect(placed(WORKFLOW, { status: TaskStatus.IN_REVIEW, columnId: "" })).toBe("in_review");
    expect(placed(WORKFLOW, { status: TaskStatus.IN_REVIEW, columnId: "qa" })).toBe("qa");
    // A column that is gone (removed by someone else) falls back to the status's first column.
    expect(placed(WORKFLOW, { status: TaskStatus.IN_REVIEW, columnId: "gone" })).toBe("in_review");
    expect(target(WORKFLOW, "qa")).toEqual({ status: TaskStatus.IN_REVIEW, columnId: "qa" });
    expect(target(WORKFLOW, "in_review")).toEqual({ status: TaskStatus.IN_REVIEW, columnId: "" });
    expect(missingCategories(WORKFLOW.filter((c) => c.id !== "done"))).toEqual([TaskStatus.DONE]);
  });

  it("a project without columns has today's five", () => {
    const s = new BoardStore(new MemoryStorage());
    s.openProject(PID);
    s.applyMessage(snapshot([task("a")]));
    expect(s.columns()).toBe(DEFAULT_COLUMNS);
    expect(s.columnTasks("todo").map((t) => t.id)).toEqual(["a"]);
  });

  it("moving a task to a column shows its category at once; a status alone puts it first", () => {
    const s = loaded();
    expect(s.columnTasks("qa").map((t) => t.id)).toEqual(["b"]);
    s.moveTask("a", TaskStatus.IN_PROGRESS, "", "", "qa");
    expect(s.task("a")).toMatchObject({ status: TaskStatus.IN_REVIEW, columnId: "qa" });
    expect(s.columnTasks("qa").map((t) => t.id).sort()).toEqual(["a", "b"]);
    s.updateTask("b", { status: TaskStatus.DONE });
    expect(s.task("b")).toMatchObject({ status: TaskStatus.DONE, columnId: "" });
    expect(s.columnTasks("done").map((t) => t.id)).toEqual(["b"]);
    // Undo puts "a" back where it was, in its column.
    s.undo();
    s.undo();
    expect(s.task("a")).toMatchObject({ status: TaskStatus.IN_PROGRESS, columnId: "" });
  });

  it("a pending column change shows at once and is sent with the project's version", () => {
    const s = loaded();
    s.updateWorkflow([...WORKFLOW.slice(0, 4), WORKFLOW[5]]);
    expect(s.columns().map((c) => c.id)).toEqual(["backlog", "todo", "in_progress", "in_review", "done"]);
    // b's column is gone from the view: it shows in the first column of its status.
    expect(s.columnTasks("in_review").map((t) => t.id)).toEqual(["b"]);
    const sent = s.outbox.all().at(-1)!.msg;
    expect(sent.payload.case).toBe("updateWorkflow");
    expect(sent.payload.value).toMatchObject({ projectId: PID, baseVersion: 1n });
    const ev = create(WebSocketMessageSchema, { payload: { case: "projectUpdated", value: { projectId: PID, seq: 11n, project: { id: PID, version: 2n, columns: WORKFLOW } } } });
    expect(s.applyMessage(ev)).toBe("applied");
  });
});
