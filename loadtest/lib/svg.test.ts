import { describe, expect, it } from 'vitest';
import { barChart, escapeXml, lineChart, logTicks, nines, niceTicks, percentileChart, snap125 } from './svg.js';

/** Well-formedness without an XML parser: every tag closes in order, attributes are quoted, no raw `&`. */
function assertWellFormed(svg: string): void {
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(svg); m; m = tag.exec(svg)) {
    const between = svg.slice(last, m.index);
    expect(between).not.toMatch(/[<>]/);
    expect(between).not.toMatch(/&(?!(amp|lt|gt|quot|apos);)/);
    last = tag.lastIndex;
    const [, close, name, , self] = m;
    if (self) continue;
    if (close) expect(stack.pop()).toBe(name);
    else stack.push(name!);
  }
  expect(svg.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
}

describe('svg writer', () => {
  it('writes a well-formed line chart with one path per series and escaped text', () => {
    const svg = lineChart({
      title: 'p99 <ours> & "theirs"',
      x: { label: 'writes/s', log: true },
      y: { label: 'ms' },
      series: [
        { name: 'a', points: [[100, 5], [200, 7], [400, 30]] },
        { name: 'b & c', points: [[100, 2], [200, 3]] },
      ],
    });
    assertWellFormed(svg);
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('p99 &lt;ours&gt; &amp; &quot;theirs&quot;');
    expect(svg).toContain('b &amp; c');
    expect(svg).not.toMatch(/NaN|Infinity/);
  });

  it('copes with empty series, single points and zeros on log axes', () => {
    const svg = lineChart({ title: 't', x: { label: 'x', log: true }, y: { label: 'y', log: true }, series: [{ name: 'e', points: [] }, { name: 'one', points: [[0, 0]] }] });
    assertWellFormed(svg);
    expect(svg).not.toMatch(/NaN|Infinity/);
  });

  it('writes a well-formed bar chart, skipping null values', () => {
    const svg = barChart({ title: 'bars', yLabel: 'ms', categories: ['x', 'y'], series: [{ name: 's1', values: [1, null] }, { name: 's2', values: [3.5, 4] }] });
    assertWellFormed(svg);
    expect(svg.match(/<rect [^>]*><title>/g)).toHaveLength(3);
    expect(svg).not.toMatch(/NaN|Infinity/);
  });

  it('plots percentiles on a nines axis', () => {
    expect(nines(0)).toBe(-0);
    expect(nines(0.9)).toBeCloseTo(1);
    expect(nines(0.999)).toBeCloseTo(3);
    const svg = percentileChart('lat', [{ name: 'x', cdf: [[1, 0.5], [5, 0.99], [9, 1]] }]);
    assertWellFormed(svg);
    expect(svg).toContain('99.9%');
  });

  it('chooses readable ticks', () => {
    expect(niceTicks(0, 100)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(0, 7)).toEqual([0, 2, 4, 6]);
    expect(logTicks(1, 10_000)).toEqual([1, 10, 100, 1000, 10_000]);
    expect(logTicks(1, 100)).toEqual([1, 2, 5, 10, 20, 50, 100]);
    expect(logTicks(3, 40)).toEqual([5, 10, 20]);
    expect(snap125(3, 'down')).toBe(2);
    expect(snap125(341, 'up')).toBe(500);
    expect(snap125(0.07, 'up')).toBe(0.1);
    expect(escapeXml(`<a&'">`)).toBe('&lt;a&amp;&apos;&quot;&gt;');
  });
});
