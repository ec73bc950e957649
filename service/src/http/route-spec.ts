/**
 * A route's contract, declared once next to its handler: the zod schemas the handler validates with
 * are the ones the OpenAPI document (http/openapi.ts) is generated from, so the two cannot drift.
 */
import type { z } from 'zod';

export type HttpMethod = 'get' | 'post' | 'put' | 'delete';

export interface ResponseSpec {
  description: string;
  /** JSON body schema; omitted for responses without a JSON body. */
  schema?: z.ZodType;
  /** Non-JSON bodies (e.g. the Prometheus text format). */
  contentType?: string;
}

export interface RouteSpec {
  method: HttpMethod;
  /** Koa path syntax: `/api/drafts/:id`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /** none: open; user: a valid bearer token; admin: and the admin role. */
  auth: 'none' | 'user' | 'admin';
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** Accepts `Idempotency-Key` (every write route, DESIGN §12). */
  idempotent?: boolean;
  /** Reads `X-Device-Id` as the event's origin. */
  deviceHeader?: boolean;
  /** The route's own answers; the shared error answers (401, 403, 413, ...) are added by the generator. */
  responses: Record<number, ResponseSpec>;
}

/** Identity, typed: keeps each spec's literal schema types so handlers validate with them. */
export const defineRoute = <const S extends RouteSpec>(spec: S): S => spec;
