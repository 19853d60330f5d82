/**
 * The inbox: the header's button with the unread count, the list of mentions, assignments,
 * changes to watched tasks and due dates (mark read, mark all read), the task panel's Watch
 * button, and @name completion for the comment and description boxes.
 */
import { signal } from "@preact/signals";
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { InboxItemKind, timestampDate, type InboxItem, type Member, type Task } from "../proto";
import { connection, connState, go, store } from "../app-context";
import { isDue, itemVerb, mentionAt, mentionText } from "../state/inbox";
import { Avatar, focusOnMount } from "./common";
import { assignable } from "./people";
import "./inbox.css";

export const inboxOpen = signal(false);

/** Reads the inbox whenever the connection (re)starts; while polling, again every little while. */
function useInboxFeed(): void {
  const state = connState.value;
  useEffect(() => {
    if (state !== "live" && state !== "polling") return;
    const conn = connection();
    const load = () => conn.listInbox().then((page) => store.inbox.setPage(page, true), () => {});
    load();
    if (state !== "polling") return;
    const t = setInterval(load, 15_000);
    return () => clearInterval(t);
  }, [state]);
}

function markRead(ids: readonly bigint[], read = true): void {
  const changed = store.inbox.mark(ids, read);
  if (changed.length === 0) return;
  store.enqueue({ case: "markInboxRead", value: { itemIds: changed, unread: !read } }, "inbox");
}

function markAllRead(): void {
  const upToId = store.inbox.markAll();
  if (upToId) store.enqueue({ case: "markInboxRead", value: { all: true, upToId } }, "inbox");
}

export function InboxButton() {
  useInboxFeed();
  const n = store.inbox.unread.value;
  const label = n ? `Inbox, ${n} unread` : "Inbox";
  return (
    <button
      class={`inbox-btn${inboxOpen.value ? " on" : ""}`}
      data-testid="inbox-button"
      aria-label={label}
      aria-expanded={inboxOpen.value}
      aria-controls="inbox"
      title={label}
      onClick={() => (inboxOpen.value = !inboxOpen.value)}
    >
      <svg width="15" height="15" viewBox="0 0 16 16" fill="none" stroke="currentColor" stroke-width="1.4" aria-hidden="true">
        <path d="M4 6.5a4 4 0 0 1 8 0c0 3 1.2 4.3 1.5 4.8H2.5C2.8 10.8 4 9.5 4 6.5Z" />
        <path d="M6.5 13.2a1.6 1.6 0 0 0 3 0" />
      </svg>
      {n > 0 && (
        <span class="badge" data-testid="inbox-badge" aria-hidden="true">
          {n > 99 ? "99+" : n}
        </span>
      )}
    </button>
  );
}

function when(item: InboxItem): string {
  if (!item.createTime) return "";
  const d = timestampDate(item.createTime);
  const s = (Date.now() - d.getTime()) / 1000;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return d.toLocaleDateString();
}

function Item({ item }: { item: InboxItem }) {
  const read = store.inbox.isRead(item);
  const actor = item.actorId ? store.members.get(item.actorId) : undefined;
  const due = isDue(item);
  const open = () => {
    markRead([item.id]);
    inboxOpen.value = false;
    go(item.projectId, item.taskId, "board");
  };
  return (
    <li class={`inbox-item${read ? "" : " unread"}`} data-testid="inbox-item" data-kind={item.kind}>
      <span class="unread-dot" aria-hidden="true" />
      {due ? <span class="due-icon" aria-hidden="true">◷</span> : <Avatar member={actor ?? { displayName: "Someone", color: "" }} size={22} />}
      <button class="inbox-open" onClick={open}>
        <span class="inbox-line">
          {due ? <strong class={item.kind === InboxItemKind.DUE_TODAY ? "due-today" : ""}>{itemVerb(item)}</strong> : <><strong>{actor?.displayName ?? "Someone"}</strong> {itemVerb(item)}</>}
          <span class="key"> {item.taskKey}</span> <span class="inbox-title">{item.taskTitle}</span>
        </span>
        {item.excerpt && !due && <span class="inbox-excerpt">{item.excerpt}</span>}
        <span class="inbox-when muted">
          {read ? "" : <span class="sr-only">Unread. </span>}
          {when(item)}
        </span>
      </button>
      <button class="link small-text" onClick={() => markRead([item.id], !read)}>
        {read ? "Mark unread" : "Mark read"}
        <span class="sr-only"> {item.taskKey}</span>
      </button>
    </li>
  );
}

