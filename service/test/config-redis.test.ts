/** REDIS_URL or REDIS_CLUSTER_NODES: which Redis the adapters get, and the errors a bad setting gets at start-up. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('Redis configuration', () => {
  it('REDIS_URL is one server; REDIS_CLUSTER_NODES is a cluster given by its seed nodes; neither is embedded', () => {
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6380' }).redis.target).toEqual({ kind: 'server', url: 'redis://127.0.0.1:6380' });
    expect(loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7001,redis-c:7002' }).redis.target).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: 'redis-c', port: 7002 },
      ],
    });
    expect(loadConfig({}).redis.target).toBeUndefined();
  });

  it('both set, a malformed list or a port out of range fail with a message naming the variable', () => {
    const fails = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(fails({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '127.0.0.1:7000' })).toMatch(/REDIS_URL and REDIS_CLUSTER_NODES are both set/);
    expect(fails({ REDIS_CLUSTER_NODES: '127.0.0.1' })).toMatch(/REDIS_CLUSTER_NODES: must be host:port/);
    expect(fails({ REDIS_CLUSTER_NODES: 'redis://a:1' })).toMatch(/REDIS_CLUSTER_NODES/);
    expect(fails({ REDIS_CLUSTER_NODES: 'a:70000' })).toMatch(/REDIS_CLUSTER_NODES: port 70000 of a is out of range/);
  });
});
