/**
 * Contracts of the routes outside /api that need no token (their handlers are in app.ts), and of
 * the WebSocket upgrade (documented for completeness; it is served by realtime/gateway.ts).
 */
import { z } from 'zod';
import { connectQuerySchema } from '../protocol/index.js';
import { defineRoute } from './route-spec.js';

const unavailable = { description: 'Starting, draining, or the database is unreachable', schema: z.object({ error: z.object({ code: z.literal('UNAVAILABLE'), message: z.string() }) }) };

export const openRoutes = {
  healthz: defineRoute({
    method: 'get', path: '/healthz', operationId: 'healthz', tag: 'ops', auth: 'none',
    summary: 'Liveness: the process answers',
    responses: { 200: { description: 'Alive', schema: z.object({ status: z.literal('ok'), instanceId: z.string() }) } },
  }),
  readyz: defineRoute({
    method: 'get', path: '/readyz', operationId: 'readyz', tag: 'ops', auth: 'none',
    summary: 'Readiness: listening, not draining, database reachable',
    responses: { 200: { description: 'Ready', schema: z.object({ status: z.literal('ready'), instanceId: z.string() }) }, 503: unavailable },
  }),
  metrics: defineRoute({
    method: 'get', path: '/metrics', operationId: 'metrics', tag: 'ops', auth: 'none',
    summary: 'Prometheus metrics',
    responses: { 200: { description: 'Prometheus text exposition format', contentType: 'text/plain' } },
  }),
  openapi: defineRoute({
    method: 'get', path: '/openapi.json', operationId: 'openapi', tag: 'ops', auth: 'none',
    summary: 'This document',
    responses: { 200: { description: 'OpenAPI 3.1', schema: z.record(z.string(), z.unknown()) } },
  }),
};

/** Not a Koa route: the upgrade is handled before Koa. Auth is the bearer header or `?token=` (browsers). */
export const realtimeRoute = defineRoute({
  method: 'get', path: '/ws/realtime', operationId: 'realtime', tag: 'realtime', auth: 'user',
  summary: 'WebSocket upgrade: every change of the user, in seq order (DESIGN §5)',
  query: connectQuerySchema,
  responses: { 101: { description: 'Switching protocols: HELLO first, then replay and live events' } },
});