export function InboxPanel() {
  const ref = useRef<HTMLDivElement>(null);
  const [more, setMore] = useState(false);
  useEffect(() => {
    if (!inboxOpen.value) return;
    connection().listMembers().then((list) => store.putMembers(list), () => {});
  }, [inboxOpen.value]);
  if (!inboxOpen.value) return null;
  const items = store.inbox.items.value;
  const unread = store.inbox.unread.value;
  const close = () => {
    inboxOpen.value = false;
    document.querySelector<HTMLElement>("[data-testid=inbox-button]")?.focus();
  };
  const loadMore = () => {
    setMore(true);
    connection()
      .listInbox(store.inbox.nextPageToken.value)
      .then((page) => store.inbox.setPage(page, false), () => {})
      .finally(() => setMore(false));
  };
  return (
    <div
      class="inbox"
      id="inbox"
      role="dialog"
      aria-label="Inbox"
      data-testid="inbox"
      ref={ref}
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          close();
        }
      }}
    >
      <div class="inbox-head">
        <h2 tabIndex={-1} ref={focusOnMount}>
          Inbox {unread > 0 && <span class="muted" data-testid="inbox-unread">· {unread} unread</span>}
        </h2>
        <span class="spacer" />
        <button class="link" onClick={markAllRead} disabled={unread === 0}>
          Mark all read
        </button>
        <button class="icon" aria-label="Close inbox" onClick={close}>
          ×
        </button>
      </div>
      {items.length === 0 ? (
        <p class="muted pad" data-testid="inbox-empty">
          {store.inbox.loaded.value
            ? "Nothing here yet. Mentions, tasks assigned to you, changes to tasks you watch and due dates show up here."
            : "Loading…"}
        </p>
      ) : (
        <ul class="inbox-list" aria-label="Inbox items">
          {items.map((it) => (
            <Item key={String(it.id)} item={it} />
          ))}
        </ul>
      )}
      {store.inbox.nextPageToken.value && (
        <div class="row pad">
          <button onClick={loadMore} disabled={more}>
            {more ? "Loading…" : "Show older"}
          </button>
        </div>
      )}
    </div>
  );
}

/** Watch or stop watching a task; shows who watches it. A pending change shows at once. */
export function WatchButton({ task }: { task: Task }) {
  const me = store.me?.id ?? "";
  useEffect(() => {
    if (connState.value !== "live" && connState.value !== "polling") return;
    connection().listWatchers(task.id).then((w) => store.watchers.put(w.taskId, w), () => {});
  }, [task.id, task.assigneeId, connState.value]);
  const confirmed = store.watchers.get(task.id)?.memberIds ?? [];
  let watching = confirmed.includes(me);
  for (const e of store.outbox.all()) {
    const p = e.msg.payload;
    if (p.case === "watchTask" && p.value.taskId === task.id) watching = p.value.watching;
  }
  const count = confirmed.length + (watching && !confirmed.includes(me) ? 1 : 0) - (!watching && confirmed.includes(me) ? 1 : 0);
  const who = confirmed.map((id) => store.members.get(id)?.displayName ?? "Someone").join(", ");
  return (
    <button
      class={`watch-btn${watching ? " on" : ""}`}
      data-testid="watch"
      aria-pressed={watching}
      title={who ? `Watching: ${who}` : "No one watches this task"}
      onClick={() => store.enqueue({ case: "watchTask", value: { taskId: task.id, watching: !watching } }, task.id)}
    >
      <svg width="14" height="14" viewBox="0 0 16 16" fill="none" stroke="currentColor" stroke-width="1.4" aria-hidden="true">
        <path d="M1.5 8S4 3.5 8 3.5 14.5 8 14.5 8 12 12.5 8 12.5 1.5 8 1.5 8Z" />
        <circle cx="8" cy="8" r="2" />
      </svg>
      {watching ? "Watching" : "Watch"}
      {count > 0 && <span class="watch-count" data-testid="watch-count">{count}</span>}
    </button>
  );
}

let boxes = 0;

/**
 * @name completion for the text box inside: typing @ and a few letters offers the matching
 * people; arrow keys choose, Enter or Tab inserts, Escape closes. It works on the box's own
 * value and input events, so the box keeps its own handlers (drafts, presence, saving).
 */
