/** A plain aligned table in Ink: bold header, one line per row (same layout as formatTable). */
import { Box, Text } from 'ink';
import { formatTable } from '../format.js';

export function Table({
  title,
  headers,
  rows,
  footer,
  color,
}: {
  title?: string;
  headers: readonly string[];
  rows: readonly (readonly string[])[];
  footer?: string;
  color: boolean;
}) {
  const [head, ...lines] = formatTable(headers, rows).split('\n');
  return (
    <Box flexDirection="column">
      {title ? <Text bold={color}>{title}</Text> : null}
      <Text bold={color} dimColor={color}>{head}</Text>
      {lines.map((l, i) => (
        <Text key={i}>{l}</Text>
      ))}
      {rows.length === 0 ? <Text dimColor={color}>(none)</Text> : null}
      {footer ? <Text dimColor={color}>{footer}</Text> : null}
    </Box>
  );
}
