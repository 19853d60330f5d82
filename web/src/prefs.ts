/**
 * This browser's preferences, kept in localStorage: the theme (light, dark, or the system's), the
 * view a project opens in, and whether to show desktop notifications. Each is a signal, so the page
 * follows a change at once; the theme is applied to the document as data-theme (styles.css).
 */
import { effect, signal } from "@preact/signals";

export type Theme = "system" | "light" | "dark";
export type DefaultView = "board" | "list";

const KEYS = { theme: "tandem.theme", defaultView: "tandem.defaultView", notifications: "tandem.notifications" } as const;

function read(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Private windows may refuse: the choice then lasts for this page only.
  }
}

function pick<T extends string>(raw: string | null, allowed: readonly T[], fallback: T): T {
  return (allowed as readonly string[]).includes(raw ?? "") ? (raw as T) : fallback;
}

export const theme = signal<Theme>(pick(read(KEYS.theme), ["system", "light", "dark"], "system"));
export const defaultView = signal<DefaultView>(pick(read(KEYS.defaultView), ["board", "list"], "board"));
export const notifications = signal(read(KEYS.notifications) === "on");

effect(() => write(KEYS.theme, theme.value));
effect(() => write(KEYS.defaultView, defaultView.value));
effect(() => write(KEYS.notifications, notifications.value ? "on" : "off"));

/** light or dark: the chosen theme, or the system's when the choice is "system". */
export function effectiveTheme(t: Theme, systemDark: boolean): "light" | "dark" {
  return t === "system" ? (systemDark ? "dark" : "light") : t;
}

/** Keeps the document's data-theme on the chosen theme, following the system's while it is chosen. */
export function applyTheme(doc: Document = document): void {
  const media = window.matchMedia?.("(prefers-color-scheme: dark)");
  const apply = () => {
    const t = effectiveTheme(theme.value, !!media?.matches);
    doc.documentElement.dataset.theme = t;
    doc.documentElement.style.colorScheme = t;
  };
  media?.addEventListener?.("change", apply);
  effect(apply);
}
