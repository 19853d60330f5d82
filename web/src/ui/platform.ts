/** How this platform writes its shortcuts, for the palette button and the cheat sheet: ⌘K on Apple
 * systems, Ctrl K elsewhere (the
 * key handler takes either modifier everywhere). */
export const APPLE =
  typeof navigator !== "undefined" && /Mac|iPhone|iPad|iPod/.test(navigator.platform || navigator.userAgent);
/** The modifier this platform names in shortcuts (either works everywhere). */
export const MOD = APPLE ? "⌘" : "Ctrl";

export const PALETTE_KEYS = APPLE ? "⌘K" : "Ctrl K";
export const PALETTE_KEYS_TITLE = APPLE ? "⌘K" : "Ctrl+K";
