import { describe, expect, it } from "vitest";
import { labelChange } from "./label-change";

describe("labelChange", () => {
  it("names what was added and removed", () => {
    expect(labelChange([], ["ui", "auth"])).toBe("added labels ui, auth");
    expect(labelChange(["ui", "auth"], ["auth", "backend"])).toBe("added label backend, removed ui");
    expect(labelChange(["ui", "auth"], ["auth"])).toBe("removed label ui");
    expect(labelChange(["ui", "auth"], [])).toBe("removed labels ui, auth");
    expect(labelChange(["ui", "auth"], ["auth", "ui"])).toBe("reordered the labels");
  });

  it("says what they became when the earlier labels are unknown", () => {
    expect(labelChange(undefined, ["ui"])).toBe("set labels to ui");
    expect(labelChange(undefined, [])).toBe("cleared the labels");
  });
});
