/** The tables of an admin View (stats, buffer, connections). Pure: renders what it is given. */
import { Box, Text } from 'ink';
import type { View } from '../admin-views.js';
import { Table } from './Table.js';

export function ViewTables({ view, color }: { view: View; color: boolean }) {
  return (
    <Box flexDirection="column" gap={1}>
      {view.tables.map((t, i) => (
        <Table key={i} title={t.title} headers={t.headers} rows={t.rows} footer={t.footer} color={color} />
      ))}
      {(view.warnings ?? []).map((w, i) => (
        <Text key={`w${i}`} {...(color ? { color: 'yellow' } : {})}>{`warning: ${w}`}</Text>
      ))}
    </Box>
  );
}
