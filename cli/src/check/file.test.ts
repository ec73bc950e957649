import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError } from '../errors.js';
import { loadScenarioFile, subsequenceEnd } from './file.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-scenario-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const usageMessage = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
};

describe('scenario files', () => {
  it('loads the committed example (YAML) and the same in JSON', () => {
    const s = loadScenarioFile(new URL('../../examples/check-scenario.yaml', import.meta.url).pathname);
    expect(s.name).toBe('draft-round-trip');
    expect(s.devices.map((d) => d.name)).toEqual(['laptop', 'phone', 'stranger']);
    const json = loadScenarioFile(file('s.json', JSON.stringify(s)));
    expect(json).toEqual(s);
    expect(s.steps[4]).toEqual({ expect: { device: 'phone', types: ['DRAFT_CREATED'], within: 2000, exact: true } });
  });

  it('says where a file is wrong (exit 2)', () => {
    expect(usageMessage(() => loadScenarioFile(join(dir, 'nope.yaml')))).toMatch(/Cannot read scenario file/);
    expect(usageMessage(() => loadScenarioFile(file('bad.yaml', 'name: x\ndevices: [ {')))).toMatch(/is not valid YAML/);
    expect(usageMessage(() => loadScenarioFile(file('nodev.yaml', 'name: x\ndevices: []\nsteps: [{ wait: 1 }]')))).toMatch(/devices/);
    expect(usageMessage(() => loadScenarioFile(file('unknown.yaml', 'name: x\ndevices: [{ name: a, user: u }]\nsteps: [{ connect: b }]')))).toMatch(/device 'b', which is not in devices/);
    expect(usageMessage(() => loadScenarioFile(file('op.yaml', 'name: x\ndevices: [{ name: a, user: u }]\nsteps: [{ write: { as: a, op: explode } }]')))).toMatch(/steps\.0/);
  });

  it('matches expected types as an ordered subsequence', () => {
    expect(subsequenceEnd(['A', 'B', 'C'], ['A', 'C'])).toBe(3);
    expect(subsequenceEnd(['A', 'B', 'C'], ['C', 'A'])).toBe(-1);
    expect(subsequenceEnd(['A', 'B', 'B'], ['B'])).toBe(2);
    expect(subsequenceEnd([], ['A'])).toBe(-1);
  });
});
