import { afterEach, describe, expect, it, vi } from "vitest";
import { create, ErrorCode, MemberRole, fromBinary, toBinary, TaskStatus, WebSocketMessageSchema, type WebSocketMessage } from "../proto";
import { Connection, type SocketLike, type Timers } from "./connection";
import { BoardStore } from "./store";
import { ack, MemoryStorage, reject, snapshot, task, updated } from "./testkit";

class FakeSocket implements SocketLike {
  binaryType = "";
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  sent: WebSocketMessage[] = [];
  send(data: Uint8Array) {
    this.sent.push(fromBinary(WebSocketMessageSchema, data));
  }
  close() {
    this.readyState = 3;
    this.onclose?.({});
  }
  /** The server closing the socket with a code. */
  closedBy(code: number, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(msg: WebSocketMessage) {
    this.onmessage?.({ data: toBinary(WebSocketMessageSchema, msg).buffer });
  }
  last(kind: string) {
    return this.sent.filter((m) => m.payload.case === kind).at(-1)!;
  }
}

class ManualTimers implements Timers {
  queue: { fn: () => void; ms: number }[] = [];
  setTimeout(fn: () => void, ms: number) {
    const t = { fn, ms };
    this.queue.push(t);
    return t;
  }
  clearTimeout(h: unknown) {
    this.queue = this.queue.filter((t) => t !== h);
  }
  runAll() {
    const q = this.queue;
    this.queue = [];
    for (const t of q) t.fn();
  }
}

const flush = () => new Promise((r) => setTimeout(r, 0));

function welcome(id: string): WebSocketMessage {
  return create(WebSocketMessageSchema, {
    messageId: id,
    payload: { case: "ack", value: { result: { case: "welcome", value: { connectionId: "c1", member: { id: "m1", displayName: "Ana" } } } } },
  });
}

async function connected(storage = new MemoryStorage(), fetchImpl?: typeof fetch) {
  const store = new BoardStore(storage);
  const sockets: FakeSocket[] = [];
  const timers = new ManualTimers();
  const conn = new Connection({
    store,
    wsUrl: "ws://x/ws",
    clientId: "browser-1",
    displayName: "Ana",
    createSocket: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
    timers,
    random: () => 0,
    fetch: fetchImpl,
  });
  store.openProject("p1");
  conn.start();
  return { store, conn, sockets, timers };
}

async function handshake(ws: FakeSocket, withSnapshot = true) {
  ws.open();
  const hello = ws.last("hello");
  expect(hello.payload.value).toMatchObject({ clientId: "browser-1", protocolVersion: 1, displayName: "Ana" });
  ws.deliver(welcome(hello.messageId));
  await flush();
  const sub = ws.last("subscribe");
  if (withSnapshot) ws.deliver(snapshot([task("a"), task("b")]));
  ws.deliver(ack(sub.messageId));
  await flush();
  return sub;
}

describe("connection", () => {
  it("says hello, subscribes, and goes live", async () => {
    const { conn, sockets, store } = await connected();
    const sub = await handshake(sockets[0]);
    expect((sub.payload.value as { sinceSeq?: bigint }).sinceSeq).toBeUndefined();
    expect(conn.state).toBe("live");
    expect(store.me?.displayName).toBe("Ana");
    expect(store.seq).toBe(10n);
  });

  it("marks an unknown project missing and still goes live", async () => {
    const { conn, sockets, store } = await connected();
    const ws = sockets[0];
    ws.open();
    ws.deliver(welcome(ws.last("hello").messageId));
    await flush();
    ws.deliver(reject(ws.last("subscribe").messageId, ErrorCode.NOT_FOUND, "no such project"));
    await flush();
    expect(conn.state).toBe("live");
    expect(store.missingProject).toBe("p1");
    // Another project's subscription does not send an unsubscribe for the one that never was.
    conn.setProject("p2");
    expect(ws.sent.filter((m) => m.payload.case === "unsubscribe")).toHaveLength(0);
    ws.deliver(ack(ws.last("subscribe").messageId));
    await flush();
    expect(store.missingProject).toBe("p1");
  });

  it("resumes from the last seq and epoch after a drop and replays are deduplicated", async () => {
    const { conn, sockets, store, timers } = await connected();
    await handshake(sockets[0]);
    sockets[0].deliver(updated(11n, task("a", { title: "x", version: 2n })));
    sockets[0].close();
    expect(conn.state).toBe("reconnecting");
    timers.runAll();
    const ws = sockets[1];
    const sub = await handshake(ws, false);
    expect(sub.payload.value).toMatchObject({ projectId: "p1", sinceSeq: 11n, epoch: "e1" });
    ws.deliver(updated(11n, task("a", { title: "dup", version: 2n })));
    ws.deliver(updated(12n, task("a", { title: "y", version: 3n })));
    expect(store.task("a")?.title).toBe("y");
    expect(store.seq).toBe(12n);
  });

  it("resubscribes from the last applied seq on a gap", async () => {
    const { sockets, store } = await connected();
    await handshake(sockets[0]);
    sockets[0].deliver(updated(14n, task("a", { version: 5n })));
    await flush();
    const subs = sockets[0].sent.filter((m) => m.payload.case === "subscribe");
    expect(subs).toHaveLength(2);
    expect((subs[1].payload.value as { sinceSeq: bigint }).sinceSeq).toBe(10n);
    expect(sockets[0].last("unsubscribe").payload.value).toMatchObject({ subscriptionId: subs[0].messageId });
    expect(store.seq).toBe(10n);
  });

  it("reads the board afresh on project_imported instead of replaying the import", async () => {
    const { sockets, store } = await connected();
    await handshake(sockets[0]);
    const imported = (projectId: string) =>
      create(WebSocketMessageSchema, { payload: { case: "projectImported", value: { projectId, seq: 11n, tasks: 500 } } });
    sockets[0].deliver(imported("p2")); // another project's: nothing to do
    await flush();
    expect(sockets[0].sent.filter((m) => m.payload.case === "subscribe")).toHaveLength(1);
    sockets[0].deliver(imported("p1"));
    await flush();
    const subs = sockets[0].sent.filter((m) => m.payload.case === "subscribe");
    expect(subs).toHaveLength(2);
    // No sinceSeq: a fresh snapshot, not a replay of the import's rows.
    expect((subs[1].payload.value as { sinceSeq?: bigint }).sinceSeq).toBeUndefined();
    sockets[0].deliver(snapshot([task("a"), task("b"), task("c")], 11n));
    sockets[0].deliver(ack(subs[1].messageId));
    await flush();
    expect(store.task("c")).toBeDefined();
    expect(store.seq).toBe(11n);
  });

  it("sends the outbox in order, one at a time, and again with the same ids after a reconnect", async () => {
    const storage = new MemoryStorage();
    const { conn, sockets, store, timers } = await connected(storage);
    await handshake(sockets[0]);
    sockets[0].close();
    store.updateTask("a", { title: "offline 1" });
    store.moveTask("b", TaskStatus.DONE, "", "");
    conn.pump();
    const ids = store.outbox.all().map((e) => e.msg.messageId);
    timers.runAll();
    const ws = sockets[1];
    await handshake(ws, false);
    const commands = () => ws.sent.filter((m) => m.payload.case === "updateTask" || m.payload.case === "moveTask");
    expect(commands().map((m) => m.messageId)).toEqual([ids[0]]);
    ws.deliver(ack(ids[0], task("a", { title: "offline 1", version: 2n })));
    expect(commands().map((m) => m.messageId)).toEqual(ids);
    // The connection drops before the second is answered: it is sent again, same id.
    ws.close();
    timers.runAll();
    await handshake(sockets[2], false);
    expect(sockets[2].sent.filter((m) => m.payload.case === "moveTask").map((m) => m.messageId)).toEqual([ids[1]]);
    sockets[2].deliver(ack(ids[1], task("b", { status: TaskStatus.DONE, version: 2n })));
    expect(store.outbox.size).toBe(0);
    expect(storage.data.size).toBe(0);
  });

  it("falls back to REST and polling when the WebSocket never opens", async () => {
    const calls: string[] = [];
    const identities = new Set<string>();
    const respond = (body: unknown) => new Response(JSON.stringify(body), { status: 200 });
    let release: (r: Response) => void = () => {};
    const fetchImpl = (async (url: string, init?: RequestInit) => {
      calls.push(url);
      const h = (init?.headers ?? {}) as Record<string, string>;
      identities.add(`${h["X-Tandem-Client-Id"]}/${h["X-Tandem-Display-Name"]}`);
      if (url === "/api/health") return respond({ status: "ok" });
      if (url.endsWith("/projects/p1/snapshot"))
        return respond({
          projectId: "p1",
          epoch: "e1",
          seq: "4",
          project: { id: "p1", key: "P", name: "Proj" },
          tasks: [{ id: "a", projectId: "p1", title: "A", status: "TASK_STATUS_TODO", version: "1" }],
          sprints: [{ id: "s1", projectId: "p1", name: "Sprint 1", state: "SPRINT_STATE_ACTIVE", version: "1" }],
          members: [{ id: "m1", displayName: "Ana" }],
        });
      if (url.includes("wait=")) return new Promise<Response>((r) => (release = r));
      return new Response("", { status: 404 });
    }) as unknown as typeof fetch;
    const { conn, sockets, store, timers } = await connected(new MemoryStorage(), fetchImpl);
    sockets[0].close();
    timers.runAll();
    sockets[1].close();
    await flush();
    await flush();
    expect(conn.state).toBe("polling");
    for (let i = 0; i < 20 && !calls.some((c) => c.includes("wait=")); i++) await flush();
    expect(store.seq).toBe(4n);
    expect(store.task("a")?.title).toBe("A");
    expect(store.sprints.get("s1")?.name).toBe("Sprint 1");
    expect(store.project?.name).toBe("Proj");
    expect(calls.filter((c) => c.startsWith("/api/v1/"))[0]).toBe("/api/v1/projects/p1/snapshot");
    expect([...identities]).toEqual(["browser-1/Ana"]);
    expect(calls.at(-1)).toBe("/api/v1/projects/p1/events?since=4&wait=25");
    release(
      respond({
        projectId: "p1",
        epoch: "e1",
        headSeq: "5",
        events: [{ taskUpdated: { projectId: "p1", seq: "5", task: { id: "a", projectId: "p1", title: "B", status: "TASK_STATUS_TODO", version: "2" } } }],
      }),
    );
    for (let i = 0; i < 20 && store.seq !== 5n; i++) await flush();
    expect(store.task("a")?.title).toBe("B");
    conn.stop();
  });

  it("ends for good when access is revoked or sharing stops (4403) instead of reconnecting", async () => {
    for (const code of [4403, 4401]) {
      const { conn, sockets, timers } = await connected();
      await handshake(sockets[0]);
      sockets[0].closedBy(code, "access revoked");
      expect(conn.state).toBe("ended");
      expect(conn.detail).toBe("access revoked");
      expect(timers.queue).toHaveLength(0);
      timers.runAll();
      expect(sockets).toHaveLength(1);
    }
    // An ordinary drop still reconnects.
    const { conn, sockets, timers } = await connected();
    await handshake(sockets[0]);
    sockets[0].closedBy(1006);
    expect(conn.state).toBe("reconnecting");
    timers.runAll();
    expect(sockets).toHaveLength(2);
  });

  it("a polling page learns who it is and its role from /api/v1/me", async () => {
    const respond = (body: unknown) => new Response(JSON.stringify(body), { status: 200 });
    const fetchImpl = (async (url: string) => {
      if (url === "/api/health") return respond({ status: "ok" });
      if (url === "/api/v1/me") return respond({ id: "v1", displayName: "Vic", role: "MEMBER_ROLE_VIEWER" });
      if (url.endsWith("/snapshot")) return respond({ projectId: "p1", epoch: "e1", seq: "1" });
      return new Promise<Response>(() => {});
    }) as unknown as typeof fetch;
    const { conn, sockets, store, timers } = await connected(new MemoryStorage(), fetchImpl);
    sockets[0].close();
    timers.runAll();
    sockets[1].close();
    for (let i = 0; i < 20 && !store.me; i++) await flush();
    expect(conn.state).toBe("polling");
    expect(store.me?.displayName).toBe("Vic");
    expect(store.me?.role).toBe(MemberRole.VIEWER);
    expect(store.readOnly).toBe(true);
    conn.stop();
  });

  it("a polling page whose access ends (401/403) stops too", async () => {
    const respond = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status });
    let revoked = false;
    let release: () => void = () => {};
    const fetchImpl = (async (url: string) => {
      if (url === "/api/health") return respond({ status: "ok" });
      if (url.endsWith("/snapshot")) return respond({ projectId: "p1", epoch: "e1", seq: "1" });
      if (url.includes("wait=")) {
        if (revoked) return respond({ error: { code: "ERROR_CODE_UNAUTHENTICATED" } }, 401);
        return new Promise<Response>((r) => (release = () => r(respond({ projectId: "p1", epoch: "e1", headSeq: "1", events: [] }))));
      }
      return respond({}, 404);
    }) as unknown as typeof fetch;
    const { conn, sockets, timers } = await connected(new MemoryStorage(), fetchImpl);
    sockets[0].close();
    timers.runAll();
    sockets[1].close();
    for (let i = 0; i < 20 && conn.state !== "polling"; i++) await flush();
    for (let i = 0; i < 5; i++) await flush();
    revoked = true;
    release();
    for (let i = 0; i < 20 && conn.state !== "ended"; i++) await flush();
    expect(conn.state).toBe("ended");
  });

