/**
 * Settings (#/settings): this person's name and colour, the theme (light, dark or the system's), the view a
 * project opens in, and desktop notifications. Everything but the name is this browser's own
 * (prefs.ts); the name and the colour go to the server (UpdateProfile), live for everyone.
 */
import { useState } from "preact/hooks";
import { connection, displayName, NAME_KEY, store } from "../app-context";
import { defaultView, notifications, theme, type DefaultView, type Theme } from "../prefs";
import { MemberRole } from "../proto";
import { Avatar } from "./common";
import "./pages.css";

function Choice<T extends string>({ legend, name, value, options, onChange }: { legend: string; name: string; value: T; options: { value: T; label: string }[]; onChange: (v: T) => void }) {
  return (
    <fieldset class="choice" data-testid={`setting-${name}`}>
      <legend>{legend}</legend>
      {options.map((o) => (
        <label key={o.value}>
          <input type="radio" name={name} value={o.value} checked={value === o.value} onChange={() => onChange(o.value)} />
          {o.label}
        </label>
      ))}
    </fieldset>
  );
}

function NameSetting() {
  const [name, setName] = useState(displayName.value);
  const [error, setError] = useState("");
  const clean = name.trim();
  // Someone invited over the LAN carries the invite's name: the owner chose it for them.
  const invited = !!store.me && store.me.role !== MemberRole.OWNER && !localStorage.getItem(NAME_KEY);
  return (
    <form
      class="setting-name"
      onSubmit={(e) => {
        e.preventDefault();
        if (!clean || clean === displayName.value) return;
        // In place, live for everyone viewing a project with this person (no reload).
        connection()
          .rename(clean)
          .then(() => {
            localStorage.setItem(NAME_KEY, clean);
            displayName.value = clean;
            setError("");
          })
          .catch((err: Error) => setError(`Couldn't change your name: ${err.message}`));
      }}
    >
      <label for="setting-name-input">Your name</label>
      <div class="row">
        <Avatar member={store.me ? { ...store.me, displayName: clean || displayName.value } : null} size={28} />
        <input id="setting-name-input" maxLength={80} value={name} disabled={invited} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        {!invited && (
          <button class="primary" type="submit" disabled={!clean || clean === displayName.value}>
            Save name
          </button>
        )}
      </div>
      <p class="muted">{invited ? "Your name is the one on your invite." : "Teammates see it on the board, in comments and in the activity."}</p>
      {error && (
        <p class="danger" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function ColorSetting() {
  const mine = store.me?.color || "#5e6ad2";
  const [color, setColor] = useState(mine);
  const [error, setError] = useState("");
  const invited = !!store.me && store.me.role !== MemberRole.OWNER && !localStorage.getItem(NAME_KEY);
  if (invited) return null;
  return (
    <form
      class="setting-name"
      data-testid="setting-color"
      onSubmit={(e) => {
        e.preventDefault();
        connection()
          .recolor(color)
          .then(() => setError(""))
          .catch((err: Error) => setError(`Couldn't change your colour: ${err.message}`));
      }}
    >
      <label for="setting-color-input">Your colour</label>
      <div class="row">
        <Avatar member={store.me ? { ...store.me, color } : null} size={28} />
        <input id="setting-color-input" type="color" value={color} onInput={(e) => setColor((e.target as HTMLInputElement).value)} />
        <button class="primary" type="submit" disabled={color.toLowerCase() === mine.toLowerCase()}>
          Save colour
        </button>
      </div>
      <p class="muted">Your avatar and the ring others see around it on the board.</p>
      {error && (
        <p class="danger" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function NotificationSetting() {
  const supported = typeof Notification !== "undefined";
  const [permission, setPermission] = useState(supported ? Notification.permission : "denied");
  return (
    <fieldset class="choice" data-testid="setting-notifications">
      <legend>Notifications</legend>
      <label>
        <input
          type="checkbox"
          checked={notifications.value}
          disabled={!supported}
          onChange={(e) => {
            const on = (e.target as HTMLInputElement).checked;
            notifications.value = on;
            if (on && supported && Notification.permission === "default") void Notification.requestPermission().then(setPermission);
          }}
        />
        Show a desktop notification when someone assigns a task to me
      </label>
      {notifications.value && permission === "denied" && <p class="muted">This browser blocks notifications for Tandem; allow them in its site settings.</p>}
    </fieldset>
  );
}

export function SettingsPage() {
  return (
    <section class="settings-page" aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      <NameSetting />
      <ColorSetting />
      <Choice<Theme>
        legend="Theme"
        name="theme"
        value={theme.value}
        options={[
          { value: "system", label: "Same as the system" },
          { value: "light", label: "Light" },
          { value: "dark", label: "Dark" },
        ]}
        onChange={(v) => (theme.value = v)}
      />
      <Choice<DefaultView>
        legend="Open projects in"
        name="default-view"
        value={defaultView.value}
        options={[
          { value: "board", label: "Board" },
          { value: "list", label: "List" },
        ]}
        onChange={(v) => (defaultView.value = v)}
      />
      <NotificationSetting />
    </section>
  );
}
