import { describe, expect, it } from "vitest";
import { CHECK_REM, fitColumns, keyWidth, LIST_COLUMNS, TITLE_MIN_REM } from "./list-columns";

const keys = (widthRem: number, keyChars = 9) => fitColumns(widthRem, keyChars).map((c) => c.key);
const fixed = (widthRem: number, keyChars = 9) => CHECK_REM + fitColumns(widthRem, keyChars).reduce((sum, c) => sum + c.width, 0);

describe("the list's columns", () => {
  it("all show in a 1280px window, the title keeping its room", () => {
    expect(keys(1265 / 16)).toEqual(LIST_COLUMNS.map((c) => c.key));
    expect(1265 / 16 - fixed(1265 / 16)).toBeGreaterThanOrEqual(TITLE_MIN_REM);
  });

  it("give way in their order as the list narrows, never the key, title or status", () => {
    const order = [...LIST_COLUMNS].filter((c) => c.drop > 0).sort((a, b) => a.drop - b.drop).map((c) => c.key);
    let hidden: string[] = [];
    for (let width = 80; width >= 20; width -= 0.5) {
      const shown = keys(width);
      const gone = order.filter((k) => !shown.includes(k));
      expect(shown.length + gone.length).toBe(LIST_COLUMNS.length);
      // What is hidden is always the first few of the drop order, and more as it narrows.
      expect(gone).toEqual(order.slice(0, gone.length));
      expect(gone.length).toBeGreaterThanOrEqual(hidden.length);
      hidden = gone;
      expect(shown).toEqual(expect.arrayContaining(["key", "title", "status"]));
      if (gone.length < order.length) expect(width - fixed(width)).toBeGreaterThanOrEqual(TITLE_MIN_REM);
    }
    expect(hidden).toEqual(order);
  });

  it("show everything until measured", () => {
    expect(keys(0)).toEqual(LIST_COLUMNS.map((c) => c.key));
  });

  it("size the key column for the longest key", () => {
    expect(keyWidth(5)).toBe(4); // "WEB-1": the least, as wide as its header
    expect(keyWidth(11)).toBeGreaterThan(keyWidth(9));
    expect(fitColumns(0, 11).find((c) => c.key === "key")?.width).toBe(keyWidth(11));
  });
});
