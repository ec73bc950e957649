/**
 * A tiny typed event emitter with no Node-only API, so the device client runs in browsers too.
 * `on` returns the function that removes the listener. A throwing listener does not stop the others.
 */
export type Listener<T> = (value: T) => void;

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  on<K extends keyof Events>(name: K, fn: Listener<Events[K]>): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
    };
  }

  /** Resolve with the next value of `name`. */
  once<K extends keyof Events>(name: K): Promise<Events[K]> {
    return new Promise((resolve) => {
      const off = this.on(name, (v) => {
        off();
        resolve(v);
      });
    });
  }

  protected emit<K extends keyof Events>(name: K, value: Events[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as Listener<Events[K]>)(value);
      } catch (err) {
        // A listener bug must not break the connection state machine; surface it asynchronously.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
