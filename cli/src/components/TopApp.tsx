/** `rtctl top` in a terminal: scrapes every interval (usePoll) and shows TopView; q quits. */
import { useApp, useInput, useStdin } from 'ink';
import { useCallback } from 'react';
import { usePoll } from '../hooks/use-poll.js';
import type { MetricsScraper } from '../metrics-scraper.js';
import type { InstanceView } from '../top-model.js';
import { TopView } from './TopView.js';

export function TopApp({
  scraper,
  intervalMs,
  color,
  first,
  cluster,
}: {
  scraper: MetricsScraper;
  intervalMs: number;
  color: boolean;
  first: InstanceView[];
  /** An admin token was given: the cluster's instances are discovered (else a hint says how). */
  cluster: boolean;
}) {
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  useInput((input) => input === 'q' && exit(), { isActive: isRawModeSupported === true });
  const scrape = useCallback(() => scraper.scrape(), [scraper]);
  // A failing instance is shown in its panel (the scraper keeps its history), so scrape never rejects.
  const { value, updatedAt } = usePoll(scrape, intervalMs, first);
  return <TopView views={value ?? first} color={color} intervalMs={intervalMs} updatedAt={updatedAt} cluster={cluster} />;
}
