import { describe, expect, it } from "vitest";
import { create, WebSocketMessageSchema } from "./proto";
import { assignedToMe } from "./notify";
import { task } from "./state/testkit";

function updated(assigneeId: string, actorId: string, paths = ["assignee_id"]) {
  return create(WebSocketMessageSchema, {
    payload: { case: "taskUpdated", value: { projectId: "p1", seq: 2n, task: task("a", { assigneeId }), actorId, updateMask: { paths } } },
  });
}

describe("assignment notifications", () => {
  it("tell me of a task someone else assigned to me, and of nothing else", () => {
    expect(assignedToMe(updated("me", "ben"), "me")?.id).toBe("a");
    expect(assignedToMe(updated("me", "me"), "me")).toBeNull();
    expect(assignedToMe(updated("ben", "ana"), "me")).toBeNull();
    expect(assignedToMe(updated("me", "ben", ["title"]), "me")).toBeNull();
    const made = create(WebSocketMessageSchema, { payload: { case: "taskCreated", value: { projectId: "p1", seq: 3n, task: task("b", { assigneeId: "me" }), actorId: "ben" } } });
    expect(assignedToMe(made, "me")?.id).toBe("b");
  });
});
