/**
 * The outbox: commands made in this browser that the server has not acknowledged yet, in the order
 * they were made. It survives a page reload (localStorage) so an edit made offline is never lost;
 * each command keeps its message_id, so a replay after a reconnect is deduplicated by the server.
 */
import { signal } from "@preact/signals";
import { fromBinary, toBinary, WebSocketMessageSchema, type WebSocketMessage } from "../proto";

export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface OutboxEntry {
  msg: WebSocketMessage;
  /** The task, comment, project or sprint the command changes. */
  entityId: string;
  projectId: string;
  /**
   * Made while an earlier command of ours on the same entity was unacknowledged: its base_version
   * is rewritten to the version that earlier command produced once it is acknowledged.
   */
  chained: boolean;
}

interface Stored {
  b64: string;
  entityId: string;
  projectId: string;
  chained: boolean;
}

const KEY = "tandem.outbox.v1";

function toB64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromB64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export class Outbox {
  private entries: OutboxEntry[] = [];
  /** Bumped on every change: the optimistic view and the "unsent" count read it. */
  private readonly version = signal(0);
  private readonly listeners = new Set<() => void>();

  constructor(private readonly storage: KeyValueStorage | null, private readonly key = KEY) {
    this.load();
  }

  private load(): void {
    const raw = this.storage?.getItem(this.key);
    if (!raw) return;
    try {
      const stored = JSON.parse(raw) as Stored[];
      this.entries = stored.map((s) => ({
        msg: fromBinary(WebSocketMessageSchema, fromB64(s.b64)),
        entityId: s.entityId,
        projectId: s.projectId,
        chained: s.chained,
      }));
    } catch {
      // A corrupt entry must not stop the app from starting; what cannot be read is dropped.
      this.entries = [];
    }
  }

  /** Called after every change (the connection sends the head when it can). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Stores the entries and tells readers; call after changing an entry in place. */
  save(): void {
    this.version.value++;
    for (const fn of this.listeners) fn();
    if (!this.storage) return;
    if (this.entries.length === 0) {
      this.storage.removeItem(this.key);
      return;
    }
    const stored: Stored[] = this.entries.map((e) => ({
      b64: toB64(toBinary(WebSocketMessageSchema, e.msg)),
      entityId: e.entityId,
      projectId: e.projectId,
      chained: e.chained,
    }));
    this.storage.setItem(this.key, JSON.stringify(stored));
  }

  push(entry: OutboxEntry): void {
    this.entries.push(entry);
    this.save();
  }

  remove(messageId: string): OutboxEntry | undefined {
    const i = this.entries.findIndex((e) => e.msg.messageId === messageId);
    if (i < 0) return undefined;
    const [e] = this.entries.splice(i, 1);
    this.save();
    return e;
  }

  get(messageId: string): OutboxEntry | undefined {
    this.version.value;
    return this.entries.find((e) => e.msg.messageId === messageId);
  }

  /** The oldest unacknowledged command: it is sent first, and the next only after its answer. */
  first(): OutboxEntry | undefined {
    this.version.value;
    return this.entries[0];
  }

  all(): readonly OutboxEntry[] {
    this.version.value;
    return this.entries;
  }

  get size(): number {
    this.version.value;
    return this.entries.length;
  }

  hasEntity(entityId: string): boolean {
    this.version.value;
    return this.entries.some((e) => e.entityId === entityId);
  }
}
