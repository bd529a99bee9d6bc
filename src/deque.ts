/**
 * A FIFO queue with O(1) amortized `push` and `shift` whose storage stays proportional to its
 * length, however long it is used without ever becoming empty.
 *
 * @module
 */

/** A first-in, first-out queue. */
export class Deque<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  /** How many items are queued. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Adds an item at the back. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** The item at the front, or undefined when empty. */
  peek(): T | undefined {
    return this.#items[this.#head];
  }

  /** The item `index` places from the front. */
  at(index: number): T | undefined {
    return this.#items[this.#head + index];
  }

  /** Removes and returns the item at the front. */
  shift(): T | undefined {
    const items = this.#items;
    if (this.#head >= items.length) return undefined;
    const item = items[this.#head];
    items[this.#head++] = undefined;
    if (this.#head === items.length) {
      items.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= items.length) {
      // Drop the consumed prefix once it is most of the array: amortized O(1) per item.
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes and returns every item, front first. */
  clear(): T[] {
    const rest = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return rest;
  }
}
