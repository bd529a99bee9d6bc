/**
 * A FIFO queue with O(1) amortized `push` and `shift` whose storage stays proportional to its
 * length, however long it is used without ever becoming empty.
 *
 * @module
 */

/** Slots a deque starts with (a power of two). */
const MIN_CAPACITY = 16;
/**
 * Capacity a deque keeps however empty it gets: below it the storage is reused rather than
 * given back, so a queue that fills and drains on every write allocates nothing.
 */
const KEEP_CAPACITY = 1024;

/** A first-in, first-out queue: a ring buffer whose capacity is a power of two. */
export class Deque<T> {
  #items: (T | undefined)[] = new Array<T | undefined>(MIN_CAPACITY);
  #head = 0;
  #length = 0;

  /** How many items are queued. */
  get length(): number {
    return this.#length;
  }

  /** Adds an item at the back. */
  push(item: T): void {
    if (this.#length === this.#items.length) this.#resize(this.#items.length * 2);
    const items = this.#items;
    items[(this.#head + this.#length) & (items.length - 1)] = item;
    this.#length++;
  }

  /** The item at the front, or undefined when empty. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head];
  }

  /** The item `index` places from the front. */
  at(index: number): T | undefined {
    if (index < 0 || index >= this.#length) return undefined;
    const items = this.#items;
    return items[(this.#head + index) & (items.length - 1)];
  }

  /** Removes and returns the item at the front. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const items = this.#items;
    const item = items[this.#head];
    items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (items.length - 1);
    this.#length--;
    // Give back storage once it is mostly unused: amortized O(1) per item.
    if (items.length > KEEP_CAPACITY && this.#length * 4 <= items.length) {
      this.#resize(items.length / 2);
    }
    return item;
  }

  /** Removes and returns every item, front first. */
  clear(): T[] {
    const rest: T[] = [];
    for (let i = 0; i < this.#length; i++) rest.push(this.at(i)!);
    this.#items = new Array<T | undefined>(MIN_CAPACITY);
    this.#head = 0;
    this.#length = 0;
    return rest;
  }

  /** Moves the items, front first, into new storage of `capacity` slots. */
  #resize(capacity: number): void {
    const items = this.#items;
    const next = new Array<T | undefined>(capacity);
    for (let i = 0; i < this.#length; i++) next[i] = items[(this.#head + i) & (items.length - 1)];
    this.#items = next;
    this.#head = 0;
  }
}
