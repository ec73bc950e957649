/** Poll /metrics of each URL every `intervalMs`, keeping a short history per instance for rates. */
import { useEffect, useState } from 'react';
import { computeInstanceView, type InstanceView } from '../top-model.js';
import type { MetricsPoller } from '../metrics-poller.js';

export function useMetrics(poller: MetricsPoller, intervalMs: number): { views: InstanceView[]; updatedAt: Date | null } {
  const [state, setState] = useState<{ views: InstanceView[]; updatedAt: Date | null }>({
    views: poller.urls.map((u) => computeInstanceView(u, [])),
    updatedAt: null,
  });
  useEffect(() => {
    let alive = true;
    const tick = async () => {
      const views = await poller.poll();
      if (alive) setState({ views, updatedAt: new Date() });
    };
    void tick();
    const t = setInterval(() => void tick(), intervalMs);
    return () => {
      alive = false;
      clearInterval(t);
    };
  }, [poller, intervalMs]);
  return state;
}
