/**
 * This person's inbox as the page knows it: the items read so far (newest first), the unread
 * count, and what watches which task. The server is the source: a page of the inbox read on
 * (re)connect, then inbox updates pushed to this member's every connection (new items, items
 * read or unread in another tab, items of a task gone to the trash taken out), each carrying the
 * unread count as of that change. Marking read
 * shows at once here and goes to the server through the outbox like any other change.
 */
import { batch, computed, signal } from "@preact/signals";
import { InboxItemKind, type InboxItem, type InboxPage, type InboxUpdate } from "../proto";

export class InboxStore {
  private readonly itemsSignal = signal<ReadonlyMap<bigint, InboxItem>>(new Map());
  /** The server's count, as of the last page or update it sent. */
  private readonly countSignal = signal(0);
  /** Items marked read (true) or unread (false) here and not confirmed yet. */
  private readonly pendingSignal = signal<ReadonlyMap<bigint, boolean>>(new Map());
  readonly loaded = signal(false);
  readonly nextPageToken = signal("");

  /** Newest first. */
  readonly items = computed(() => [...this.itemsSignal.value.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)));

  /** The unread count as shown: the server's, with this page's unconfirmed marks laid over. */
  readonly unread = computed(() => {
    let n = this.countSignal.value;
    const items = this.itemsSignal.value;
    for (const [id, read] of this.pendingSignal.value) {
      const it = items.get(id);
      if (!it) continue;
      const wasRead = it.readTime !== undefined;
      if (read && !wasRead) n--;
      else if (!read && wasRead) n++;
    }
    return Math.max(0, n);
  });

  isRead(item: InboxItem): boolean {
    const mark = this.pendingSignal.value.get(item.id);
    return mark ?? item.readTime !== undefined;
  }

  /** A page read from the server: the first replaces what is known, later ones add to it. */
  setPage(page: InboxPage, first: boolean): void {
    batch(() => {
      const next = new Map(first ? [] : this.itemsSignal.peek());
      for (const it of page.items) next.set(it.id, it);
      this.itemsSignal.value = next;
      this.countSignal.value = page.unreadCount;
      this.nextPageToken.value = first || this.nextPageToken.peek() ? page.nextPageToken : "";
      this.loaded.value = true;
    });
  }

  /** An update pushed by the server (after every change to this member's inbox). */
  apply(update: InboxUpdate): void {
    batch(() => {
      const next = new Map(this.itemsSignal.peek());
      const pending = new Map(this.pendingSignal.peek());
      // Items of a task gone to the trash leave (and come back in items when it is restored).
      for (const id of update.removedItemIds) {
        next.delete(id);
        pending.delete(id);
      }
      for (const it of update.items) {
        next.set(it.id, it);
        // The server has spoken for this item: its state is the one to show.
        if (pending.get(it.id) === (it.readTime !== undefined)) pending.delete(it.id);
      }
      // "Mark all" of many items lists only some of them: a count of 0 says every one is read.
      if (update.unreadCount === 0) {
        for (const [id, it] of next) if (it.readTime === undefined) next.set(id, { ...it, readTime: it.createTime });
        pending.clear();
      }
      this.itemsSignal.value = next;
      this.pendingSignal.value = pending;
      this.countSignal.value = update.unreadCount;
    });
  }

  /** Marks shown at once; the caller sends the command. Returns the ids whose state changes. */
  mark(ids: readonly bigint[], read: boolean): bigint[] {
    const items = this.itemsSignal.peek();
    const changed = ids.filter((id) => {
      const it = items.get(id);
      return it !== undefined && this.isRead(it) !== read;
    });
    if (changed.length === 0) return [];
    const pending = new Map(this.pendingSignal.peek());
    for (const id of changed) pending.set(id, read);
    this.pendingSignal.value = pending;
    return changed;
  }

  /** "Mark all read": every item shown, up to the newest one (returned; 0n when none). */
  markAll(): bigint {
    const newest = this.items.peek()[0]?.id ?? 0n;
    if (newest === 0n) return 0n;
    this.mark(
      this.items.peek().map((i) => i.id),
      true,
    );
    return newest;
  }

  /** The server refused a mark: show the items as they are. */
  forget(ids: readonly bigint[]): void {
    const pending = new Map(this.pendingSignal.peek());
    for (const id of ids) pending.delete(id);
    this.pendingSignal.value = pending;
  }

  clear(): void {
    batch(() => {
      this.itemsSignal.value = new Map();
      this.pendingSignal.value = new Map();
      this.countSignal.value = 0;
      this.loaded.value = false;
      this.nextPageToken.value = "";
    });
  }
}

/** What an item says happened, after the actor's name ("mentioned you"); due items have no actor. */
export function itemVerb(item: InboxItem): string {
  switch (item.kind) {
    case InboxItemKind.MENTION:
      return "mentioned you";
    case InboxItemKind.ASSIGNED:
      return "assigned you";
    case InboxItemKind.COMMENT:
      return "commented";
    case InboxItemKind.CHANGED:
      return "changed";
    case InboxItemKind.DUE_TODAY:
      return "Due today";
    case InboxItemKind.DUE_TOMORROW:
      return "Due tomorrow";
    default:
      return "";
  }
}

export function isDue(item: InboxItem): boolean {
  return item.kind === InboxItemKind.DUE_TODAY || item.kind === InboxItemKind.DUE_TOMORROW;
}

/** The @mention being typed just before the caret: its start (the @) and the text after it. */
export function mentionAt(text: string, caret: number): { start: number; query: string } | null {
  const before = text.slice(0, caret);
  const m = /(^|[^\w@])@([\p{L}\p{N}_.-]{0,40})$/u.exec(before);
  if (!m) return null;
  return { start: caret - m[2].length - 1, query: m[2] };
}

/** What completion inserts for a name: @ and the name without spaces (the server reads it so). */
export function mentionText(displayName: string): string {
  return `@${displayName.trim().replace(/\s+/g, "")}`;
}
