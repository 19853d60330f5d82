/** Entry point: mounts the app. */
import { options, render } from "preact";
import { connection, store } from "./app-context";
import { create, WebSocketMessageSchema } from "./proto";
import { notifyAssignments } from "./notify";
import { drawEventsOncePerFrame } from "./redraw";
import { applyTheme, notifications } from "./prefs";
import { App } from "./ui/shell";
import "./styles.css";

// A handle for benchmarks and people debugging in the console; not used by the app itself.
(window as unknown as { tandem: unknown }).tandem = { store, connection, create, WebSocketMessageSchema };

drawEventsOncePerFrame(options, () => store.applyingEvent);
applyTheme();
notifyAssignments(store, () => notifications.value);
render(<App />, document.getElementById("app")!);

// The app shell stays available for a reload while the server is down (see public/sw.js).
// Browsers allow it on https and on this machine's own addresses; elsewhere the page works as before.
if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
