import { describe, expect, it } from "vitest";
import { create, TaskSchema } from "./proto";
import { emptyFilters, filtersActive, fromQuery, taskMatcher, toQuery } from "./filters";

const task = (init: Parameters<typeof create<typeof TaskSchema>>[1]) => create(TaskSchema, init);

describe("board filters", () => {
  it("round-trip through the address with several values each", () => {
    const f = { ...emptyFilters(), text: "login page", assignee: ["a", "none"], label: ["Bug", "ui"], priority: [0, 3], sprint: ["s1"], mine: true };
    const q = toQuery(f);
    expect(q).toBe("q=login+page&assignee=a&assignee=none&label=Bug&label=ui&priority=0&priority=3&sprint=s1&mine=1");
    expect(fromQuery(q)).toEqual(f);
    expect(toQuery(emptyFilters())).toBe("");
  });

  it("read what they can of a hand-edited query and drop the rest", () => {
    expect(fromQuery("priority=x&priority=&priority=2&label=%20&label=ops&label=ops&mine=yes")).toEqual({
      ...emptyFilters(),
      priority: [2],
      label: ["ops"],
    });
    expect(filtersActive(fromQuery("q=%20%20"))).toBe(false);
  });

  it("match any value of a kind and every kind, text in key, title or description, labels without case", () => {
    const t = task({ key: "WEB-7", title: "Deploy", description: "Move to Kubernetes", labels: ["Bug"], assigneeId: "a", priority: 2 });
    const m = (patch: Partial<ReturnType<typeof emptyFilters>>) => taskMatcher({ ...emptyFilters(), ...patch }, "a")!(t);
    expect(taskMatcher(emptyFilters(), "a")).toBeUndefined();
    expect(m({ text: "kubernetes" })).toBe(true);
    expect(m({ text: "web-7 deploy" })).toBe(true);
    expect(m({ text: "deploy nothing" })).toBe(false);
    expect(m({ label: ["bug"] })).toBe(true);
    expect(m({ label: ["ui", "BUG"] })).toBe(true);
    expect(m({ assignee: ["b", "none"] })).toBe(false);
    expect(m({ assignee: ["b", "a"], priority: [2] })).toBe(true);
    expect(m({ assignee: ["a"], priority: [3] })).toBe(false);
    expect(m({ sprint: ["none"], mine: true })).toBe(true);
  });
});
