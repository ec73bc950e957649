/** JUnit XML, the subset CI systems read (GitLab, Jenkins, GitHub test reporters). Pure. */

export interface JUnitCase {
  classname: string;
  name: string;
  timeSec?: number;
  /** A failure message (the test failed), or null. */
  failure: string | null;
  /** Skipped with this reason. */
  skipped?: string | null;
  /** Details printed inside <failure> or <system-out>. */
  details?: string;
}

export interface JUnitSuite {
  name: string;
  timestamp: string;
  timeSec: number;
  cases: JUnitCase[];
}

export function xmlEscape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
}

export function junitXml(suites: JUnitSuite[]): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const all = suites.flatMap((s) => s.cases);
  const failures = all.filter((c) => c.failure !== null).length;
  const skipped = all.filter((c) => c.skipped).length;
  lines.push(`<testsuites tests="${all.length}" failures="${failures}" skipped="${skipped}">`);
  for (const s of suites) {
    const f = s.cases.filter((c) => c.failure !== null).length;
    const sk = s.cases.filter((c) => c.skipped).length;
    lines.push(
      `  <testsuite name="${xmlEscape(s.name)}" tests="${s.cases.length}" failures="${f}" errors="0" skipped="${sk}" timestamp="${xmlEscape(s.timestamp)}" time="${s.timeSec.toFixed(3)}">`,
    );
    for (const c of s.cases) {
      const open = `    <testcase classname="${xmlEscape(c.classname)}" name="${xmlEscape(c.name)}" time="${(c.timeSec ?? 0).toFixed(3)}"`;
      if (c.failure !== null) {
        lines.push(`${open}>`, `      <failure message="${xmlEscape(c.failure)}">${xmlEscape(c.details ?? c.failure)}</failure>`, '    </testcase>');
      } else if (c.skipped) {
        lines.push(`${open}>`, `      <skipped message="${xmlEscape(c.skipped)}"/>`, '    </testcase>');
      } else if (c.details) {
        lines.push(`${open}>`, `      <system-out>${xmlEscape(c.details)}</system-out>`, '    </testcase>');
      } else {
        lines.push(`${open}/>`);
      }
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}
