/**
 * The connection: the WebSocket's lifecycle (hello, subscribe, heartbeat by the server's pings,
 * backoff), resuming from the last applied seq and epoch after a drop, and sending the outbox in
 * order (one command in flight at a time, so later commands can build on earlier ones' versions).
 * When the WebSocket cannot be established at all while the REST API answers, commands go
 * through the REST fallback sender (rest.ts) and the change log is followed by the poller
 * (poller.ts); both share the REST client (http.ts).
 */
import {
  create,
  fromBinary,
  toBinary,
  ErrorCode,
  InboxPageSchema,
  TaskWatchersSchema,
  ListCommentsResponseSchema,
  TaskSchema,
  ListAttachmentsResponseSchema,
  SprintReportSchema,
  VelocityResponseSchema,
  ListEventsResponseSchema,
  ListArchiveResponseSchema,
  ListMembersResponseSchema,
  ListTrashResponseSchema,
  ListTrashedProjectsResponseSchema,
  MemberSchema,
  ListProjectsResponseSchema,
  WebSocketMessageSchema,
  type Ack,
  type Comment,
  type ListArchiveResponse,
  type ListTrashResponse,
  type TrashedProject,
  type InboxPage,
  type Member,
  type Project,
  type SprintReport,
  type Task,
  type Attachment,
  type VelocityResponse,
  type TaskWatchers,
  type UpdatePresence,
  type Welcome,
  type WebSocketMessage,
} from "../proto";
import { envelope, type CommandInit, type PayloadCase } from "./commands";
import { RestClient } from "./http";
import { newId } from "./ids";
import { Poller, type Timers } from "./poller";
import { sendRest } from "./rest";
import type { BoardStore } from "./store";

export { headerName } from "./http";
export type { Timers } from "./poller";

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

/** The commands the connection itself sends (the session and reads), rather than the outbox. */
export const CONNECTION_COMMANDS = ["hello", "subscribe", "unsubscribe", "listComments", "updatePresence", "updateProfile", "getSprintReport", "getVelocity", "listInbox", "listWatchers"] as const satisfies readonly PayloadCase[];
type ConnectionCommand = (typeof CONNECTION_COMMANDS)[number];

