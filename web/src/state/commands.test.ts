import { create, ScalarType, toJson, type DescMessage } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { WebSocketMessageSchema } from "../proto";
import { COMMANDS, envelope, verbOf, type PayloadCase, type PayloadInit } from "./commands";
import { CONNECTION_COMMANDS } from "./connection";
import { RestClient } from "./http";
import { IMPORT_COMMANDS } from "./imports";
import { OVERLAYS } from "./overlay";
import { restRequest, sendRest } from "./rest";

/** A command with every string field set to "v-<jsonName>", so path parameters show. */
function sample(c: PayloadCase, schema: DescMessage) {
  const init: Record<string, string> = {};
  for (const f of schema.fields) if (f.fieldKind === "scalar" && f.scalar === ScalarType.STRING) init[f.localName] = `v-${f.jsonName}`;
  return envelope({ case: c, value: create(schema, init) } as PayloadInit);
}

describe("the command table", () => {
  it("is read from the proto options of the envelope's command members", () => {
    expect(COMMANDS.size).toBeGreaterThan(10);
    const cases = WebSocketMessageSchema.fields.map((f) => f.localName);
    for (const c of COMMANDS.keys()) expect(cases).toContain(c);
    expect(COMMANDS.has("taskUpdated" as PayloadCase)).toBe(false); // an event, not a command
    expect(COMMANDS.get("moveTask")).toMatchObject({ mutates: true, verb: "move the task", result: "task" });
    expect(verbOf("startSprint")).toBe("start the sprint");
  });

  it("every command in the table is handled by the web, and the web handles no other", () => {
    const overlaid = Object.keys(OVERLAYS) as PayloadCase[];
    const sent: readonly PayloadCase[] = CONNECTION_COMMANDS;
    const uploads: readonly PayloadCase[] = IMPORT_COMMANDS;
    for (const [c, spec] of COMMANDS) {
      // A file to import is sent with its progress shown, not queued as an edit.
      if (uploads.includes(c)) continue;
      // A mutating command goes through the outbox and needs its optimistic overlay; any other
      // is sent by the connection itself.
      if (spec.mutates) expect(overlaid, `${c}: no overlay`).toContain(c);
      else expect(sent, `${c}: not sent by the connection`).toContain(c);
    }
    for (const c of overlaid) expect(COMMANDS.get(c)?.mutates, `${c}: overlaid but no mutating command in the table`).toBe(true);
    for (const c of sent) expect(COMMANDS.get(c)?.mutates, `${c}: sent but no session command in the table`).toBe(false);
    for (const c of uploads) expect(COMMANDS.get(c)?.http, `${c}: uploaded but no REST form in the table`).toBeDefined();
  });

  it("derives each REST call from the command's http option", () => {
    for (const [c, spec] of COMMANDS) {
      const req = restRequest(sample(c, spec.schema));
      if (!spec.http) {
        expect(req, c).toBeUndefined();
        continue;
      }
      expect(req!.method, c).toBe(spec.http.method);
      expect(req!.path, c).toBe(spec.http.path.replace(/\{(\w+)\}/g, "v-$1"));
      expect(req!.path, c).not.toMatch(/[{}]/);
      if (spec.http.body === "") expect(req!.body, c).toBeUndefined();
      else expect(() => JSON.parse(req!.body!), c).not.toThrow();
    }
  });

  it("sends the bodies the REST API takes", () => {
    const createTask = envelope({ case: "createTask", value: { projectId: "p1", task: { id: "t1", title: "Hi" } } });
    expect(restRequest(createTask)).toEqual({ method: "POST", path: "/api/v1/projects/p1/tasks", body: '{"id":"t1","title":"Hi"}', resultJsonName: "task" });
    const update = envelope({ case: "updateTask", value: { taskId: "t1", baseVersion: 3n, updateMask: { paths: ["title", "due_date"] }, task: { title: "x" } } });
    expect(JSON.parse(restRequest(update)!.body!)).toEqual({ taskId: "t1", baseVersion: "3", updateMask: "title,dueDate", task: { title: "x" } });
    const comment = envelope({ case: "addComment", value: { taskId: "t1", body: "Hello", commentId: "c1" } });
    expect(restRequest(comment)).toEqual({ method: "POST", path: "/api/v1/tasks/t1/comments", body: '{"taskId":"t1","body":"Hello","commentId":"c1"}', resultJsonName: "comment" });
    const del = envelope({ case: "deleteTask", value: { taskId: "t1" } });
    expect(restRequest(del)).toEqual({ method: "DELETE", path: "/api/v1/tasks/t1", body: undefined, resultJsonName: "" });
    const project = envelope({ case: "createProject", value: { project: { id: "p2", key: "K", name: "N" } } });
    expect(restRequest(project)).toMatchObject({ path: "/api/v1/projects", body: '{"id":"p2","key":"K","name":"N"}' });
  });

  it("answers with the table's result member, nothing for a 204, and a reject for an error", async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    let reply = new Response(null, { status: 204 });
    const fetchImpl = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return reply;
    }) as unknown as typeof fetch;
    const rest = new RestClient({ clientId: "b1", displayName: "Ana", fetch: fetchImpl, onDenied: () => false });

    const del = envelope({ case: "deleteTask", value: { taskId: "t1" } });
    const gone = await sendRest(rest, del);
    expect(gone.messageId).toBe(del.messageId);
    expect(gone.payload.case).toBe("ack");
    expect(gone.payload.case === "ack" && gone.payload.value.result.case).toBeUndefined();
    expect(calls[0].init.method).toBe("DELETE");
    expect((calls[0].init.headers as Record<string, string>)["Idempotency-Key"]).toBe(del.messageId);

    reply = new Response(JSON.stringify({ id: "s1", projectId: "p1", name: "One", state: "SPRINT_STATE_ACTIVE", version: "2" }), { status: 200 });
    const started = await sendRest(rest, envelope({ case: "startSprint", value: { sprintId: "s1" } }));
    expect(started.payload.case === "ack" && started.payload.value.result).toMatchObject({ case: "sprint", value: { id: "s1", version: 2n } });
    expect(calls[1].url).toBe("/api/v1/sprints/s1/start");

    reply = new Response(JSON.stringify({ error: { code: "ERROR_CODE_NOT_FOUND", message: "no such sprint" } }), { status: 404 });
    const refused = await sendRest(rest, envelope({ case: "completeSprint", value: { sprintId: "s9" } }));
    expect(refused.payload.case === "reject" && refused.payload.value.error?.message).toBe("no such sprint");

    const unsupported = await sendRest(rest, envelope({ case: "listComments", value: { taskId: "t1" } }));
    expect(unsupported.payload.case).toBe("reject");
    expect(calls).toHaveLength(3);
  });

  it("a mutating command's JSON body is the command itself when the rule says *", () => {
    for (const [c, spec] of COMMANDS) {
      if (spec.http?.body !== "*") continue;
      const msg = sample(c, spec.schema);
      expect(JSON.parse(restRequest(msg)!.body!), c).toEqual(toJson(spec.schema, msg.payload.value!));
    }
  });
});
