/**
 * The connection manager: keeps one WebSocket to the server (hello, subscribe, heartbeat by the
 * server's pings), resumes from the last applied seq and epoch after a drop, sends the outbox in
 * order (one command in flight at a time, so later commands can build on earlier ones' versions),
 * and, when the WebSocket cannot be established at all while the REST API answers, falls back to
 * REST commands and long polling of the change log.
 */
import {
  create,
  fromBinary,
  fromJson,
  toBinary,
  toJson,
  AckSchema,
  CommentSchema,
  ErrorCode,
  ErrorResponseSchema,
  ErrorSchema,
  ListCommentsResponseSchema,
  ListEventsResponseSchema,
  ListMembersResponseSchema,
  MemberSchema,
  ListProjectsResponseSchema,
  ProjectSchema,
  RejectSchema,
  SnapshotSchema,
  SprintSchema,
  TaskSchema,
  UpdateProjectSchema,
  UpdateSprintSchema,
  StartSprintSchema,
  CompleteSprintSchema,
  UpdateTaskSchema,
  MoveTaskSchema,
  EditCommentSchema,
  WebSocketMessageSchema,
  type Ack,
  type Comment,
  type Member,
  type Project,
  type UpdatePresence,
  type Welcome,
  type WebSocketMessage,
} from "../proto";
import { newId } from "./ids";
import type { BoardStore } from "./store";

export type ConnState = "connecting" | "live" | "reconnecting" | "offline" | "polling" | "ended";

/** WebSocket close codes after which retrying cannot help: no valid credential (4401), or the
 * invite was revoked or sharing switched off (4403). */
export const CLOSE_UNAUTHENTICATED = 4401;
export const CLOSE_FORBIDDEN = 4403;

/** Part of a project's change log, as read by Connection.history. */
export interface LogHistory {
  events: WebSocketMessage[];
  complete: boolean;
  seq: bigint;
}

export interface SocketLike {
  binaryType: string;
  readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ConnectionOptions {
  store: BoardStore;
  wsUrl: string;
  /** Prefix of REST paths; "" for the page's own origin. */
  apiBase?: string;
  clientId: string;
  displayName: string;
  clientName?: string;
  createSocket?: (url: string) => SocketLike;
  fetch?: typeof fetch;
  timers?: Timers;
  random?: () => number;
  /** WebSocket failures in a row (never opened) before trying the REST fallback. */
  failuresBeforeFallback?: number;
  pollWaitSeconds?: number;
}

type Pending = { resolve: (a: Ack) => void; reject: (e: Error) => void };

export class RejectedError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

/**
 * Header value for a display name: plain ASCII goes as is; anything else (or a "%") is
 * percent-encoded UTF-8, since fetch refuses header values outside Latin-1.
 */
export function headerName(name: string): string {
  return /^[\x20-\x7e]*$/.test(name) && !name.includes("%") ? name : encodeURIComponent(name);
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
};

export class Connection {
  state: ConnState = "connecting";
  welcome: Welcome | null = null;
  /** Why the REST fallback is in use, for the indicator's tooltip. */
  detail = "";
  private ws: SocketLike | null = null;
  private stopped = false;
  private attempts = 0;
  private failuresWithoutOpen = 0;
  private inflight: string | null = null;
  private requests = new Map<string, Pending>();
  private subscriptionId = "";
  private subscribedProject = "";
  private retryTimer: unknown = null;
  private pollGeneration = 0;
  private readonly listeners = new Set<() => void>();
  private readonly store: BoardStore;
  private readonly timers: Timers;
  private readonly fetchImpl: typeof fetch;
  private readonly createSocket: (url: string) => SocketLike;
  private lastPresence = "";
  private presence: Partial<UpdatePresence> = {};
  private viewingSprint = "";
  private readonly welcomed = new WeakSet<SocketLike>();

