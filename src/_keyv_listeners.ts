/**
 * The listeners of the Keyv store's events (Keyv calls `on`, `off` and `emit` on its store, as
 * on a Node `EventEmitter`). Private: not exported from the package.
 *
 * @module
 */

type Listener = (...args: unknown[]) => void;

/** Listeners by event, each event's in the order they were added. */
export class Listeners {
  readonly #byEvent = new Map<string, Listener[]>();

  /** Adds a listener of an event (once more, if it is there already). */
  add(event: string, listener: Listener): void {
    const listeners = this.#byEvent.get(event);
    if (listeners === undefined) this.#byEvent.set(event, [listener]);
    else listeners.push(listener);
  }

  /** Removes a listener of an event, once, if it is there. */
  remove(event: string, listener: Listener): void {
    const listeners = this.#byEvent.get(event);
    const index = listeners?.indexOf(listener) ?? -1;
    if (listeners !== undefined && index >= 0) {
      listeners.splice(index, 1);
      if (listeners.length === 0) this.#byEvent.delete(event);
    }
  }

  /**
   * Calls the listeners an event has now with `args`, in order.
   *
   * @returns Whether there were listeners.
   */
  emit(event: string, args: unknown[]): boolean {
    const listeners = this.#byEvent.get(event);
    if (listeners === undefined) return false;
    for (const listener of [...listeners]) listener(...args);
    return true;
  }
}