export function MentionBox({ children }: { children: ComponentChildren }) {
  const wrap = useRef<HTMLDivElement>(null);
  const [id] = useState(() => `mentions-${++boxes}`);
  const [query, setQuery] = useState<{ start: number; text: string } | null>(null);
  const [active, setActive] = useState(0);
  const [people, setPeople] = useState<Member[]>([]);
  const state = useRef({ query, active, people });
  state.current = { query, active, people };

  useEffect(() => {
    const box = wrap.current?.querySelector("textarea");
    if (!box) return;
    const update = () => {
      const found = mentionAt(box.value, box.selectionStart ?? box.value.length);
      if (!found) {
        setQuery(null);
        return;
      }
      const q = found.query.toLowerCase();
      const list = assignable(store.members.values())
        .filter((m) => m.id !== store.me?.id)
        .filter((m) => m.displayName.toLowerCase().split(/\s+/).some((w) => w.startsWith(q)) || m.displayName.toLowerCase().replace(/\s+/g, "").startsWith(q))
        .slice(0, 6);
      setPeople(list);
      setActive(0);
      setQuery(list.length ? { start: found.start, text: found.query } : null);
    };
    const choose = (m: Member) => {
      const q = state.current.query;
      if (!q) return;
      const caret = box.selectionStart ?? box.value.length;
      const insert = `${mentionText(m.displayName)} `;
      box.value = box.value.slice(0, q.start) + insert + box.value.slice(caret);
      const at = q.start + insert.length;
      box.setSelectionRange(at, at);
      box.dispatchEvent(new Event("input", { bubbles: true }));
      setQuery(null);
    };
    const onKey = (e: KeyboardEvent) => {
      const { query: q, active: i, people: list } = state.current;
      if (!q || list.length === 0) return;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        setActive((i + (e.key === "ArrowDown" ? 1 : list.length - 1)) % list.length);
      } else if ((e.key === "Enter" && !e.ctrlKey && !e.metaKey) || e.key === "Tab") {
        choose(list[i]);
      } else if (e.key === "Escape") {
        setQuery(null);
      } else return;
      // Captured here, before the box's own keys (save, cancel) and the page's shortcuts.
      e.preventDefault();
      e.stopPropagation();
    };
    (box as unknown as { chooseMention?: (m: Member) => void }).chooseMention = choose;
    const closeSoon = () => setTimeout(() => setQuery(null), 150);
    box.addEventListener("input", update);
    box.addEventListener("click", update);
    box.addEventListener("blur", closeSoon);
    const el = wrap.current!;
    el.addEventListener("keydown", onKey, true);
    return () => {
      box.removeEventListener("input", update);
      box.removeEventListener("click", update);
      box.removeEventListener("blur", closeSoon);
      el.removeEventListener("keydown", onKey, true);
    };
  }, []);

  useEffect(() => {
    const box = wrap.current?.querySelector("textarea");
    if (!box) return;
    box.setAttribute("aria-autocomplete", "list");
    if (query) {
      box.setAttribute("aria-controls", id);
      box.setAttribute("aria-activedescendant", `${id}-${active}`);
    } else {
      box.removeAttribute("aria-controls");
      box.removeAttribute("aria-activedescendant");
    }
  }, [query, active]);

  const choose = (m: Member) => {
    const box = wrap.current?.querySelector("textarea") as (HTMLTextAreaElement & { chooseMention?: (m: Member) => void }) | null;
    box?.chooseMention?.(m);
    box?.focus();
  };
  return (
    <div class="mention-box" ref={wrap}>
      {children}
      {query && (
        <ul class="mention-list" id={id} role="listbox" aria-label="People to mention" data-testid="mention-list">
          {people.map((m, n) => (
            <li
              key={m.id}
              id={`${id}-${n}`}
              role="option"
              aria-selected={n === active}
              class={n === active ? "active" : ""}
              onMouseDown={(e) => {
                e.preventDefault(); // keep the focus in the box
                choose(m);
              }}
            >
              <Avatar member={m} size={18} />
              {m.displayName}
              <span class="hint">{mentionText(m.displayName)}</span>
            </li>
          ))}
        </ul>
      )}
      <span class="sr-only" aria-live="polite">
        {query ? `${people.length} ${people.length === 1 ? "person matches" : "people match"}; arrow keys to choose, Enter to insert` : ""}
      </span>
    </div>
  );
}
