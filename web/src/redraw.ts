/**
 * When Preact draws what changed.
 *
 * A redraw caused by an incoming change waits for the next frame: a burst of events (a bulk edit
 * of 500 tasks arrives as 500) is drawn once per frame, not once per event, each of which would
 * sort the whole board again. A person's own typing and clicks are drawn at once, even while a
 * frame's redraw is pending.
 *
 * Preact asks `options.debounceRendering` for a schedule only when the first component of a
 * batch is queued, or when the option has changed since it last asked. So the option reads as a
 * different function for each kind of change: a keystroke right after an event schedules its
 * own redraw instead of joining the one waiting for the frame. Without that, the field's state
 * would lag the text in it until the next frame, and an Enter pressed in between would submit
 * the old value (a quick-added title was lost that way).
 */
import type { Options } from "preact";

type Schedule = (redraw: () => void) => void;

export function drawEventsOncePerFrame(options: Options, applyingEvent: () => boolean): void {
  const onNextFrame: Schedule = (redraw) => void requestAnimationFrame(() => redraw());
  const atOnce: Schedule = (redraw) => queueMicrotask(redraw);
  Object.defineProperty(options, "debounceRendering", {
    configurable: true,
    get: () => (applyingEvent() ? onNextFrame : atOnce),
  });
}