  constructor(private readonly opts: ConnectionOptions) {
    this.store = opts.store;
    this.timers = opts.timers ?? realTimers;
    this.fetchImpl = opts.fetch ?? ((...a) => globalThis.fetch(...a));
    this.createSocket = opts.createSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike);
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private setState(s: ConnState, detail = ""): void {
    if (this.state === s && this.detail === detail) return;
    this.state = s;
    this.detail = detail;
    for (const fn of this.listeners) fn();
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Access to the board is over (revoked, sharing off, no credential): stop for good. */
  private end(reason: string): void {
    this.inflight = null;
    for (const p of this.requests.values()) p.reject(new Error("access ended"));
    this.requests.clear();
    this.store.presence.clear();
    this.stop();
    this.setState("ended", reason);
    this.store.changed();
  }

  stop(): void {
    this.stopped = true;
    this.pollGeneration++;
    if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer);
    this.ws?.close(1000, "bye");
    this.ws = null;
  }

  // ---- WebSocket -----------------------------------------------------------------------------

  private connect(): void {
    if (this.stopped) return;
    this.retryTimer = null;
    let ws: SocketLike;
    try {
      ws = this.createSocket(this.opts.wsUrl);
    } catch {
      this.onSocketClosed(false);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => void this.handshake(ws);
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      const data = ev.data;
      if (!(data instanceof ArrayBuffer) && !(data instanceof Uint8Array)) return;
      let msg: WebSocketMessage;
      try {
        msg = fromBinary(WebSocketMessageSchema, data instanceof Uint8Array ? data : new Uint8Array(data));
      } catch {
        return;
      }
      this.receive(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (ev?.code === CLOSE_UNAUTHENTICATED || ev?.code === CLOSE_FORBIDDEN) {
        this.end(ev.reason || "access ended");
        return;
      }
      this.onSocketClosed(this.welcomed.has(ws));
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  /** Hello, then subscribe; true once the server has welcomed us (a socket that opens but never
   * answers counts as one that could not be established). */
  private async handshake(ws: SocketLike): Promise<boolean> {
    try {
      const ack = await this.request({
        case: "hello",
        value: {
          clientName: this.opts.clientName ?? "tandem-web 1.0",
          clientId: this.opts.clientId,
          protocolVersion: 1,
          displayName: this.opts.displayName,
        } as never,
      }, ws);
      if (ack.result.case === "welcome") {
        this.welcome = ack.result.value;
        this.store.me = ack.result.value.member ?? null;
        this.store.connectionId = ack.result.value.connectionId;
        if (this.store.me) this.store.members.set(this.store.me.id, this.store.me);
      }
      this.welcomed.add(ws);
      this.attempts = 0;
      this.failuresWithoutOpen = 0;
      this.pollGeneration++; // a working socket ends any polling loop
      this.subscribedProject = "";
      if (this.store.projectId) await this.subscribe(ws);
      this.setState("live");
      this.lastPresence = "";
      this.inflight = null;
      this.pump();
      this.store.changed();
      return true;
    } catch {
      // The socket closed during the handshake; onclose schedules the retry.
      return false;
    }
  }

  private async subscribe(ws: SocketLike): Promise<void> {
    const s = this.store;
    const projectId = s.projectId;
    if (this.subscriptionId && this.subscribedProject) {
      this.sendRaw(ws, create(WebSocketMessageSchema, {
        messageId: newId(),
        payload: { case: "unsubscribe", value: { subscriptionId: this.subscriptionId } as never },
      }));
    }
    const id = newId();
    this.subscriptionId = id;
    this.subscribedProject = projectId;
    const resume = s.seq > 0n && s.epoch !== "";
    await this.request(
      {
        case: "subscribe",
        value: { projectId, sinceSeq: resume ? s.seq : undefined, epoch: resume ? s.epoch : "" } as never,
      },
      ws,
      id,
    );
  }

  /** Called when the board switches project. */
  setProject(projectId: string): void {
    this.store.openProject(projectId);
    if (this.state === "live" && this.ws && projectId) void this.subscribe(this.ws).catch(() => {});
    if (this.state === "polling") this.startPolling();
  }

  private onSocketClosed(opened: boolean): void {
    this.inflight = null;
    for (const p of this.requests.values()) p.reject(new Error("connection closed"));
    this.requests.clear();
    this.subscribedProject = "";
    this.store.presence.clear();
    this.store.changed();
    if (this.stopped) return;
    if (!opened) this.failuresWithoutOpen++;
    this.attempts++;
    if (this.state === "polling") {
      this.scheduleRetry(30_000);
      return;
    }
    const limit = this.opts.failuresBeforeFallback ?? 2;
    if (!opened && this.failuresWithoutOpen >= limit) {
      void this.probeRest();
      return;
    }
    this.setState(this.attempts > 4 ? "offline" : "reconnecting");
    this.scheduleRetry(this.backoff());
  }

  private backoff(): number {
    const base = Math.min(8000, 300 * 2 ** Math.min(this.attempts, 6));
    return base * (0.5 + (this.opts.random ?? Math.random)() * 0.5);
  }

  private scheduleRetry(ms: number): void {
    if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = this.timers.setTimeout(() => this.connect(), ms);
  }

  /** The WebSocket will not open: if REST answers, work through it; otherwise we are offline. */
  private async probeRest(): Promise<void> {
    let ok = false;
    try {
      const r = await this.fetchImpl(`${this.opts.apiBase ?? ""}/api/health`, { headers: this.identity() });
      ok = r.ok;
    } catch {
      ok = false;
    }
    if (this.stopped || this.state === "live") return;
    if (ok) {
      this.setState("polling", "The live connection is blocked; using the REST API and polling.");
      this.startPolling();
      // No welcome tells a polling page who it is (and whether it may change anything).
      void this.loadMe();
      this.scheduleRetry(30_000);
    } else {
      this.setState(this.attempts > 4 ? "offline" : "reconnecting");
      this.scheduleRetry(this.backoff());
    }
  }

  private sendRaw(ws: SocketLike, msg: WebSocketMessage): void {
    ws.send(toBinary(WebSocketMessageSchema, msg));
  }

  /** A command whose answer the caller awaits and which is not kept in the outbox. */
  request(payload: WebSocketMessage["payload"], ws = this.ws, messageId = newId()): Promise<Ack> {
    if (!ws) return Promise.reject(new Error("not connected"));
    return new Promise<Ack>((resolve, reject) => {
      this.requests.set(messageId, { resolve, reject });
      this.sendRaw(ws, create(WebSocketMessageSchema, { messageId, payload }));
    });
  }

  private receive(msg: WebSocketMessage): void {
    const id = msg.messageId;
    const pending = id ? this.requests.get(id) : undefined;
    if (pending) {
      this.requests.delete(id);
      if (msg.payload.case === "ack") pending.resolve(msg.payload.value);
      else if (msg.payload.case === "reject") {
        const e = msg.payload.value.error;
        pending.reject(new RejectedError(e?.code ?? ErrorCode.UNSPECIFIED, e?.message ?? "rejected"));
      }
      return;
    }
    const outcome = this.store.applyMessage(msg);
    if (outcome === "gap" && this.ws) {
      // A hole in the change log: ask again from the last seq we applied; the server replays it.
      void this.subscribe(this.ws).catch(() => {});
    }
    if ((msg.payload.case === "ack" || msg.payload.case === "reject") && id === this.inflight) {
      this.inflight = null;
      this.pump();
    }
  }

  // ---- the outbox ----------------------------------------------------------------------------

  /** Sends the oldest unanswered command, if none is in flight. Call after enqueueing. */
  pump(): void {
    if (this.inflight) return;
    const head = this.store.outbox.first();
    if (!head) return;
    if (this.state === "live" && this.ws) {
      this.inflight = head.msg.messageId;
      this.sendRaw(this.ws, head.msg);
    } else if (this.state === "polling") {
      this.inflight = head.msg.messageId;
      void this.sendRest(head.msg).then(
        (answer) => {
          this.inflight = null;
          if (answer) this.store.applyMessage(answer);
          this.pump();
        },
        () => {
          // Network failure: keep the command and try again shortly.
          this.inflight = null;
          this.timers.setTimeout(() => this.pump(), 2000);
        },
      );
    }
  }

  // ---- presence and reads --------------------------------------------------------------------

  /** Tells others what this person looks at; identical repeats are not sent. */
  updatePresence(p: Partial<UpdatePresence>): void {
    this.presence = p;
    this.sendPresence();
  }

  /**
   * The sprint this person has in view on the sprints page ("" when elsewhere). It outlives
   * updatePresence calls that name no sprint, so a task opened over the plan keeps it.
   */
  setViewingSprint(sprintId: string): void {
    this.viewingSprint = sprintId;
    this.sendPresence();
  }

  private sendPresence(): void {
    if (this.state !== "live" || !this.ws || !this.store.projectId) return;
    const p = this.presence;
    const value = {
      projectId: this.store.projectId,
      viewingTaskId: p.viewingTaskId ?? "",
      viewingSprintId: p.viewingSprintId || this.viewingSprint,
      editingField: p.editingField ?? "",
      typingComment: p.typingComment ?? false,
    };
    const key = JSON.stringify(value);
    if (key === this.lastPresence) return;
    this.lastPresence = key;
    void this.request({ case: "updatePresence", value: value as never }).catch(() => {});
  }

  async listComments(taskId: string): Promise<Comment[]> {
    if (this.state === "live" && this.ws) {
      const ack = await this.request({ case: "listComments", value: { taskId } as never });
      return ack.result.case === "comments" ? ack.result.value.comments : [];
    }
    const body = await this.getJson(`/api/v1/tasks/${taskId}/comments`);
    return fromJson(ListCommentsResponseSchema, body as never, { ignoreUnknownFields: true }).comments;
  }

  /** Who this page acts as, with its role, for a client without a WebSocket welcome. */
  async loadMe(): Promise<Member | null> {
    try {
      const me = fromJson(MemberSchema, (await this.getJson("/api/v1/me")) as never, { ignoreUnknownFields: true });
      if (!this.welcome) {
        this.store.me = me;
        this.store.members.set(me.id, me);
        this.store.changed();
      }
      return me;
    } catch {
      return null;
    }
  }

  async listMembers(): Promise<Member[]> {
    const body = await this.getJson("/api/v1/members");
    return fromJson(ListMembersResponseSchema, body as never, { ignoreUnknownFields: true }).members;
  }

  async listProjects(): Promise<Project[]> {
    const body = await this.getJson("/api/v1/projects");
    return fromJson(ListProjectsResponseSchema, body as never, { ignoreUnknownFields: true }).projects;
  }

  /**
   * The kept change log of a project after a seq, page by page (the server answers at most
   * 1,000 events a call; bounded at maxPages). complete is false when the oldest events are no
   * longer kept or the page limit was reached; seq is the last one read, to go on from later.
   * The burndown and a task's activity both read the log through here.
   */
  async history(projectId: string, since = 0n, maxPages = 50): Promise<LogHistory> {
    const events: WebSocketMessage[] = [];
    for (let page = 0; page < maxPages; page++) {
      const body = await this.getJson(`/api/v1/projects/${projectId}/events?since=${since}`);
      const res = fromJson(ListEventsResponseSchema, body as never, { ignoreUnknownFields: true });
      if (res.resyncRequired) return { events, complete: false, seq: since };
      events.push(...res.events);
      const last = res.events.at(-1)?.payload.value as { seq?: bigint } | undefined;
      if (!last?.seq || last.seq >= res.headSeq) return { events, complete: true, seq: last?.seq ?? since };
      since = last.seq;
    }
    return { events, complete: false, seq: since };
  }

  // ---- REST fallback -------------------------------------------------------------------------

  /** Sent on every REST call, so the server credits the change to the same member the
   * WebSocket hello with this client id gets, not to the desktop owner. */
  private identity(): Record<string, string> {
    return {
      Accept: "application/json",
      "X-Tandem-Client-Id": this.opts.clientId,
      "X-Tandem-Display-Name": headerName(this.opts.displayName),
    };
  }

  private async getJson(path: string, signalGen?: number): Promise<unknown> {
    const r = await this.fetchImpl(`${this.opts.apiBase ?? ""}${path}`, { headers: this.identity() });
    if (signalGen !== undefined && signalGen !== this.pollGeneration) throw new Error("stale");
    if ((r.status === 401 || r.status === 403) && this.state === "polling") {
      this.end(`HTTP ${r.status}`);
      throw new Error("stale");
    }
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.json();
  }

  /** The board read in one transaction on the server, at one seq: polling resumes from there. */
  private async loadSnapshotRest(projectId: string): Promise<void> {
    const gen = this.pollGeneration;
    const body = await this.getJson(`/api/v1/projects/${projectId}/snapshot`, gen);
    if (projectId !== this.store.projectId) throw new Error("stale");
    this.store.applySnapshot(fromJson(SnapshotSchema, body as never, { ignoreUnknownFields: true }));
  }

  private startPolling(): void {
    const gen = ++this.pollGeneration;
    void this.pollLoop(gen);
    this.pump();
  }

  private async pollLoop(gen: number): Promise<void> {
    for (let failures = 0; gen === this.pollGeneration && !this.stopped; ) {
      const projectId = this.store.projectId;
      if (!projectId) return;
      try {
        if (this.store.seq === 0n && this.store.epoch === "") await this.loadSnapshotRest(projectId);
        const wait = this.opts.pollWaitSeconds ?? 25;
        const res = fromJson(
          ListEventsResponseSchema,
          (await this.getJson(`/api/v1/projects/${projectId}/events?since=${this.store.seq}&wait=${wait}`, gen)) as never,
          { ignoreUnknownFields: true },
        );
        if (gen !== this.pollGeneration || projectId !== this.store.projectId) return;
        if (res.resyncRequired || (this.store.epoch && res.epoch && res.epoch !== this.store.epoch)) {
          await this.loadSnapshotRest(projectId);
          continue;
        }
        for (const ev of res.events) this.store.applyMessage(ev);
        failures = 0;
        if (this.state !== "polling") this.setState("polling", this.detail);
      } catch (e) {
        if ((e as Error).message === "stale") return;
        failures++;
        if (failures > 2) this.setState("offline");
        await new Promise((r) => this.timers.setTimeout(() => r(null), Math.min(10_000, 1000 * failures)));
        if (failures > 2 && gen === this.pollGeneration) this.setState("polling", this.detail);
      }
    }
  }

  /** Sends one outbox command through REST; returns the envelope the WebSocket would have sent. */
  private async sendRest(msg: WebSocketMessage): Promise<WebSocketMessage | null> {
    const p = msg.payload;
    const json = (schema: Parameters<typeof toJson>[0], v: unknown) => JSON.stringify(toJson(schema, v as never));
    let method = "POST";
    let path = "";
    let body: string | undefined;
    let resultCase: "task" | "comment" | "project" | "sprint" | null = null;
    switch (p.case) {
      case "createTask":
        path = `/api/v1/projects/${p.value.projectId}/tasks`;
        body = json(TaskSchema, p.value.task);
        resultCase = "task";
        break;
      case "updateTask":
        method = "PATCH";
        path = `/api/v1/tasks/${p.value.taskId}`;
        body = json(UpdateTaskSchema, p.value);
        resultCase = "task";
        break;
      case "moveTask":
        path = `/api/v1/tasks/${p.value.taskId}/move`;
        body = json(MoveTaskSchema, p.value);
        resultCase = "task";
        break;
      case "deleteTask":
        method = "DELETE";
        path = `/api/v1/tasks/${p.value.taskId}`;
        break;
      case "addComment":
        path = `/api/v1/tasks/${p.value.taskId}/comments`;
        body = json(CommentSchema, create(CommentSchema, { id: p.value.commentId, body: p.value.body }));
        resultCase = "comment";
        break;
      case "editComment":
        method = "PATCH";
        path = `/api/v1/comments/${p.value.commentId}`;
        body = json(EditCommentSchema, p.value);
        resultCase = "comment";
        break;
      case "deleteComment":
        method = "DELETE";
        path = `/api/v1/comments/${p.value.commentId}`;
        break;
      case "createProject":
        path = `/api/v1/projects`;
        body = json(ProjectSchema, p.value.project);
        resultCase = "project";
        break;
      case "updateProject":
        method = "PATCH";
        path = `/api/v1/projects/${p.value.projectId}`;
        body = json(UpdateProjectSchema, p.value);
        resultCase = "project";
        break;
      case "deleteProject":
        method = "DELETE";
        path = `/api/v1/projects/${p.value.projectId}`;
        break;
      case "createSprint":
        path = `/api/v1/projects/${p.value.projectId}/sprints`;
        body = json(SprintSchema, p.value.sprint);
        resultCase = "sprint";
        break;
      case "updateSprint":
        method = "PATCH";
        path = `/api/v1/sprints/${p.value.sprintId}`;
        body = json(UpdateSprintSchema, p.value);
        resultCase = "sprint";
        break;
      case "startSprint":
        path = `/api/v1/sprints/${p.value.sprintId}/start`;
        body = json(StartSprintSchema, p.value);
        resultCase = "sprint";
        break;
      case "completeSprint":
        path = `/api/v1/sprints/${p.value.sprintId}/complete`;
        body = json(CompleteSprintSchema, p.value);
        resultCase = "sprint";
        break;
      default:
        return create(WebSocketMessageSchema, {
          messageId: msg.messageId,
          payload: {
            case: "reject",
            value: create(RejectSchema, {
              error: create(ErrorSchema, { code: ErrorCode.UNSUPPORTED, message: "not available without the live connection" }),
            }),
          },
        });
    }
    const r = await this.fetchImpl(`${this.opts.apiBase ?? ""}${path}`, {
      method,
      headers: { ...this.identity(), "Content-Type": "application/json", "Idempotency-Key": msg.messageId },
      body: body ?? (method === "DELETE" ? undefined : "{}"),
    });
    if (r.status >= 500 && r.status !== 503) throw new Error(`HTTP ${r.status}`);
    const text = await r.text();
    const data = text ? (JSON.parse(text) as unknown) : {};
    if (!r.ok) {
      const err = fromJson(ErrorResponseSchema, data as never, { ignoreUnknownFields: true }).error;
      return create(WebSocketMessageSchema, {
        messageId: msg.messageId,
        payload: { case: "reject", value: create(RejectSchema, { error: err }) },
      });
    }
    const ack = create(AckSchema, {});
    if (resultCase === "task") ack.result = { case: "task", value: fromJson(TaskSchema, data as never, { ignoreUnknownFields: true }) };
    if (resultCase === "comment") ack.result = { case: "comment", value: fromJson(CommentSchema, data as never, { ignoreUnknownFields: true }) };
    if (resultCase === "project") ack.result = { case: "project", value: fromJson(ProjectSchema, data as never, { ignoreUnknownFields: true }) };
    if (resultCase === "sprint") ack.result = { case: "sprint", value: fromJson(SprintSchema, data as never, { ignoreUnknownFields: true }) };
    return create(WebSocketMessageSchema, { messageId: msg.messageId, payload: { case: "ack", value: ack } });
  }
}

