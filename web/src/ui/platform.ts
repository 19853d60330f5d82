/** How this platform writes the palette's shortcut: ⌘K on Apple systems, Ctrl K elsewhere (the
 * key handler takes either modifier everywhere). */
const APPLE = typeof navigator !== "undefined" && /Mac|iPhone|iPad|iPod/.test(navigator.platform);

export const PALETTE_KEYS = APPLE ? "⌘K" : "Ctrl K";
export const PALETTE_KEYS_TITLE = APPLE ? "⌘K" : "Ctrl+K";
