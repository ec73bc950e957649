import { describe, expect, it } from 'vitest';
import { packageOf, summarize, type CpuProfile } from './cpuprofile.js';

describe('cpuprofile summary', () => {
  it('names where code lives: a package (scoped too), Node, the service, V8', () => {
    expect(packageOf('file:///r/node_modules/pg/lib/client.js', 'query')).toBe('pg');
    expect(packageOf('file:///r/node_modules/@koa/router/lib/router.js', 'x')).toBe('@koa/router');
    expect(packageOf('node:internal/streams/writable', 'write')).toBe('node:internal');
    expect(packageOf('file:///r/dist/service/src/realtime/hub.js', 'fanOut')).toBe('service/realtime');
    expect(packageOf('file:///r/dist/service/src/app.js', 'x')).toBe('service');
    expect(packageOf('', '(garbage collector)')).toBe('(garbage collector)');
  });

  it('adds self time per function and per package, and keeps idle out of busy', () => {
    const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0 });
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)', ''), children: [2, 3, 4] },
        { id: 2, callFrame: frame('(idle)', '') },
        { id: 3, callFrame: frame('query', 'file:///r/node_modules/pg/lib/client.js') },
        { id: 4, callFrame: frame('fanOut', 'file:///r/dist/service/src/realtime/delivery.js') },
      ],
      startTime: 0,
      endTime: 10_000,
      samples: [2, 3, 3, 4, 2, 3],
      timeDeltas: [1000, 2000, 2000, 1000, 3000, 1000],
    };
    const s = summarize(profile);
    expect(s.totalMs).toBe(10);
    expect(s.busyMs).toBe(6);
    expect(s.packages.find((p) => p.name === 'pg')?.selfMs).toBe(5);
    expect(s.functions[0]).toMatchObject({ name: 'query', selfMs: 5 });
    expect(s.functions.find((f) => f.name === 'fanOut')?.where).toBe('service/src/realtime/delivery.js:1');
  });
});
