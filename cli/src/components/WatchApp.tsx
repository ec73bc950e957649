/** `rtctl stats --watch` in a terminal: the view refreshed every interval (usePoll), q quits. */
import { Box, Text, useApp, useInput, useStdin } from 'ink';
import type { View } from '../admin-views.js';
import { formatDuration } from '../format.js';
import { usePoll } from '../hooks/use-poll.js';
import { ViewTables } from './ViewTables.js';

export function WatchApp({ load, intervalMs, color, first }: { load: () => Promise<View>; intervalMs: number; color: boolean; first?: View }) {
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  useInput((input) => input === 'q' && exit(), { isActive: isRawModeSupported === true });
  const { value: view, error, updatedAt } = usePoll(load, intervalMs, first ?? null);
  return (
    <Box flexDirection="column">
      {view ? <ViewTables view={view} color={color} /> : <Text>loading…</Text>}
      {error ? <Text color={color ? 'red' : undefined}>{error}</Text> : null}
      <Text dimColor={color}>{`every ${formatDuration(intervalMs)}${updatedAt ? `, updated ${updatedAt.toISOString().slice(11, 19)}` : ''}  q or Ctrl-C to quit`}</Text>
    </Box>
  );
}
