/** Entry point: mounts the app. */
import { render } from "preact";
import { connection, store } from "./app-context";
import { create, WebSocketMessageSchema } from "./proto";
import { App } from "./ui/shell";
import "./styles.css";

// A handle for benchmarks and people debugging in the console; not used by the app itself.
(window as unknown as { tandem: unknown }).tandem = { store, connection, create, WebSocketMessageSchema };

render(<App />, document.getElementById("app")!);
