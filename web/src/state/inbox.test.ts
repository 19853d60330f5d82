import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { InboxItemKind, InboxItemSchema, InboxPageSchema, InboxUpdateSchema } from "../proto";
import { InboxStore, mentionAt, mentionText } from "./inbox";

const at = create(TimestampSchema, { seconds: 1n });
const item = (id: number, read = false) =>
  create(InboxItemSchema, { id: BigInt(id), kind: InboxItemKind.MENTION, taskKey: `W-${id}`, createTime: at, readTime: read ? at : undefined });

describe("the inbox", () => {
  it("counts unread as the server says, with this page's marks laid over until confirmed", () => {
    const inbox = new InboxStore();
    inbox.setPage(create(InboxPageSchema, { items: [item(1), item(2), item(3, true)], unreadCount: 2 }), true);
    expect(inbox.items.value.map((i) => i.id)).toEqual([3n, 2n, 1n]);
    expect(inbox.mark([2n], true)).toEqual([2n]);
    expect(inbox.unread.value).toBe(1);
    expect(inbox.mark([2n], true)).toEqual([]); // already so
    // Another tab's new item arrives before the mark is confirmed: both count.
    inbox.apply(create(InboxUpdateSchema, { items: [item(4)], unreadCount: 3 }));
    expect(inbox.unread.value).toBe(2);
    // The confirmation: the item as the server has it, and its count.
    inbox.apply(create(InboxUpdateSchema, { items: [item(2, true)], unreadCount: 2 }));
    expect(inbox.unread.value).toBe(2);
    expect(inbox.isRead(inbox.items.value.find((i) => i.id === 2n)!)).toBe(true);
    // Mark all: shown at once, up to the newest; a count of 0 from the server reads them all.
    expect(inbox.markAll()).toBe(4n);
    expect(inbox.unread.value).toBe(0);
    inbox.apply(create(InboxUpdateSchema, { items: [], unreadCount: 0 }));
    expect(inbox.items.value.every((i) => inbox.isRead(i))).toBe(true);
  });

  it("takes out the items of a task gone to the trash, and has them back when it is restored", () => {
    const inbox = new InboxStore();
    inbox.setPage(create(InboxPageSchema, { items: [item(1), item(2), item(3, true)], unreadCount: 2 }), true);
    inbox.mark([2n], true);
    inbox.apply(create(InboxUpdateSchema, { removedItemIds: [2n, 3n], unreadCount: 1 }));
    expect(inbox.items.value.map((i) => i.id)).toEqual([1n]);
    expect(inbox.unread.value).toBe(1);
    inbox.apply(create(InboxUpdateSchema, { items: [item(2), item(3, true)], unreadCount: 2 }));
    expect(inbox.items.value.map((i) => i.id)).toEqual([3n, 2n, 1n]);
    expect(inbox.unread.value).toBe(2);
  });

  it("finds the @mention being typed and writes a name the server reads", () => {
    expect(mentionAt("hi @bo", 6)).toEqual({ start: 3, query: "bo" });
    expect(mentionAt("@", 1)).toEqual({ start: 0, query: "" });
    expect(mentionAt("mail ann@host", 13)).toBeNull();
    expect(mentionAt("hi @bo there", 12)).toBeNull();
    expect(mentionAt("(@Zoë", 5)).toEqual({ start: 1, query: "Zoë" });
    expect(mentionText(" Bob  Stone ")).toBe("@BobStone");
  });
});
