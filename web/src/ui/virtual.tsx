/**
 * Long lists drawn a screenful at a time: a Preact hook over @tanstack/virtual-core (the engine of
 * @tanstack/react-virtual, whose hook this mirrors). Only the rows in view, and a few either side,
 * are in the page; the rest is a spacer of their estimated height.
 */
import { elementScroll, observeElementOffset, observeElementRect, Virtualizer, type VirtualizerOptions } from "@tanstack/virtual-core";
import { useLayoutEffect, useReducer, useState } from "preact/hooks";

type Options = Pick<VirtualizerOptions<HTMLElement, HTMLElement>, "count" | "getScrollElement" | "estimateSize" | "getItemKey" | "overscan" | "enabled" | "scrollMargin" | "gap">;

export function useVirtualizer(options: Options): Virtualizer<HTMLElement, HTMLElement> {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const resolved: VirtualizerOptions<HTMLElement, HTMLElement> = {
    observeElementRect,
    observeElementOffset,
    scrollToFn: elementScroll,
    ...options,
    onChange: () => rerender(0),
  };
  const [instance] = useState(() => new Virtualizer<HTMLElement, HTMLElement>(resolved));
  instance.setOptions(resolved);
  useLayoutEffect(() => instance._didMount(), []);
  useLayoutEffect(() => instance._willUpdate());
  return instance;
}

/** Lists up to this long are drawn whole (no windowing: nothing to gain, and the DOM stays plain). */
export const WINDOW_FROM = 150;

/**
 * The items of a scrolling list, index by index: all of them when there are few, else only those
 * in view (each measured as drawn, so items may differ in height). `first` is set to the index of
 * the first item drawn, for code that maps a drawn element back to its index (drop positions);
 * `reveal` is an index to scroll into view when it is not drawn (the keyboard's selection).
 */
export function Windowed({
  scroller,
  count,
  keyOf,
  estimate,
  gap = 0,
  first,
  reveal = -1,
  children,
}: {
  scroller: { current: HTMLElement | null };
  count: number;
  keyOf: (i: number) => string;
  estimate: number;
  gap?: number;
  first?: { current: number };
  reveal?: number;
  children: (i: number) => preact.ComponentChild;
}) {
  const windowed = count > WINDOW_FROM;
  const v = useVirtualizer({
    count,
    getScrollElement: () => scroller.current,
    estimateSize: () => estimate,
    getItemKey: (i) => keyOf(i),
    overscan: 6,
    enabled: windowed,
  });
  const items = windowed ? v.getVirtualItems() : [];
  const from = items[0]?.index ?? 0;
  const to = items.at(-1)?.index ?? -1;
  useLayoutEffect(() => {
    if (windowed && reveal >= 0 && (reveal < from || reveal > to)) v.scrollToIndex(reveal, { align: "auto" });
  }, [reveal]);
  if (!windowed) {
    if (first) first.current = 0;
    return <>{Array.from({ length: count }, (_, i) => children(i))}</>;
  }
  if (first) first.current = from;
  const top = items[0]?.start ?? 0;
  const bottom = Math.max(0, v.getTotalSize() - (items.at(-1)?.end ?? 0));
  return (
    <div class="windowed" style={{ paddingTop: `${top}px`, paddingBottom: `${bottom}px`, display: "flex", flexDirection: "column", gap: `${gap}px` }}>
      {items.map((it) => (
        <div key={it.key} data-index={it.index} ref={v.measureElement}>
          {children(it.index)}
        </div>
      ))}
    </div>
  );
}