export class RejectedError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
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
  private readonly listeners = new Set<() => void>();
  private readonly store: BoardStore;
  private readonly timers: Timers;
  private readonly rest: RestClient;
  private readonly poller: Poller;
  private readonly createSocket: (url: string) => SocketLike;
  private lastPresence = "";
  private presence: Partial<UpdatePresence> = {};
  private viewingSprint = "";
  private readonly welcomed = new WeakSet<SocketLike>();

  constructor(private readonly opts: ConnectionOptions) {
    this.store = opts.store;
    this.timers = opts.timers ?? realTimers;
    this.createSocket = opts.createSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike);
    this.rest = new RestClient({
      apiBase: opts.apiBase,
      clientId: opts.clientId,
      displayName: opts.displayName,
      fetch: opts.fetch ?? ((...a) => globalThis.fetch(...a)),
      onDenied: (status) => {
        if (this.state !== "polling") return false;
        this.end(`HTTP ${status}`);
        return true;
      },
    });
    this.poller = new Poller({
      store: this.store,
      rest: this.rest,
      timers: this.timers,
      waitSeconds: opts.pollWaitSeconds ?? 25,
      report: (s) => this.setState(s, s === "polling" ? this.detail : ""),
    });
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
  }

  stop(): void {
    this.stopped = true;
    this.poller.stop();
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
      const ack = await this.request(
        {
          case: "hello",
          value: {
            clientName: this.opts.clientName ?? "tandem-web 1.0",
            clientId: this.opts.clientId,
            protocolVersion: 1,
            displayName: this.opts.displayName,
          },
        },
        ws,
      );
      if (ack.result.case === "welcome") {
        this.welcome = ack.result.value;
        this.store.me = ack.result.value.member ?? null;
        this.store.connectionId = ack.result.value.connectionId;
        if (this.store.me) this.store.members.put(this.store.me.id, this.store.me);
      }
      this.welcomed.add(ws);
      this.attempts = 0;
      this.failuresWithoutOpen = 0;
      this.poller.stop(); // a working socket ends any polling loop
      this.subscribedProject = "";
      if (this.store.projectId) await this.subscribe(ws);
      this.setState("live");
      this.lastPresence = "";
      this.inflight = null;
      this.pump();
      return true;
    } catch {
      // The socket closed during the handshake; onclose schedules the retry.
      return false;
    }
  }

  /** Subscribes to the open project: resuming from the last applied seq, or, when `fresh`
   * (the project changed wholesale, e.g. an import), from a new snapshot. */
  private async subscribe(ws: SocketLike, fresh = false): Promise<void> {
    const s = this.store;
    const projectId = s.projectId;
    if (this.subscriptionId && this.subscribedProject) {
      this.sendRaw(ws, envelope({ case: "unsubscribe", value: { subscriptionId: this.subscriptionId } }));
    }
    const id = newId();
    this.subscriptionId = id;
    this.subscribedProject = projectId;
    const resume = !fresh && s.seq > 0n && s.epoch !== "";
    try {
      await this.request({ case: "subscribe", value: { projectId, sinceSeq: resume ? s.seq : undefined, epoch: resume ? s.epoch : "" } }, ws, id);
      if (s.missingProject === projectId) s.missingProject = "";
    } catch (e) {
      // An unknown project is an answer, not a broken connection: the page says "not found".
      if (!(e instanceof RejectedError && e.code === ErrorCode.NOT_FOUND)) throw e;
      if (this.subscriptionId === id) this.subscribedProject = "";
      s.missingProject = projectId;
    }
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
      ok = (await this.rest.fetch("/api/health")).ok;
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

  private startPolling(): void {
    this.poller.start();
    this.pump();
  }

  private sendRaw(ws: SocketLike, msg: WebSocketMessage): void {
    ws.send(toBinary(WebSocketMessageSchema, msg));
  }

  /** A command whose answer the caller awaits and which is not kept in the outbox. */
  request(payload: CommandInit<ConnectionCommand>, ws = this.ws, messageId = newId()): Promise<Ack> {
    if (!ws) return Promise.reject(new Error("not connected"));
    return new Promise<Ack>((resolve, reject) => {
      this.requests.set(messageId, { resolve, reject });
      this.sendRaw(ws, envelope(payload, messageId));
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
    if (msg.payload.case === "projectImported" && msg.payload.value.projectId === this.store.projectId) {
      // One event for a whole import: read the board afresh rather than replaying it.
      if (this.ws) void this.subscribe(this.ws, true).catch(() => {});
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

  /** Sends the oldest unanswered command, if none is in flight. Called on every outbox change. */
  pump(): void {
    if (this.inflight) return;
    const head = this.store.outbox.first();
    if (!head) return;
    if (this.state === "live" && this.ws) {
      this.inflight = head.msg.messageId;
      this.sendRaw(this.ws, head.msg);
    } else if (this.state === "polling") {
      this.inflight = head.msg.messageId;
      void sendRest(this.rest, head.msg).then(
        (answer) => {
          this.inflight = null;
          this.store.applyMessage(answer);
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
    void this.request({ case: "updatePresence", value }).catch(() => {});
  }

  /**
   * Renames this person in place: the server renames the member and tells every project they
   * view through presence; later hellos and REST calls carry the new name. Needs the live
   * connection (a rename is not queued in the outbox).
   */
  async rename(name: string): Promise<Member | null> {
    if (this.state !== "live" || !this.ws) throw new Error("Renaming needs the live connection; try again when it is back.");
    await this.request({ case: "updateProfile", value: { displayName: name } });
    this.opts.displayName = name;
    this.rest.setDisplayName(name);
    return this.showMe({ displayName: name });
  }

  /** Changes this person's colour in place, as rename does their name ("#rrggbb"). */
  async recolor(color: string): Promise<Member | null> {
    if (this.state !== "live" || !this.ws) throw new Error("Changing your colour needs the live connection; try again when it is back.");
    await this.request({ case: "updateProfile", value: { color } });
    return this.showMe({ color: color.toLowerCase() });
  }

  private showMe(change: Partial<Member>): Member | null {
    const me = this.store.me;
    if (!me) return null;
    const shown = { ...me, ...change };
    this.store.me = shown;
    this.store.members.put(shown.id, shown);
    return shown;
  }

  async listComments(taskId: string): Promise<Comment[]> {
    if (this.state === "live" && this.ws) {
      const ack = await this.request({ case: "listComments", value: { taskId } });
      return ack.result.case === "comments" ? ack.result.value.comments : [];
    }
    return (await this.rest.get(ListCommentsResponseSchema, `/api/v1/tasks/${taskId}/comments`)).comments;
  }

  /** A sprint's record (the server keeps it; frozen once the sprint completed). */
  async sprintReport(sprintId: string): Promise<SprintReport> {
    if (this.state === "live" && this.ws) {
      const ack = await this.request({ case: "getSprintReport", value: { sprintId } });
      if (ack.result.case === "sprintReport") return ack.result.value;
    }
    return this.rest.get(SprintReportSchema, `/api/v1/sprints/${encodeURIComponent(sprintId)}/report`);
  }

  /** Committed against completed points of the project's last completed sprints (as many as
   * the server shows by default). */
  async velocity(projectId: string): Promise<VelocityResponse> {
    if (this.state === "live" && this.ws) {
      const ack = await this.request({ case: "getVelocity", value: { projectId } });
      if (ack.result.case === "velocity") return ack.result.value;
    }
    return this.rest.get(VelocityResponseSchema, `/api/v1/projects/${encodeURIComponent(projectId)}/velocity`);
  }

  /** A page of this person's inbox, newest first (after pageToken). */
  async listInbox(pageToken = "", pageSize = 30): Promise<InboxPage> {
    if (this.state === "live" && this.ws) {
      const ack = await this.request({ case: "listInbox", value: { pageToken, pageSize } });
      return ack.result.case === "inbox" ? ack.result.value : create(InboxPageSchema);
    }
    const q = new URLSearchParams({ pageSize: String(pageSize), ...(pageToken ? { pageToken } : {}) });
    return this.rest.get(InboxPageSchema, `/api/v1/inbox?${q}`);
  }

  /** Who watches a task. */
  async listWatchers(taskId: string): Promise<TaskWatchers> {
    if (this.state === "live" && this.ws) {
      const ack = await this.request({ case: "listWatchers", value: { taskId } });
      return ack.result.case === "watchers" ? ack.result.value : create(TaskWatchersSchema, { taskId });
    }
    return this.rest.get(TaskWatchersSchema, `/api/v1/tasks/${encodeURIComponent(taskId)}/watchers`);
  }

  /** Who this page acts as, with its role, for a client without a WebSocket welcome. */
  async loadMe(): Promise<Member | null> {
    try {
      const me = await this.rest.get(MemberSchema, "/api/v1/me");
      if (!this.welcome) {
        this.store.me = me;
        this.store.members.put(me.id, me);
      }
      return me;
    } catch {
      return null;
    }
  }

  /** A task's attachments, its comments' included (REST): an archived task's too. */
  async listAttachments(taskId: string): Promise<Attachment[]> {
    return (await this.rest.get(ListAttachmentsResponseSchema, `/api/v1/tasks/${encodeURIComponent(taskId)}/attachments`)).attachments;
  }

  /** One task as the server has it (REST): an archived one too, which no board snapshot lists. */
  async getTask(taskId: string): Promise<Task> {
    return this.rest.get(TaskSchema, `/api/v1/tasks/${encodeURIComponent(taskId)}`);
  }

  /** The project's trash, newest first (REST, whichever way the board is followed). */
  async listTrash(projectId: string): Promise<ListTrashResponse> {
    return this.rest.get(ListTrashResponseSchema, `/api/v1/projects/${encodeURIComponent(projectId)}/trash`);
  }

  /** The project's archive; q narrows the tasks as the task list's q does. */
  async listArchive(projectId: string, q = ""): Promise<ListArchiveResponse> {
    const query = q ? `?q=${encodeURIComponent(q)}` : "";
    return this.rest.get(ListArchiveResponseSchema, `/api/v1/projects/${encodeURIComponent(projectId)}/archive${query}`);
  }

  /** Deleted projects still restorable, newest first. */
  async listTrashedProjects(): Promise<TrashedProject[]> {
    return (await this.rest.get(ListTrashedProjectsResponseSchema, "/api/v1/trash/projects")).projects;
  }

  async listMembers(): Promise<Member[]> {
    return (await this.rest.get(ListMembersResponseSchema, "/api/v1/members")).members;
  }

  async listProjects(): Promise<Project[]> {
    return (await this.rest.get(ListProjectsResponseSchema, "/api/v1/projects")).projects;
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
      const res = await this.rest.get(ListEventsResponseSchema, `/api/v1/projects/${projectId}/events?since=${since}`);
      if (res.resyncRequired) return { events, complete: false, seq: since };
      events.push(...res.events);
      const last = res.events.at(-1)?.payload.value as { seq?: bigint } | undefined;
      if (!last?.seq || last.seq >= res.headSeq) return { events, complete: true, seq: last?.seq ?? since };
      since = last.seq;
    }
    return { events, complete: false, seq: since };
  }
}
