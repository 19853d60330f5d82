/** This person's name after the first run: their avatar in the header opens a dialog to change it.
 * Saving renames the member in place over the live connection (no reload): everyone viewing a
 * project with this person sees the new name through presence, and later hellos carry it. Only
 * people on this machine choose their name; an invited person's name is the one on their invite. */
import { useState } from "preact/hooks";
import { MemberRole } from "../proto";
import { connection, displayName, NAME_KEY, store } from "../app-context";
import { Avatar, focusOnMount } from "./common";

const MAX_NAME = 80;

function NameDialog({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState(displayName.value);
  const [error, setError] = useState("");
  const [saving, setSaving] = useState(false);
  const clean = name.trim();
  return (
    <div class="modal-backdrop" role="dialog" aria-modal="true" aria-label="Your name">
      <form
        class="modal"
        onKeyDown={(e) => e.key === "Escape" && onClose()}
        onSubmit={(e) => {
          e.preventDefault();
          if (!clean) return;
          if (clean === displayName.value) return onClose();
          setSaving(true);
          connection()
            .rename(clean)
            .then(() => {
              localStorage.setItem(NAME_KEY, clean);
              displayName.value = clean;
              onClose();
            })
            .catch((err: Error) => {
              setSaving(false);
              setError(`Couldn't change your name: ${err.message}`);
            });
        }}
      >
        <h2>Your name</h2>
        <p class="muted">Your teammates see this name on the board, in comments and in the activity.</p>
        <input
          ref={focusOnMount}
          aria-label="Your name"
          maxLength={MAX_NAME}
          value={name}
          onInput={(e) => setName((e.target as HTMLInputElement).value)}
        />
        {error && (
          <p class="danger" role="alert">
            {error}
          </p>
        )}
        <div class="row end">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button class="primary" type="submit" disabled={!clean || saving}>
            Save
          </button>
        </div>
      </form>
    </div>
  );
}

export function Me() {
  const [open, setOpen] = useState(false);
  const me = store.me ?? { displayName: displayName.value, color: "" };
  const invited = store.me !== null && store.me.role !== MemberRole.OWNER;
  if (invited) return <Avatar member={me} />;
  return (
    <>
      <button class="me" title="Change your name" onClick={() => setOpen(true)}>
        {/* The initials are a picture of the name, not words: the hidden text says the name. */}
        <span aria-hidden="true">
          <Avatar member={me} />
        </span>
        <span class="sr-only">Your name: {displayName.value}</span>
      </button>
      {open && <NameDialog onClose={() => setOpen(false)} />}
    </>
  );
}
