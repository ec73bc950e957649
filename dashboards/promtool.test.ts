/**
 * promtool validates the committed Prometheus files exactly as Prometheus will load them, and runs
 * the alert unit tests (dashboards/prometheus/alerts.test.yml).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { binary, isCI, need } from './support/binaries.js';
import { ALERTS_TEST_FILE, PROMETHEUS_CONFIG, PROMETHEUS_DIR, ruleFiles } from './support/queries.js';

const promtool = binary('promtool');

function run(args: string[]): { status: number | null; output: string } {
  const r = spawnSync(need(promtool), args, { cwd: PROMETHEUS_DIR, encoding: 'utf8', timeout: 20_000 });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe.skipIf(promtool.skipReason !== null)(`promtool${promtool.skipReason ? ` (skipped: ${promtool.skipReason})` : ''}`, () => {
  it('check rules passes for every rule file', () => {
    const r = run(['check', 'rules', ...ruleFiles()]);
    expect(r.output).not.toMatch(/FAILED/);
    expect(r.status, r.output).toBe(0);
  });

  it('check config passes for prometheus.yml (and the rule files it names)', () => {
    const r = run(['check', 'config', PROMETHEUS_CONFIG]);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS: \d+ rule files found/);
  });

  it('the alert unit tests pass', () => {
    const r = run(['test', 'rules', ALERTS_TEST_FILE]);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS/);
  });

  it('check rules fails on a broken rule (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rt-promtool-'));
    try {
      const file = join(dir, 'broken.yml');
      writeFileSync(file, 'groups:\n  - name: broken\n    rules:\n      - alert: Broken\n        expr: sum(rate(x[5m]) by\n');
      const r = run(['check', 'rules', file]);
      expect(r.status).not.toBe(0);
      expect(r.output).toMatch(/parse error/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a missing binary', () => {
  it('fails the tests under CI and skips them with a reason elsewhere', () => {
    const b = binary('no-such-binary-for-archibald-tests', { quiet: true });
    if (isCI) {
      expect(b.skipReason).toBeNull();
      expect(() => need(b)).toThrow(/required under CI=true/);
    } else {
      expect(b.skipReason).toMatch(/not found/);
    }
  });
});
