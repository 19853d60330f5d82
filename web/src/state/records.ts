/**
 * A keyed collection of records with one signal per record and one generic put(): a reader of
 * one record (get) redraws only when that record changes; a reader of the whole collection
 * (values, size, iteration) redraws on any change, through one signal rather than one per
 * record, so following a board of thousands of tasks stays cheap. It reads like a Map.
 */
import { batch, signal, type Signal } from "@preact/signals";

export class Records<T> implements Iterable<[string, T]> {
  private readonly map = new Map<string, T>();
  /** Made on first get(); kept after a delete (holding undefined) so its reader sees it return. */
  private readonly atoms = new Map<string, Signal<T | undefined>>();
  /** Bumped on every change, for readers of the whole collection. */
  private readonly version = signal(0);

  get(id: string): T | undefined {
    let a = this.atoms.get(id);
    if (!a) {
      a = signal<T | undefined>(this.map.get(id));
      this.atoms.set(id, a);
    }
    return a.value;
  }

  /** The record without subscribing to it. */
  peek(id: string): T | undefined {
    return this.map.get(id);
  }

  /** Sets one record; its readers and the collection's are told. */
  put(id: string, value: T): void {
    this.map.set(id, value);
    batch(() => {
      const a = this.atoms.get(id);
      if (a) a.value = value;
      this.version.value++;
    });
  }

  /** Map-style alias of put, for callers written against a Map. */
  set(id: string, value: T): this {
    this.put(id, value);
    return this;
  }

  delete(id: string): boolean {
    if (!this.map.delete(id)) return false;
    batch(() => {
      const a = this.atoms.get(id);
      if (a) a.value = undefined;
      this.version.value++;
    });
    return true;
  }

  clear(): void {
    if (this.map.size === 0) return;
    this.map.clear();
    batch(() => {
      for (const a of this.atoms.values()) a.value = undefined;
      this.version.value++;
    });
  }

  has(id: string): boolean {
    this.version.value;
    return this.map.has(id);
  }

  get size(): number {
    this.version.value;
    return this.map.size;
  }

  keys(): string[] {
    this.version.value;
    return [...this.map.keys()];
  }

  values(): T[] {
    this.version.value;
    return [...this.map.values()];
  }

  entries(): [string, T][] {
    this.version.value;
    return [...this.map.entries()];
  }

  [Symbol.iterator](): Iterator<[string, T]> {
    return this.entries()[Symbol.iterator]();
  }

  /**
   * The records as a read-only Map: a new object (so a computed built on it sees a change) over
   * the same live entries, since copying thousands of records on every event is what made this
   * slower than redrawing everything.
   */
  view(): ReadonlyMap<string, T> {
    this.version.value;
    return new LiveView(this.map);
  }
}

class LiveView<T> implements ReadonlyMap<string, T> {
  constructor(private readonly m: ReadonlyMap<string, T>) {}
  get size(): number {
    return this.m.size;
  }
  get(id: string): T | undefined {
    return this.m.get(id);
  }
  has(id: string): boolean {
    return this.m.has(id);
  }
  forEach(fn: (value: T, key: string, map: ReadonlyMap<string, T>) => void): void {
    this.m.forEach((v, k) => fn(v, k, this));
  }
  entries(): MapIterator<[string, T]> {
    return this.m.entries();
  }
  keys(): MapIterator<string> {
    return this.m.keys();
  }
  values(): MapIterator<T> {
    return this.m.values();
  }
  [Symbol.iterator](): MapIterator<[string, T]> {
    return this.m.entries();
  }
}
