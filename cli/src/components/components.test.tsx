/** Ink components rendered with ink-testing-library: what the operator sees. */
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import type { DeviceEvent } from '../../../client/src/realtime.js';
import { parsePrometheusText } from '../prometheus.js';
import type { FeedItem } from '../tail-feed.js';
import { computeInstanceView } from '../top-model.js';
import { Table } from './Table.js';
import { TailView, type TailStatus } from './TailView.js';
import { TopView } from './TopView.js';

const event = (over: Partial<DeviceEvent>): DeviceEvent => ({
  type: 'DRAFT_CREATED',
  payload: { draftId: '3f2a1b2c-0000-4000-8000-000000000000', draft: { customerName: 'Rossi Srl', items: [{}], version: 1 } },
  timestamp: '2026-11-22T10:00:00.000Z',
  seq: 7,
  originDeviceId: 'phone',
  own: false,
  replayed: false,
  receivedAt: 1,
  ...over,
});

const status: TailStatus = { state: 'open', url: 'ws://127.0.0.1:3000/ws/realtime', lastSeq: 8, events: 2 };

describe('TailView', () => {
  it('shows each event (seq, type, age, origin, payload), own echoes and replays marked, and the connection status', () => {
    const items: FeedItem[] = [
      { kind: 'status', id: 1, level: 'info', text: 'connected to ws://127.0.0.1:3000/ws/realtime (instance i-1)' },
      { kind: 'event', id: 2, event: event({}), ageMs: 12 },
      { kind: 'event', id: 3, event: event({ seq: 8, originDeviceId: 'cli', own: true, replayed: true, type: 'DRAFT_DELETED', payload: { draftId: 'abcdef012345' } }), ageMs: 1500 },
    ];
    const { lastFrame } = render(<TailView items={items} status={status} color={false} />);
    const frame = lastFrame()!;
    expect(frame).toContain('-- connected to ws://127.0.0.1:3000/ws/realtime (instance i-1)');
    expect(frame).toMatch(/10:00:00\.000\s+#7\s+DRAFT_CREATED\s+\+12ms\s+from phone\s+draft 3f2a1b2c Rossi Srl, 1 item/);
    expect(frame).toMatch(/#8\s+DRAFT_DELETED\s+\+1\.5s\s+from cli \(own\)\s+\[replay\]\s+draft abcdef01/);
    expect(frame).toMatch(/● live\s+ws:\/\/127\.0\.0\.1:3000\/ws\/realtime\s+seq 8\s+2 event\(s\)/);
    expect(frame).not.toContain('\u001b['); // no colour codes
  });

  it('truncates a line wider than the terminal at its end, keeping the replay marker', () => {
    const long = event({ replayed: true, payload: { draftId: 'x', draft: { customerName: 'N'.repeat(200), items: [], version: 1 } } });
    const { lastFrame } = render(<TailView items={[{ kind: 'event', id: 1, event: long, ageMs: 5 }]} status={status} color={false} />);
    const [line] = lastFrame()!.split('\n');
    expect(line).toMatch(/\[replay\]\s+draft x NNN+…$/);
    expect(line!.length).toBeLessThanOrEqual(100);
  });

  it('says when it is reconnecting', () => {
    const { lastFrame } = render(<TailView items={[]} status={{ ...status, state: 'waiting' }} color={false} />);
    expect(lastFrame()).toMatch(/○ reconnecting/);
  });
});

describe('Table', () => {
  it('aligns columns under a header and says (none) when empty', () => {
    const { lastFrame } = render(<Table headers={['USER', 'EVENTS']} rows={[['u-1', '3'], ['u-long-name', '12']]} color={false} />);
    expect(lastFrame()).toBe('USER         EVENTS\nu-1          3\nu-long-name  12');
    expect(render(<Table headers={['USER']} rows={[]} color={false} />).lastFrame()).toContain('(none)');
  });
});

const metrics = (published: number, bucketCounts: [string, number][]) =>
  [
    '# HELP rt_ws_connections Open realtime WebSocket connections',
    '# TYPE rt_ws_connections gauge',
    'rt_ws_connections{instance_id="i-1"} 4',
    'rt_ws_users{instance_id="i-1"} 2',
    'rt_buffer_users{instance_id="i-1"} 2',
    'rt_buffer_events{instance_id="i-1"} 30',
    'rt_buffer_bytes{instance_id="i-1"} 2048',
    'rt_ready{instance_id="i-1"} 1',
    `rt_events_published_total{type="DRAFT_CREATED",instance_id="i-1"} ${published}`,
    `rt_events_delivered_total{type="DRAFT_CREATED",instance_id="i-1"} ${published * 2}`,
    ...bucketCounts.map(([le, c]) => `rt_event_delivery_latency_seconds_bucket{le="${le}",type="DRAFT_CREATED",instance_id="i-1"} ${c}`),
  ].join('\n');

describe('TopView', () => {
  it('shows per instance connections, users, buffers, events/s with a sparkline and delivery p50/p99', () => {
    const history = [
      { at: 0, samples: parsePrometheusText(metrics(0, [['0.001', 0], ['0.005', 0], ['0.01', 0], ['+Inf', 0]])) },
      { at: 1000, samples: parsePrometheusText(metrics(5, [['0.001', 1], ['0.005', 4], ['0.01', 5], ['+Inf', 5]])) },
      { at: 2000, samples: parsePrometheusText(metrics(25, [['0.001', 2], ['0.005', 20], ['0.01', 25], ['+Inf', 25]])) },
    ];
    const view = computeInstanceView('http://127.0.0.1:3000', history);
    const { lastFrame } = render(<TopView views={[view]} color={false} intervalMs={1000} updatedAt={null} />);
    const frame = lastFrame()!;
    expect(frame).toMatch(/i-1\s+ready\s+http:\/\/127\.0\.0\.1:3000/);
    expect(frame).toMatch(/connections 4\s+users 2\s+buffer 2 user\(s\), 30 event\(s\), 2\.0 KiB/);
    expect(frame).toMatch(/DRAFT_CREATED\s+20\.0\s+40\.0\s+▃█/);
    // 25 observations in the window: p50 is inside the 1-5 ms bucket, p99 inside 5-10 ms.
    expect(frame).toMatch(/delivery p50 3\.33ms\s+p99 9\.75ms/);
    expect(frame).toContain('(25 event(s), last 30s)');
  });

  it('shows an instance that cannot be scraped with its error', () => {
    const view = computeInstanceView('http://127.0.0.1:9', [], 'Cannot reach http://127.0.0.1:9: connection refused');
    const { lastFrame } = render(<TopView views={[view]} color={false} intervalMs={1000} updatedAt={null} />);
    expect(lastFrame()).toContain('Cannot reach http://127.0.0.1:9: connection refused');
    expect(lastFrame()).toContain('no events yet');
  });
});
