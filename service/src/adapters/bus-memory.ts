/** In-process bus for the embedded mode: one instance, same semantics as the Redis bus. */
import type { Bus, BusEvent, BusHandlers } from '../ports/bus.js';

export function createMemoryBus({ onEvent, onControl }: BusHandlers): Bus {
  const subscribed = new Set<string>();
  let closed = false;
  return {
    async publish(event: BusEvent) {
      // Deliver on a later tick, as a network bus would: the publisher's response is never held up by fan-out.
      setImmediate(() => {
        if (subscribed.has(event.userId)) onEvent(event);
      });
    },
    async subscribe(userId) {
      subscribed.add(userId);
    },
    async unsubscribe(userId) {
      subscribed.delete(userId);
    },
    async broadcast(msg) {
      // "Every instance" is this one: later tick, as on Redis, so the caller never runs the handler inline.
      setImmediate(() => {
        if (!closed) onControl?.(msg);
      });
    },
    async close() {
      closed = true;
      subscribed.clear();
    },
  };
}
