import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { rankBetween } from "./overlay";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
/** Every rank the server's library made in testdata/server_ranks.py: [after, before, key]. */
const made = JSON.parse(readFileSync(here("./testdata/server-ranks.json"), "utf8")) as [string, string, string][];
const python = here("../../../.venv/bin/python");

describe("optimistic ranks", () => {
  it.skipIf(!existsSync(python))("the fixture is what the server's rank library makes", () => {
    const out = execFileSync(python, [here("./testdata/server_ranks.py")], { encoding: "utf8" });
    expect(JSON.parse(out)).toEqual(made);
  });

  it("sorts strictly between the server's neighbours, as the server would rank it", () => {
    expect(made.length).toBeGreaterThan(100);
    for (const [after, before, key] of made) {
      const r = rankBetween(after, before);
      if (after) expect(r > after, `${after} < ${r}`).toBe(true);
      if (before) expect(r < before, `${r} < ${before}`).toBe(true);
      expect(r).toBe(key);
    }
  });

  it("between a0 and a0V (where base 36 proposed a0i, past a0V)", () => {
    expect(made).toContainEqual(["a0", "a0V", "a0G"]);
    const r = rankBetween("a0", "a0V");
    expect("a0" < r && r < "a0V").toBe(true);
  });

  it("never fails the view: neighbours out of order, or a rank the server did not make", () => {
    const r = rankBetween("a5", "a1");
    expect("a1" < r && r < "a5").toBe(true);
    // "b" alone is no fractional-indexing key: the bound is dropped, the other one kept.
    const top = rankBetween("", "b");
    expect(top < "b").toBe(true);
    expect(() => rankBetween("b", "d")).not.toThrow();
  });
});
