/** The live `rtctl tail` screen: event and status lines (kept in scrollback), a status bar below. */
import { Box, Static, Text } from 'ink';
import { formatEventLine, formatStatusLine, type FeedItem } from '../tail-feed.js';

export interface TailStatus {
  state: 'connecting' | 'open' | 'waiting' | 'stopped' | 'idle';
  url: string;
  lastSeq: number | null;
  events: number;
  filter?: string;
}

export function TailView({ items, status, color }: { items: FeedItem[]; status: TailStatus; color: boolean }) {
  const dot = status.state === 'open' ? '●' : '○';
  const stateText = status.state === 'open' ? 'live' : status.state === 'waiting' ? 'reconnecting' : status.state;
  return (
    <>
      <Static items={items}>
        {(item) => (
          <Text key={item.id} wrap="truncate-end">{item.kind === 'event' ? formatEventLine(item, color) : formatStatusLine(item, color)}</Text>
        )}
      </Static>
      <Box>
        <Text {...(color ? { color: status.state === 'open' ? 'green' : 'yellow' } : {})}>{`${dot} ${stateText}`}</Text>
        <Text>{`  ${status.url}  seq ${status.lastSeq ?? '-'}  ${status.events} event(s)${status.filter ? `  type ${status.filter}` : ''}  q or Ctrl-C to quit`}</Text>
      </Box>
    </>
  );
}
