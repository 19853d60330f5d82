/**
 * Undo: this person's own recent changes, newest last. A step makes its reverting command when
 * it is undone (not when it is recorded), so it is based on the entity's version at that time.
 */
import type { PayloadInit } from "./commands";

export interface UndoStep {
  /** The reverting command, or null when there is nothing left to revert (the entity is gone). */
  make: () => PayloadInit | null;
  entityId: string;
  projectId: string;
}

const LIMIT = 50;

export class UndoStack {
  private readonly steps: UndoStep[] = [];

  push(step: UndoStep): void {
    this.steps.push(step);
    if (this.steps.length > LIMIT) this.steps.shift();
  }

  pop(): UndoStep | undefined {
    return this.steps.pop();
  }

  clear(): void {
    this.steps.length = 0;
  }
}
