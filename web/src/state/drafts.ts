/**
 * Comment drafts, one per task, kept in localStorage: closing the panel, opening another task or
 * reloading the page does not throw away what someone was typing. Sending clears it.
 */
import type { KeyValueStorage } from "./outbox";

const PREFIX = "tandem.commentDraft.";

export class CommentDrafts {
  constructor(private readonly storage: KeyValueStorage | null) {}

  get(taskId: string): string {
    try {
      return this.storage?.getItem(PREFIX + taskId) ?? "";
    } catch {
      return "";
    }
  }

  /** Keeps the draft; an empty or blank one is forgotten rather than stored. */
  set(taskId: string, text: string): void {
    if (!this.storage) return;
    try {
      if (text.trim()) this.storage.setItem(PREFIX + taskId, text);
      else this.storage.removeItem(PREFIX + taskId);
    } catch {
      // Storage full or refused: the draft lives on in the open panel only.
    }
  }
}
