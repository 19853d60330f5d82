/**
 * A keyed collection of records with one signal per record and one signal for which keys exist,
 * so a component redraws only when a record it read changes (or, if it listed the collection,
 * when one is added or removed). It reads like a Map; put() is the one way a record changes.
 */
import { batch, signal, type Signal } from "@preact/signals";

export class Records<T> implements Iterable<[string, T]> {
  /** A record's signal; kept after a delete (holding undefined) so a reader sees it come back. */
  private readonly atoms = new Map<string, Signal<T | undefined>>();
  /** Bumped when a key is added or removed. */
  private readonly keysChanged = signal(0);
  private readonly present = new Set<string>();

  private atom(id: string): Signal<T | undefined> {
    let a = this.atoms.get(id);
    if (!a) {
      a = signal<T | undefined>(undefined);
      this.atoms.set(id, a);
    }
    return a;
  }

  get(id: string): T | undefined {
    return this.atom(id).value;
  }

  peek(id: string): T | undefined {
    return this.atoms.get(id)?.peek();
  }

  has(id: string): boolean {
    this.atom(id).value;
    return this.present.has(id);
  }

  /** Sets one record; readers of it (and, when it is new, of the key set) are told. */
  put(id: string, value: T): void {
    batch(() => {
      this.atom(id).value = value;
      if (!this.present.has(id)) {
        this.present.add(id);
        this.keysChanged.value++;
      }
    });
  }

  /** Map-style alias of put, for callers written against a Map. */
  set(id: string, value: T): this {
    this.put(id, value);
    return this;
  }

  delete(id: string): boolean {
    if (!this.present.has(id)) return false;
    batch(() => {
      this.present.delete(id);
      this.atoms.get(id)!.value = undefined;
      this.keysChanged.value++;
    });
    return true;
  }

  clear(): void {
    if (this.present.size === 0) return;
    batch(() => {
      for (const id of this.present) this.atoms.get(id)!.value = undefined;
      this.present.clear();
      this.keysChanged.value++;
    });
  }

  get size(): number {
    this.keysChanged.value;
    return this.present.size;
  }

  keys(): string[] {
    this.keysChanged.value;
    return [...this.present];
  }

  values(): T[] {
    return this.keys().map((id) => this.get(id)!);
  }

  entries(): [string, T][] {
    return this.keys().map((id) => [id, this.get(id)!]);
  }

  [Symbol.iterator](): Iterator<[string, T]> {
    return this.entries()[Symbol.iterator]();
  }

  /** A plain Map of the current records (for building the optimistic view on top). */
  snapshot(): Map<string, T> {
    return new Map(this.entries());
  }
}
