/**
 * The poller: while the WebSocket cannot be established, follows a project's change log by long
 * polling the REST API (a snapshot first, read at one seq, then the events after it), and reloads
 * the snapshot when the log was trimmed or the server's epoch changed. A loop ends by itself once
 * stopped or restarted (each run has a generation; a newer one makes older answers stale).
 */
import { ListEventsResponseSchema, SnapshotSchema } from "../proto";
import { Stale, type RestClient } from "./http";
import type { BoardStore } from "./store";

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface PollerOptions {
  store: BoardStore;
  rest: RestClient;
  timers: Timers;
  waitSeconds: number;
  /** Failing for a while: "offline"; answering again: "polling". */
  report(state: "polling" | "offline"): void;
}

export class Poller {
  private generation = 0;

  constructor(private readonly opts: PollerOptions) {}

  /** (Re)starts following the store's project; any earlier loop ends. */
  start(): void {
    void this.loop(++this.generation);
  }

  /** Ends the loop; answers still on the way are dropped. */
  stop(): void {
    this.generation++;
  }

  private current(gen: number): () => boolean {
    return () => gen === this.generation;
  }

  /** The board read in one transaction on the server, at one seq: polling resumes from there. */
  private async loadSnapshot(projectId: string, gen: number): Promise<void> {
    const { store, rest } = this.opts;
    const snapshot = await rest.get(SnapshotSchema, `/api/v1/projects/${projectId}/snapshot`, this.current(gen));
    if (projectId !== store.projectId) throw new Stale();
    store.applySnapshot(snapshot);
  }

  private async loop(gen: number): Promise<void> {
    const { store, rest, timers } = this.opts;
    for (let failures = 0; gen === this.generation; ) {
      const projectId = store.projectId;
      if (!projectId) return;
      try {
        if (store.seq === 0n && store.epoch === "") await this.loadSnapshot(projectId, gen);
        const path = `/api/v1/projects/${projectId}/events?since=${store.seq}&wait=${this.opts.waitSeconds}`;
        const res = await rest.get(ListEventsResponseSchema, path, this.current(gen));
        if (gen !== this.generation || projectId !== store.projectId) return;
        const imported = res.events.some((ev) => ev.payload.case === "projectImported");
        if (imported || res.resyncRequired || (store.epoch && res.epoch && res.epoch !== store.epoch)) {
          await this.loadSnapshot(projectId, gen);
          continue;
        }
        for (const ev of res.events) store.applyMessage(ev);
        failures = 0;
        this.opts.report("polling");
      } catch (e) {
        if (e instanceof Stale) return;
        failures++;
        if (failures > 2) this.opts.report("offline");
        await new Promise((r) => timers.setTimeout(() => r(null), Math.min(10_000, 1000 * failures)));
        if (failures > 2 && gen === this.generation) this.opts.report("polling");
      }
    }
  }
}
