/** The cluster parts of the admin views: merging several answers, the totals, and the top screen's cluster line. */
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { mergeInstances, type StatsAnswer } from '../cluster-views.js';
import { clusterTotals, computeInstanceView, type InstanceView } from '../top-model.js';
import { TopView } from './TopView.js';

const row = (instanceId: string, totalConnections: number, self: boolean) => ({
  instanceId,
  url: `http://${instanceId}:3000`,
  uptimeS: 10,
  totalConnections,
  activeUsers: totalConnections,
  buffer: { users: 1, events: 2, bytes: 3 },
  rssBytes: 100,
  draining: false,
  announcedAt: self ? null : '2026-12-01T00:00:00.000Z',
  self,
});
const answer = (self: string, rows: ReturnType<typeof row>[]): StatsAnswer => ({
  instanceId: self,
  uptimeS: 10,
  totalConnections: rows.find((r) => r.instanceId === self)!.totalConnections,
  activeUsers: 1,
  buffer: { users: 1, events: 2, bytes: 3 },
  instances: rows,
});

describe('mergeInstances', () => {
  it('keeps one row per instance, preferring the live row an instance gives of itself', () => {
    const fromA = answer('a', [row('a', 5, true), row('b', 1, false)]);
    const fromB = answer('b', [row('b', 2, true), row('a', 4, false)]);
    expect(mergeInstances([fromA, fromB]).map((r) => [r.instanceId, r.totalConnections, r.self])).toEqual([
      ['a', 5, true],
      ['b', 2, true],
    ]);
  });

  it('treats an answer without `instances` (an older service) as a cluster of one', () => {
    const old: StatsAnswer = { instanceId: 'old', uptimeS: 1, totalConnections: 3, activeUsers: 2, buffer: { users: 0, events: 0, bytes: 0 }, memory: { rssBytes: 9 } };
    expect(mergeInstances([old])).toEqual([expect.objectContaining({ instanceId: 'old', totalConnections: 3, rssBytes: 9, self: true })]);
  });
});

describe('cluster totals in rtctl top', () => {
  const view = (id: string, connections: number | null, error: string | null = null): InstanceView => ({
    ...computeInstanceView(`http://${id}`, [], error),
    instanceId: id,
    connections,
    users: connections,
    buffer: { users: 1, events: 10, bytes: 1024 },
  });

  it('sums what is known and counts the instances with incomplete figures', () => {
    expect(clusterTotals([view('a', 3), view('b', null, 'unreachable')])).toEqual({
      instances: 2,
      withErrors: 1,
      connections: 3,
      users: 3,
      bufferEvents: 20,
      bufferBytes: 2048,
      published: 0,
      delivered: 0,
    });
  });

  it('shows a cluster line above the panels when there are several instances, and how to see them all without a token', () => {
    const several = render(<TopView views={[view('a', 3), view('b', 1)]} color={false} intervalMs={1000} updatedAt={null} cluster />).lastFrame()!;
    expect(several).toMatch(/cluster\s+connections 4\s+users 4\s+buffer 20 event\(s\), 2\.0 KiB/);
    expect(several).not.toContain('pass an admin token');
    const one = render(<TopView views={[view('a', 3)]} color={false} intervalMs={1000} updatedAt={null} />).lastFrame()!;
    expect(one).not.toMatch(/^cluster\s+connections/m);
    expect(one).toContain('pass an admin token');
  });
});
