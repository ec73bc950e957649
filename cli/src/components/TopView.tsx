/** The `rtctl top` screen: the cluster's totals, then one panel per instance. Pure: renders the InstanceViews it is given. */
import { Box, Text } from 'ink';
import { formatBytes, formatDuration } from '../format.js';
import { clusterTotals, formatSeconds, sparkline, type InstanceView } from '../top-model.js';

const n = (v: number | null) => (v === null ? '-' : String(v));
const rate = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

function InstancePanel({ view, color }: { view: InstanceView; color: boolean }) {
  const c = (name: string) => (color ? { color: name } : {});
  const readyText = view.ready === null ? '?' : view.ready ? 'ready' : 'NOT READY';
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1}>
      <Text bold={color}>
        {`${view.instanceId ?? '(unknown instance)'}  `}
        <Text {...c(view.ready ? 'green' : 'yellow')}>{readyText}</Text>
        <Text dimColor={color}>{`  ${view.url}${view.via === 'cluster' ? '  (found in the cluster)' : ''}`}</Text>
      </Text>
      {view.error ? <Text {...c('red')}>{view.error}</Text> : null}
      <Text>
        {`connections ${n(view.connections)}   users ${n(view.users)}   buffer ${n(view.buffer.users)} user(s), ${n(view.buffer.events)} event(s), ${view.buffer.bytes === null ? '-' : formatBytes(view.buffer.bytes)}`}
      </Text>
      <Text>
        {`delivery p50 ${formatSeconds(view.p50)}   p99 ${formatSeconds(view.p99)}   `}
        <Text dimColor={color}>{`(${view.latencyCount} event(s), ${view.latencyWindow === 'window' ? 'last 30s' : 'since start'})`}</Text>
      </Text>
      <Text bold={color}>{`${'TYPE'.padEnd(24)}${'PUB/S'.padStart(8)}${'SENT/S'.padStart(8)}  HISTORY (published/s)`}</Text>
      {view.rates.length === 0 ? <Text dimColor={color}>no events yet</Text> : null}
      {view.rates.map((r) => (
        <Text key={r.type}>
          {`${r.type.padEnd(24)}${rate(r.published).padStart(8)}${rate(r.delivered).padStart(8)}  `}
          <Text {...c('cyan')}>{sparkline(r.history)}</Text>
        </Text>
      ))}
    </Box>
  );
}

function Totals({ views, color }: { views: InstanceView[]; color: boolean }) {
  const t = clusterTotals(views);
  return (
    <Text>
      {`cluster  connections ${t.connections}   users ${t.users}   buffer ${t.bufferEvents} event(s), ${formatBytes(t.bufferBytes)}   published ${rate(t.published)}/s   sent ${rate(t.delivered)}/s`}
      {t.withErrors ? <Text {...(color ? { color: 'yellow' } : {})}>{`   ${t.withErrors} instance(s) incomplete`}</Text> : null}
    </Text>
  );
}

export function TopView({
  views,
  color,
  intervalMs,
  updatedAt,
  cluster = false,
}: {
  views: InstanceView[];
  color: boolean;
  intervalMs: number;
  updatedAt: Date | null;
  cluster?: boolean;
}) {
  return (
    <Box flexDirection="column">
      <Text bold={color}>{`rtctl top  ${views.length} instance(s)  every ${formatDuration(intervalMs)}${updatedAt ? `  updated ${updatedAt.toISOString().slice(11, 19)}` : ''}  q to quit`}</Text>
      {views.length > 1 ? <Totals views={views} color={color} /> : null}
      {cluster ? null : <Text dimColor={color}>the --url instances only: pass an admin token (--token, RT_TOKEN) to see every instance of the cluster</Text>}
      {views.map((v) => (
        <InstancePanel key={v.url} view={v} color={color} />
      ))}
    </Box>
  );
}
