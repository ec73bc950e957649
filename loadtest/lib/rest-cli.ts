/** The command line shared by the REST scenarios (draft-create, draft-update, pending-batch). */
import { parseArgs } from 'node:util';
import { runMain, writeResult } from './cli.js';
import { printRestReport, runRestScenario, scenarioName, type RestKind, type RestScenarioReport } from './rest-scenario.js';
import { startService, stopService, storageLabel } from './service.js';

export function restMain(kind: RestKind, usage: string): void {
  runMain(kind, async () => {
    const { values } = parseArgs({
      options: {
        rate: { type: 'string', default: '50' },
        seconds: { type: 'string', default: '10' },
        observers: { type: 'string', default: '2' },
        batch: { type: 'string', default: '1,10,100' },
        url: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    });
    if (values.help) {
      console.log(usage);
      return;
    }
    const batches = kind === 'pending-batch' ? values.batch.split(',').map(Number) : [undefined];
    const svc = values.url ? null : await startService();
    const url = values.url ?? svc!.url;
    const reports: RestScenarioReport[] = [];
    try {
      for (const batch of batches) {
        const r = await runRestScenario({ url, kind, batch, rate: Number(values.rate), seconds: Number(values.seconds), observersPerUser: Number(values.observers) });
        printRestReport(r, values.url ? url : storageLabel());
        reports.push(r);
      }
    } finally {
      if (svc) await stopService(svc);
    }
    const file = writeResult(kind === 'pending-batch' ? kind : scenarioName(kind), { storage: storageLabel(), reports });
    console.log(`  results: ${file}`);
  });
}
