import { describe, expect, it } from "vitest";
import { nextSprintDates } from "./sprint-dates";
import { CommentDrafts } from "./drafts";

const today = new Date(2026, 5, 10);

describe("nextSprintDates", () => {
  it("starts today for two weeks when there is no earlier sprint", () => {
    expect(nextSprintDates([], today)).toEqual({ startDate: "2026-06-10", endDate: "2026-06-23" });
    expect(nextSprintDates([{ startDate: "", endDate: "" }], today)).toEqual({ startDate: "2026-06-10", endDate: "2026-06-23" });
  });

  it("follows the sprint that ends last, with its length", () => {
    const sprints = [
      { startDate: "2026-03-02", endDate: "2026-03-20" },
      { startDate: "2026-01-05", endDate: "2026-01-16" },
    ];
    expect(nextSprintDates(sprints, today)).toEqual({ startDate: "2026-03-21", endDate: "2026-04-08" });
  });

  it("crosses a month, a year and a daylight-saving change in whole days", () => {
    expect(nextSprintDates([{ startDate: "2026-12-21", endDate: "2027-01-03" }], today)).toEqual({ startDate: "2027-01-04", endDate: "2027-01-17" });
    expect(nextSprintDates([{ startDate: "2026-03-16", endDate: "2026-03-29" }], today)).toEqual({ startDate: "2026-03-30", endDate: "2026-04-12" });
  });

  it("lasts two weeks after a sprint with only an end date", () => {
    expect(nextSprintDates([{ startDate: "", endDate: "2026-07-01" }], today)).toEqual({ startDate: "2026-07-02", endDate: "2026-07-15" });
  });
});

describe("CommentDrafts", () => {
  it("keeps a draft per task and forgets a blank one", () => {
    const m = new Map<string, string>();
    const storage = { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
    const drafts = new CommentDrafts(storage);
    drafts.set("a", "half a\nthought");
    expect(drafts.get("a")).toBe("half a\nthought");
    expect(drafts.get("b")).toBe("");
    drafts.set("a", "  ");
    expect(m.size).toBe(0);
    expect(new CommentDrafts(null).get("a")).toBe("");
  });
});
