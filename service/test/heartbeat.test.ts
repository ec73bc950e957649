import { describe, expect, it } from 'vitest';
import { restartWindowMs } from '../src/realtime/gateway.js';
import { createHeartbeat, type Beating } from '../src/realtime/heartbeat.js';

function socket(answers: boolean) {
  const s = { closed: false, alive: true, pings: 0, ws: { ping: () => {
    s.pings += 1;
    if (answers) s.alive = true; // its pong, read before the next round
  } } };
  return s;
}

describe('heartbeat', () => {
  function setup() {
    const healthy = socket(true);
    const silent = socket(false);
    const timedOut: Beating[] = [];
    const late: number[] = [];
    const hb = createHeartbeat({
      intervalMs: 1_000,
      connections: () => [healthy, silent],
      onTimeout: (c) => {
        timedOut.push(c);
        c.closed = true;
      },
      onLateRound: (ms) => late.push(ms),
    });
    return { healthy, silent, timedOut, late, hb };
  }

  it('closes a socket that did not answer the previous round, and keeps one that did', () => {
    const { healthy, silent, timedOut, late, hb } = setup();
    hb.round(0);
    hb.round(1_000);
    expect(timedOut).toEqual([silent]);
    expect([healthy.closed, healthy.pings]).toEqual([false, 2]);
    hb.round(2_050); // a little late is on time
    expect(late).toEqual([]);
  });

  it('a round over half an interval late judges no one: the loop, not the device, was slow', () => {
    const { healthy, silent, timedOut, late, hb } = setup();
    hb.round(0);
    hb.round(3_000); // 2 s late: the process was blocked
    expect(timedOut).toEqual([]);
    expect(late).toEqual([2_000]);
    expect(silent.pings).toBe(2); // pinged again instead
    hb.round(4_000); // on time: the silent one is judged now
    expect(timedOut).toEqual([silent]);
    expect(healthy.closed).toBe(false);
  });
});

describe('restart window', () => {
  it('is RESTART_JITTER_MS, or long enough for the devices at RESTART_RECONNECT_RATE per second', () => {
    expect(restartWindowMs(100, 5_000, 1_000)).toBe(5_000);
    expect(restartWindowMs(20_000, 5_000, 1_000)).toBe(20_000);
    expect(restartWindowMs(14_285, 5_000, 300)).toBe(47_617);
    expect(restartWindowMs(20_000, 5_000, 0)).toBe(5_000); // 0: the jitter alone
  });
});
