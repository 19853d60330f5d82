import { describe, expect, it } from "vitest";
import { dueState } from "./due";

const now = new Date(2026, 11, 1, 23, 30); // late on Tuesday, December 1, 2026

describe("due dates", () => {
  it("is overdue only once its day has passed, and never when done", () => {
    expect(dueState("2026-11-30", false, now, "en-US")?.state).toBe("overdue");
    expect(dueState("2026-12-01", false, now, "en-US")).toMatchObject({ state: "today", short: "Today" });
    expect(dueState("2026-12-03", false, now, "en-US")?.state).toBe("soon");
    expect(dueState("2026-12-20", false, now, "en-US")).toMatchObject({ state: "later", short: "Dec 20" });
    expect(dueState("2026-11-30", true, now, "en-US")?.state).toBe("done");
  });

  it("names the year only when it is not this one, and ignores what is not a date", () => {
    expect(dueState("2027-01-05", false, now, "en-US")?.short).toBe("Jan 5, 2027");
    expect(dueState("2026-11-30", false, now, "en-US")?.long).toBe("Monday, November 30, 2026");
    expect(dueState("soon", false, now, "en-US")).toBeNull();
    expect(dueState("", false, now, "en-US")).toBeNull();
  });
});
