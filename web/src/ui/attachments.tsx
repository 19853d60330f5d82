/**
 * Attachments in the task panel: the task's files (images as thumbnails), attaching by button,
 * drag and drop or paste, and removing. Files go up over REST (multipart) and come back as an
 * attachment event for everyone; a pasted image in a comment is attached to the task and linked
 * from the comment's Markdown.
 */
import { useRef, useState } from "preact/hooks";
import { AttachmentSchema, fromJson, type Attachment, type Task } from "../proto";
import { clientId, displayName, store } from "../app-context";
import { headerName } from "../state/http";
import "./attachments.css";

const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

export const contentUrl = (a: Attachment) => `/api/v1/attachments/${encodeURIComponent(a.id)}/content`;
const thumbnailUrl = (a: Attachment) => `/api/v1/attachments/${encodeURIComponent(a.id)}/thumbnail`;
const isImage = (a: Attachment) => IMAGE_TYPES.has(a.contentType) && a.width > 0;

export function fileSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Uploads one file to a task; the attachment, or null (the notice says why). */
export async function upload(task: Task, file: File, commentId = ""): Promise<Attachment | null> {
  const form = new FormData();
  if (commentId) form.append("commentId", commentId);
  form.append("file", file, file.name || "pasted.png");
  try {
    const r = await fetch(`/api/v1/tasks/${encodeURIComponent(task.id)}/attachments`, {
      method: "POST",
      body: form,
      headers: {
        Accept: "application/json",
        "X-Tandem-Upload": "1",
        "X-Tandem-Client-Id": clientId(),
        "X-Tandem-Display-Name": headerName(displayName.value),
      },
    });
    const body = (await r.json().catch(() => null)) as { error?: { message?: string } } | null;
    if (!r.ok) {
      store.tell(`Couldn't attach ${file.name || "the image"}: ${body?.error?.message ?? `the server answered ${r.status}`}`);
      return null;
    }
    const a = fromJson(AttachmentSchema, body as never, { ignoreUnknownFields: true });
    store.putAttachment(a);
    return a;
  } catch {
    store.tell(`Couldn't attach ${file.name || "the image"}: the board is not reachable`);
    return null;
  }
}

/** The files of a paste or drop (images pasted from the clipboard included). */
function filesOf(data: DataTransfer | null): File[] {
  return data ? [...data.files] : [];
}

/** Markdown that shows an attachment in a comment: the image itself, or a link to the file. */
export function markdownFor(a: Attachment): string {
  const name = a.name.replace(/[[\]\\]/g, "\\$&");
  return `${isImage(a) ? "!" : ""}[${name}](${contentUrl(a)})`;
}

/** A comment box's paste: files are attached to the task and linked where the cursor is. */
export function pasteIntoComment(e: ClipboardEvent, task: Task, insert: (text: string) => void): void {
  const files = filesOf(e.clipboardData);
  if (files.length === 0 || store.readOnly) return;
  e.preventDefault();
  void Promise.all(files.map((f) => upload(task, f))).then((made) => {
    const links = made.filter((a): a is Attachment => a !== null).map(markdownFor);
    if (links.length) insert(links.join("\n"));
  });
}

/** A card's file count (nothing when it has none). */
export function CardFiles({ taskId }: { taskId: string }) {
  const n = store.attachmentCount(taskId);
  if (n === 0) return null;
  return (
    <span class="card-files" title={`${n} ${n === 1 ? "file" : "files"}`}>
      <svg aria-hidden="true" viewBox="0 0 16 16" width="12" height="12">
        <path d="M10.5 4.5 5.7 9.3a1.5 1.5 0 0 0 2.1 2.1l5-5a3 3 0 0 0-4.2-4.2l-5 5a4.5 4.5 0 0 0 6.4 6.4L14 9.6" />
      </svg>
      {n}
      <span class="sr-only">{n === 1 ? " file" : " files"}</span>
    </span>
  );
}

export function Attachments({ task }: { task: Task }) {
  const files = store.taskAttachments(task.id);
  const [uploading, setUploading] = useState<string[]>([]);
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const ro = store.readOnly;
  const send = (list: File[]) => {
    if (ro || list.length === 0) return;
    const names = list.map((f) => f.name || "pasted image");
    setUploading((u) => [...u, ...names]);
    for (const [i, f] of list.entries()) {
      void upload(task, f).finally(() => setUploading((u) => {
        const at = u.indexOf(names[i]);
        return at < 0 ? u : [...u.slice(0, at), ...u.slice(at + 1)];
      }));
    }
  };
  return (
    <div
      class={`field-block attachments${over ? " drop" : ""}`}
      data-testid="attachments"
      onDragOver={(e) => {
        if (ro || !e.dataTransfer?.types.includes("Files")) return;
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        if (!e.dataTransfer?.types.includes("Files")) return;
        e.preventDefault();
        setOver(false);
        send(filesOf(e.dataTransfer));
      }}
      onPaste={(e) => {
        const list = filesOf(e.clipboardData);
        if (list.length === 0 || (e.target as HTMLElement).closest("textarea, input")) return;
        e.preventDefault();
        send(list);
      }}
    >
      <div class="block-head">
        <span id={`files-${task.id}`}>Attachments</span>
        {files.length > 0 && <span class="count">{files.length}</span>}
        <span class="spacer" />
        {!ro && (
          <>
            <button type="button" class="small" onClick={() => input.current?.click()}>
              Attach files
            </button>
            <input
              ref={input}
              class="sr-only"
              type="file"
              multiple
              tabIndex={-1}
              aria-label="Choose files to attach"
              onChange={(e) => {
                const el = e.target as HTMLInputElement;
                send([...(el.files ?? [])]);
                el.value = "";
              }}
            />
          </>
        )}
      </div>
      {files.length === 0 && uploading.length === 0 && (
        <p class="muted small-text">{ro ? "No files." : "No files yet. Drop files here, or paste an image."}</p>
      )}
      <ul class="attachment-list" aria-labelledby={`files-${task.id}`}>
        {files.map((a) => (
          <li key={a.id} class={`attachment${isImage(a) ? " image" : ""}`} data-testid="attachment">
            {isImage(a) ? (
              <a class="thumb" href={contentUrl(a)} target="_blank" rel="noopener noreferrer" aria-label={`Open ${a.name}`}>
                <img src={thumbnailUrl(a)} alt="" loading="lazy" />
              </a>
            ) : (
              <span class="file-glyph" aria-hidden="true">
                {(a.name.split(".").at(-1) ?? "").slice(0, 4).toUpperCase() || "FILE"}
              </span>
            )}
            <span class="attachment-text">
              <a class="attachment-name" href={contentUrl(a)} download={a.name} title={a.name}>
                {a.name}
              </a>
              <span class="muted small-text">
                {fileSize(Number(a.size))}
                {isImage(a) ? ` · ${a.width}×${a.height}` : ""}
                {a.commentId ? " · in a comment" : ""}
              </span>
            </span>
            {!ro && (
              <button type="button" class="icon" aria-label={`Remove ${a.name}`} title="Remove" onClick={() => store.removeAttachment(a.id)}>
                ×
              </button>
            )}
          </li>
        ))}
        {uploading.map((n, i) => (
          <li key={`up-${i}`} class="attachment pending" aria-live="polite">
            <span class="file-glyph" aria-hidden="true">…</span>
            <span class="attachment-text">Uploading {n}…</span>
          </li>
        ))}
      </ul>
    </div>
  );
}
