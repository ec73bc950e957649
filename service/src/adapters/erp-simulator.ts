/**
 * ERP simulator: configurable delay and failure rate, idempotent on the request's key
 * (the same key always yields the same order number, and is never "submitted" twice).
 */
import type { ErpClient } from '../ports/erp.js';

export function createErpSimulator(opts: { delayMs: number; failureRate: number; random?: () => number }): ErpClient & {
  submissions(): number;
} {
  const byKey = new Map<string, string>();
  const random = opts.random ?? Math.random;
  let counter = 0;
  return {
    async submitOrder(req, onProgress) {
      const known = byKey.get(req.idempotencyKey);
      if (known) return { erpOrderNumber: known };
      const steps = 4;
      for (let i = 1; i <= steps; i += 1) {
        await new Promise((r) => setTimeout(r, opts.delayMs / steps));
        onProgress?.(i / steps);
      }
      if (random() < opts.failureRate) throw new Error('ERP simulator: transient failure');
      counter += 1;
      const erpOrderNumber = `ERP-${new Date().getUTCFullYear()}-${String(counter).padStart(6, '0')}`;
      byKey.set(req.idempotencyKey, erpOrderNumber);
      return { erpOrderNumber };
    },
    submissions: () => byKey.size,
  };
}
