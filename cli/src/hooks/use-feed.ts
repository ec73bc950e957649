/** Subscribe an Ink component to a device's tail feed; re-renders on each item. */
import { useEffect, useState } from 'react';
import type { Device } from '../../../client/src/realtime.js';
import { attachFeed, type FeedItem } from '../tail-feed.js';
import type { TailStatus } from '../components/TailView.js';

export function useFeed(device: Device, match: (type: string) => boolean, filter?: string): { items: FeedItem[]; status: TailStatus } {
  const [items, setItems] = useState<FeedItem[]>([]);
  const [status, setStatus] = useState<TailStatus>({ state: device.state, url: device.url, lastSeq: device.lastSeq, events: 0, filter });
  useEffect(() => {
    let events = 0;
    const refresh = () => setStatus({ state: device.state, url: device.url, lastSeq: device.lastSeq, events, filter });
    const off = attachFeed(device, { match }, (item) => {
      if (item.kind === 'event') events += 1;
      setItems((prev) => [...prev, item]);
      refresh();
    });
    const offs = [device.on('open', refresh), device.on('reconnecting', refresh), device.on('stopped', refresh), device.on('event', refresh)];
    refresh();
    return () => {
      off();
      offs.forEach((o) => o());
    };
  }, [device, match, filter]);
  return { items, status };
}
