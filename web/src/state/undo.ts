/**
 * Undo and redo: this person's own recent changes, newest last. A step makes its reverting command
 * when it is undone (not when it is recorded), so it is based on the entity's version at that time;
 * undoing a step records the step that redoes it, and a new change ends the redo chain.
 */
import type { PayloadInit } from "./commands";

export interface UndoStep {
  /** The reverting command, or null when there is nothing left to revert (the entity is gone). */
  make: () => PayloadInit | null;
  entityId: string;
  projectId: string;
  /** What the change was, for the feedback after undoing it ("moving WEB-3"). */
  label: string;
}

const LIMIT = 50;

export class UndoStack {
  private readonly steps: UndoStep[] = [];
  private readonly redos: UndoStep[] = [];

  /** A new change of one's own: what was undone before it can no longer be redone. */
  push(step: UndoStep): void {
    this.redos.length = 0;
    this.keep(step);
  }

  pop(): UndoStep | undefined {
    return this.steps.pop();
  }

  /** The step that redoes an undone change. */
  pushRedo(step: UndoStep): void {
    this.redos.push(step);
    if (this.redos.length > LIMIT) this.redos.shift();
  }

  popRedo(): UndoStep | undefined {
    return this.redos.pop();
  }

  /** The step that undoes a redone change; the rest of the redo chain stays. */
  pushRedone(step: UndoStep): void {
    this.keep(step);
  }

  clear(): void {
    this.steps.length = 0;
    this.redos.length = 0;
  }

  private keep(step: UndoStep): void {
    this.steps.push(step);
    if (this.steps.length > LIMIT) this.steps.shift();
  }
}
