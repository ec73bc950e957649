/** The live `rtctl latency` screen. Pure: renders the LiveSnapshot it is given. */
import { Box, Text } from 'ink';
import { formatDuration } from '../format.js';
import type { LiveSnapshot } from '../latency/engine.js';
import { BUCKETS_MS } from '../latency/stats.js';

const ms = (v: number | null) => (v === null ? '-' : `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ms`);

function bar(fraction: number, width: number): string {
  const n = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return '█'.repeat(n) + '░'.repeat(width - n);
}

export function LatencyView({ snap, color, title }: { snap: LiveSnapshot; color: boolean; title: string }) {
  const c = (name: string) => (color ? { color: name } : {});
  const maxBucket = Math.max(1, ...snap.buckets);
  const errors = snap.missing + snap.duplicates + snap.outOfOrder + snap.crossUser + snap.failedWrites;
  return (
    <Box flexDirection="column">
      <Text bold={color}>{title}</Text>
      <Text>
        {`${snap.phase.padEnd(10)} ${bar(snap.total === 0 ? 0 : snap.sent / snap.total, 30)} ${snap.sent}/${snap.total} writes  ${formatDuration(snap.elapsedMs)}  `}
        <Text {...c(snap.rate < snap.targetRate * 0.9 && snap.phase !== 'draining' ? 'yellow' : 'green')}>{`${snap.rate}/s`}</Text>
        <Text dimColor={color}>{` (target ${snap.targetRate}/s)`}</Text>
      </Text>
      <Text>
        {`last 5 s: p50 ${ms(snap.rolling.p50)}  p90 ${ms(snap.rolling.p90)}  p99 ${ms(snap.rolling.p99)}  `}
        <Text dimColor={color}>{`(${snap.rolling.count} writes; ${snap.measured} measured in total)`}</Text>
      </Text>
      <Text {...c(errors > 0 ? 'red' : 'green')}>
        {`missing ${snap.missing}  duplicates ${snap.duplicates}  out-of-order ${snap.outOfOrder}  cross-user ${snap.crossUser}  failed writes ${snap.failedWrites}  reconnects ${snap.reconnects}`}
      </Text>
      <Text dimColor={color}>{`harness: event-loop p99 ${snap.eventLoopP99Ms.toFixed(1)} ms, writes left at most ${snap.lateMaxMs.toFixed(1)} ms late`}</Text>
      <Text bold={color}>delivery latency (all observers), measured writes:</Text>
      {BUCKETS_MS.map((b, i) => (
        <Text key={String(b)}>
          {`${(b === Infinity ? `> ${BUCKETS_MS[i - 1]}` : `≤ ${b}`).padStart(7)} ms `}
          <Text {...c(b > 100 ? 'yellow' : 'cyan')}>{'▇'.repeat(Math.round((snap.buckets[i]! / maxBucket) * 40))}</Text>
          {` ${snap.buckets[i]}`}
        </Text>
      ))}
    </Box>
  );
}