  it("encodes display names a header cannot carry as they are", async () => {
    const { headerName } = await import("./connection");
    expect(headerName("Ana Lopez")).toBe("Ana Lopez");
    expect(headerName("Łucja 李")).toBe("%C5%81ucja%20%E6%9D%8E");
    expect(headerName("100% Ana")).toBe("100%25%20Ana");
  });
});

describe("reconnect backoff", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A connection on the page's real timer functions, which fake timers replace. */
  function onFakeTimers(random: () => number) {
    vi.useFakeTimers();
    const store = new BoardStore(new MemoryStorage());
    const sockets: FakeSocket[] = [];
    const conn = new Connection({
      store,
      wsUrl: "ws://x/ws",
      clientId: "browser-1",
      displayName: "Ana",
      createSocket: () => {
        const s = new FakeSocket();
        sockets.push(s);
        return s;
      },
      random,
      // Never give up on the WebSocket here: this is about the spacing of the retries.
      failuresBeforeFallback: 1000,
    });
    store.openProject("p1");
    conn.start();
    return { conn, sockets };
  }

  /** How long after the latest socket fails the next one is created (bounded search). */
  function gapAfterFailure(sockets: FakeSocket[]): number {
    const before = sockets.length;
    sockets[before - 1].close();
    let waited = 0;
    while (sockets.length === before && waited < 60_000) {
      vi.advanceTimersByTime(50);
      waited += 50;
    }
    expect(sockets).toHaveLength(before + 1);
    return waited;
  }

  const settle = async () => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };

  it("spaces failed attempts further apart, up to a cap", () => {
    const { conn, sockets } = onFakeTimers(() => 1);
    const gaps: number[] = [];
    for (let i = 0; i < 8; i++) gaps.push(gapAfterFailure(sockets));
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeGreaterThanOrEqual(gaps[i - 1]);
    expect(gaps[1]).toBeGreaterThan(gaps[0]);
    expect(gaps[3]).toBeGreaterThan(gaps[2]);
    // The growth stops at the cap: the last attempts wait the same, and no longer than it.
    expect(gaps.at(-1)).toBe(gaps.at(-2));
    expect(gaps.at(-1)).toBe(8000);
    expect(conn.state).toBe("offline");
    conn.stop();
  });

  it("jitters below the full delay and never waits nothing", () => {
    const { conn, sockets } = onFakeTimers(() => 0);
    const gaps: number[] = [];
    for (let i = 0; i < 8; i++) gaps.push(gapAfterFailure(sockets));
    expect(gaps[0]).toBeGreaterThan(0);
    expect(gaps[1]).toBeGreaterThan(gaps[0]);
    expect(gaps.at(-1)).toBe(4000);
    conn.stop();
  });

  it("a successful connect resets the backoff", async () => {
    const { conn, sockets } = onFakeTimers(() => 1);
    const first = gapAfterFailure(sockets);
    for (let i = 0; i < 5; i++) gapAfterFailure(sockets);
    const grown = gapAfterFailure(sockets);
    expect(grown).toBeGreaterThan(first);
    expect(conn.state).toBe("offline");

    // The latest socket opens and is welcomed: live again.
    const ws = sockets.at(-1)!;
    ws.open();
    ws.deliver(welcome(ws.last("hello").messageId));
    await settle();
    ws.deliver(ack(ws.last("subscribe").messageId));
    await settle();
    expect(conn.state).toBe("live");

    // A later drop retries after the first, shortest delay again, and says reconnecting.
    expect(gapAfterFailure(sockets)).toBe(first);
    expect(conn.state).toBe("reconnecting");
    conn.stop();
  });
});
