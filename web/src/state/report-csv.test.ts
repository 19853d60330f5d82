import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { SprintReportSchema, SprintTaskOutcome } from "../proto";
import { csvName, reportCsv } from "./report-csv";

describe("a sprint report as CSV", () => {
  const report = create(SprintReportSchema, {
    sprint: { name: "Sprint 7, \"final\"" },
    frozen: true,
    committedPoints: 16,
    addedPoints: 2,
    removedPoints: 3,
    completedPoints: 8,
    remainingPoints: 7,
    carriedOverPoints: 7,
    carriedOverToSprintName: "Sprint 8",
    days: [
      { date: "2026-11-02", scope: 16, remaining: 16, ideal: 16, elapsed: true },
      { date: "2026-11-03", added: 2, completed: 5, scope: 18, remaining: 13, ideal: 8, elapsed: true },
      { date: "2026-11-04", ideal: 0, elapsed: false },
    ],
    tasks: [
      { key: "REP-1", title: "=SUM(A1)", points: 5, committed: true, outcome: SprintTaskOutcome.DONE, doneTime: { seconds: 1793700000n } },
      { key: "REP-2", title: "Line\nbreak", points: 2, outcome: SprintTaskOutcome.CARRIED_OVER },
    ],
  });

  it("has the totals, every day and every task, quoted where a spreadsheet needs it", () => {
    const lines = reportCsv(report).split("\r\n");
    expect(lines[0]).toBe("Sprint,Committed,Added,Removed,Completed,Remaining,Carried over,Carried over to,Capacity,Frozen");
    expect(lines[1]).toBe('"Sprint 7, ""final""",16,2,3,8,7,7,Sprint 8,,true');
    expect(lines[3]).toBe("Date,Added,Removed,Completed,Scope,Remaining,Ideal");
    expect(lines[4]).toBe("2026-11-02,0,0,0,16,16,16");
    expect(lines[5]).toBe("2026-11-03,2,0,5,18,13,8");
    // A day still to come has only its ideal.
    expect(lines[6]).toBe("2026-11-04,,,,,,0");
    expect(lines[8]).toBe("Key,Title,Points,Committed,Outcome,Joined,Left,Done");
    // A title starting like a formula is quoted, so a spreadsheet shows it as text.
    expect(lines[9]).toBe(`REP-1,"=SUM(A1)",5,true,Done,,,${new Date(1793700000 * 1000).toISOString()}`);
    // A line break inside a title stays inside its quoted cell (rows end with CRLF).
    expect(lines[10]).toBe('REP-2,"Line\nbreak",2,false,Carried over,,,');
    expect(lines).toHaveLength(12);
  });

  it("names the file after the sprint", () => {
    expect(csvName(report)).toBe("sprint-7-final-report.csv");
  });
});
