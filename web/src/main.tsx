/** Entry point: mounts the app. */
import { options, render } from "preact";
import { connection, store } from "./app-context";
import { create, WebSocketMessageSchema } from "./proto";
import { notifyAssignments } from "./notify";
import { applyTheme, notifications } from "./prefs";
import { App } from "./ui/shell";
import "./styles.css";

// A handle for benchmarks and people debugging in the console; not used by the app itself.
(window as unknown as { tandem: unknown }).tandem = { store, connection, create, WebSocketMessageSchema };

// A redraw caused by an incoming change waits for the next frame: a burst of events (a bulk edit
// of 500 tasks arrives as 500) is drawn once per frame, not once per event, each of which would
// sort the whole board again. A person's own typing and clicks are drawn at once, as before.
options.debounceRendering = (redraw) => (store.applyingEvent ? requestAnimationFrame(() => redraw()) : queueMicrotask(redraw));
applyTheme();
notifyAssignments(store, () => notifications.value);
render(<App />, document.getElementById("app")!);

// The app shell stays available for a reload while the server is down (see public/sw.js).
// Browsers allow it on https and on this machine's own addresses; elsewhere the page works as before.
if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
