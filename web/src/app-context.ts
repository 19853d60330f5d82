/** The single store and connection of the page, the route, and the page's own signals (filters, selection). */
import type { JsonValue } from "@bufbuild/protobuf";
import { batch, effect, signal } from "@preact/signals";
import { emptyFilters, fromQuery, toQuery, type BoardFilters } from "./filters";
import { fromJson, MemberRole, MemberSchema } from "./proto";
import { Connection } from "./state/connection";
import { BoardStore } from "./state/store";
import { newId } from "./state/ids";

export const CLIENT_ID_KEY = "tandem.clientId";
export const NAME_KEY = "tandem.displayName";

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

export function clientId(): string {
  const s = storage();
  let id = s?.getItem(CLIENT_ID_KEY) ?? "";
  if (!id) {
    id = newId();
    s?.setItem(CLIENT_ID_KEY, id);
  }
  return id;
}

export const displayName = signal(storage()?.getItem(NAME_KEY) ?? "");
/** Whether the page still has to learn if it may ask the name: "checking" until /api/v1/me answers. */
export const identity = signal<"checking" | "ask" | "known">(displayName.value ? "known" : "checking");
export const store = new BoardStore(storage());

export type View = "board" | "sprints" | "archive" | "trash";

/** Pages outside any project: #/diagnostics. */
export type Page = "" | "diagnostics";

export interface Route {
  projectId: string;
  taskId: string;
  view: View;
  page: Page;
  /** The sprint whose report the sprints view shows; "" for the plan. */
  reportId: string;
}

/** #/p/PROJECT[/sprints[/r/SPRINT]|/archive|/trash][/t/TASK][?FILTERS], or #/diagnostics */
function parseHash(): Route {
  const m = /^#\/p\/([^/?]+)(?:\/(sprints|archive|trash)(?:\/r\/([^/?]+))?)?(?:\/t\/([^/?]+))?/.exec(location.hash);
  return {
    projectId: m ? decodeURIComponent(m[1]) : "",
    view: (m?.[2] as View | undefined) ?? "board",
    reportId: m?.[2] === "sprints" && m[3] ? decodeURIComponent(m[3]) : "",
    taskId: m?.[4] ? decodeURIComponent(m[4]) : "",
    page: !m && /^#\/diagnostics(?:$|[/?])/.test(location.hash) ? "diagnostics" : "",
  };
}

/** The address of a sprint's report. */
export function reportHref(projectId: string, sprintId: string): string {
  return `#/p/${projectId}/sprints/r/${sprintId}`;
}

export const route = signal<Route>(parseHash());

function hashQuery(): string {
  const i = location.hash.indexOf("?");
  return i < 0 ? "" : location.hash.slice(i + 1);
}

/** Board filters, read from the address and kept in it (see filters.ts). */
export const filters = signal<BoardFilters>(fromQuery(hashQuery()));

/** Writes the filters into the address without a new history entry (typing is not navigating). */
function filtersToHash(): void {
  const q = route.peek().projectId ? toQuery(filters.peek()) : "";
  const want = (location.hash.split("?")[0] || "#/") + (q ? `?${q}` : "");
  if (want !== location.hash) history.replaceState(history.state, "", want);
}

window.addEventListener("hashchange", () => {
  const before = route.peek().projectId;
  route.value = parseHash();
  // A link within the project (a tab, a task) carries no query: the filters stay; another
  // project starts unfiltered; an address with a query (back, a shared link) says what they are.
  const q = hashQuery();
  if (q) {
    if (q !== toQuery(filters.peek())) filters.value = fromQuery(q);
  } else if (route.peek().projectId !== before) filters.value = emptyFilters();
  filtersToHash();
});
effect(() => {
  void filters.value;
  filtersToHash();
});

/** Goes to a project's board or sprints view (the current one unless given), with a task open. */
export function go(projectId: string, taskId = "", view: View = route.value.view): void {
  const v = view === "board" ? "" : `/${view}`;
  location.hash = projectId ? `#/p/${projectId}${v}${taskId ? `/t/${taskId}` : ""}` : "#/";
}

let conn: Connection | null = null;
export const connState = signal("connecting");
/** Why the connection is in its state (the indicator's tooltip). */
export const connDetail = signal("");

export function connection(): Connection {
  if (!conn) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    conn = new Connection({
      store,
      wsUrl: `${proto}//${location.host}/ws`,
      clientId: clientId(),
      displayName: displayName.value,
    });
    conn.onChange(() => {
      connState.value = conn!.state;
      connDetail.value = conn!.detail;
    });
    store.outbox.onChange(() => conn!.pump());
  }
  return conn;
}

/**
 * Before asking "Your name": someone who came through an invite link already has a name (the
 * invite's), so only the person at this machine (the owner) is asked. Without an answer, ask.
 */
export async function learnIdentity(fetchImpl: typeof fetch = (...a) => globalThis.fetch(...a)): Promise<void> {
  if (displayName.value) return;
  try {
    const r = await fetchImpl("/api/v1/me", { headers: { Accept: "application/json" } });
    if (r.ok) {
      const me = fromJson(MemberSchema, (await r.json()) as JsonValue, { ignoreUnknownFields: true });
      if (me.role !== MemberRole.OWNER && me.displayName) {
        batch(() => {
          store.me = me;
          store.members.put(me.id, me);
          displayName.value = me.displayName;
          identity.value = "known";
        });
        return;
      }
    }
  } catch {
    // Unknown: asking is the safe default.
  }
  identity.value = "ask";
}

/** The keyboard selection. */
export const selectedTask = signal("");
export const paletteOpen = signal(false);
export const quickAddStatus = signal(0);
