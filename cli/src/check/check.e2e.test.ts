/**
 * `rtctl check` as a child process against the service as a supervised child process (restarted
 * after a drain, so graceful-restart runs too): every built-in scenario passes, a file scenario
 * passes, a file scenario that expects the impossible fails with exit 4 and says why.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_SECRET } from '../../../tools/token.js';
import { runRtctl } from '../../test/support/run-cli.js';
import { startSupervisedService, type SupervisedService } from '../../../tools/supervised-service.js';

describe('rtctl check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rt-check-'));
  let svc: SupervisedService;
  beforeAll(async () => {
    svc = await startSupervisedService({ secret: TEST_SECRET, name: 'check-e2e' });
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--all: every built-in scenario passes (exit 0), with JUnit and a JSON report', async () => {
    const junit = join(dir, 'checks.xml');
    const out = join(dir, 'checks.json');
    const r = await runRtctl(['--url', svc.url, 'check', '--all', '--restart-cmd', svc.restartCmd, '--timeout-scale', '3', '--junit', junit, '--out', out], { JWT_SECRET: TEST_SECRET }, 300_000);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report).toMatchObject({ schemaVersion: 1, passed: 8, failed: 0, skipped: 0, exitCode: 0 });
    expect(report.results.map((x: { scenario: string }) => x.scenario)).toEqual([
      'reconnect-replay',
      'batch-aggregation',
      'convert-flow',
      'isolation',
      'token-expiry',
      'resync',
      'graceful-restart',
      'job-lifecycle',
    ]);
    expect(svc.starts()).toBe(2); // graceful-restart drained it once
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/<testsuite name="rtctl check" tests="8" failures="0"/);
  }, 300_000);

  it('runs a file scenario, fails one whose expectation cannot hold (exit 4), skips graceful-restart without --restart-cmd (exit 5)', async () => {
    const ok = await runRtctl(['--url', svc.url, 'check', 'cli/examples/check-scenario.yaml'], { JWT_SECRET: TEST_SECRET }, 60_000);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/ok {3}draft-round-trip/);

    const impossible = join(dir, 'impossible.yaml');
    writeFileSync(
      impossible,
      ['name: impossible', 'devices: [{ name: a, user: u }, { name: b, user: u }]', 'steps:', '  - connect: b', '  - write: { as: a, op: create-draft }', '  - expect: { device: b, types: [DRAFT_DELETED], within: 500 }'].join('\n'),
    );
    const bad = await runRtctl(['--url', svc.url, 'check', impossible, '--json'], { JWT_SECRET: TEST_SECRET }, 60_000);
    expect(bad.code).toBe(4);
    const line = JSON.parse(bad.stdout.trim().split('\n')[0]!);
    expect(line).toMatchObject({ scenario: 'impossible', status: 'fail' });
    expect(line.message).toMatch(/step 3: b: no DRAFT_DELETED \(in order\) within 500 ms of the last write; got \[DRAFT_CREATED#1\]/);

    // convert emits DRAFT_CONVERTED and PENDING_CREATED: `exact` on the first alone must see the second.
    const tooExact = join(dir, 'too-exact.yaml');
    writeFileSync(
      tooExact,
      [
        'name: too-exact',
        'devices: [{ name: a, user: u }, { name: b, user: u }]',
        'steps:',
        '  - connect: b',
        '  - write: { as: a, op: create-draft, ref: d }',
        '  - write: { as: a, op: convert-draft, ref: d }',
        '  - expect: { device: b, types: [DRAFT_CREATED, DRAFT_CONVERTED], exact: true }',
      ].join('\n'),
    );
    const extra = await runRtctl(['--url', svc.url, 'check', tooExact, '--json'], { JWT_SECRET: TEST_SECRET }, 60_000);
    expect(extra.code, extra.stdout + extra.stderr).toBe(4);
    expect(JSON.parse(extra.stdout.trim().split('\n')[0]!).message).toMatch(/step 4: b should have received exactly DRAFT_CREATED, DRAFT_CONVERTED; got DRAFT_CREATED, DRAFT_CONVERTED, PENDING_CREATED/);

    const skipped = await runRtctl(['--url', svc.url, 'check', 'graceful-restart'], { JWT_SECRET: TEST_SECRET });
    expect(skipped.code).toBe(5);
    expect(skipped.stdout).toMatch(/skip graceful-restart .*needs --restart-cmd/);

    const unknown = await runRtctl(['--url', svc.url, 'check', 'no-such-scenario'], { JWT_SECRET: TEST_SECRET });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown scenario 'no-such-scenario': built-in ones are reconnect-replay/);
  }, 180_000);
});
