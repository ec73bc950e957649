/** The live `rtctl latency` screen: the engine's snapshot, refreshed twice a second (usePoll). */
import { useCallback, useState } from 'react';
import { usePoll } from '../hooks/use-poll.js';
import type { LatencyEngine } from '../latency/engine.js';
import { LatencyView } from './LatencyView.js';

// Twice a second: each Ink render costs the harness event-loop time, which the report accounts as its own delay.
const REFRESH_MS = 500;

export function LatencyApp({ engine, title, color }: { engine: LatencyEngine; title: string; color: boolean }) {
  const snapshot = useCallback(async () => engine.snapshot(), [engine]);
  const [initial] = useState(() => engine.snapshot());
  const { value } = usePoll(snapshot, REFRESH_MS, initial);
  return <LatencyView snap={value ?? initial} color={color} title={title} />;
}
