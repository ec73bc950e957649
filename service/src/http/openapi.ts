/**
 * The OpenAPI 3.1 document of the REST API, generated from the route specs (http/route-spec.ts)
 * with zod's own JSON Schema output (`z.toJSONSchema`): the schemas a handler validates with are the
 * ones documented. Request schemas are documented as their input (what a client sends, before
 * transforms), response schemas as their output.
 */
import { z } from 'zod';
import { IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER, idempotencyKeySchema } from './idempotency.js';
import type { ResponseSpec, RouteSpec } from './route-spec.js';
import { deviceIdSchema } from '../features/common.js';

type Json = Record<string, unknown>;

/** `{ error: { code, message, details? } }`, plus `current` on STALE_WRITE / VERSION_CONFLICT. */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.string().describe('machine-readable, e.g. VALIDATION_FAILED, NOT_FOUND, STALE_WRITE, IDEMPOTENCY_KEY_REUSED'),
    message: z.string(),
    details: z.array(z.object({ path: z.string(), message: z.string() })).optional().describe('VALIDATION_FAILED: one per issue'),
  }),
  current: z.unknown().optional().describe('STALE_WRITE / VERSION_CONFLICT: the stored draft'),
});

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  delete out.$schema;
  return out;
}

const errorRef = { $ref: '#/components/schemas/Error' };
const errorResponse = (description: string): Json => ({ description, content: { 'application/json': { schema: errorRef } } });

/** Answers every route of a kind can give, besides its own. */
function sharedErrors(spec: RouteSpec): Record<string, string> {
  const out: Record<string, string> = {};
  if (spec.params || spec.query || spec.body || spec.idempotent || spec.deviceHeader) out[400] = 'VALIDATION_FAILED (or MALFORMED_JSON): bad input';
  if (spec.auth !== 'none') out[401] = 'UNAUTHORIZED: missing, invalid or expired bearer token';
  if (spec.auth === 'admin') out[403] = 'FORBIDDEN: admin role required';
  if (spec.idempotent) {
    out[409] = 'IDEMPOTENCY_KEY_IN_USE: a request with this key is still running';
    out[422] = 'IDEMPOTENCY_KEY_REUSED: the key was used for a different method, path or body';
  }
  if (spec.body) {
    out[413] = 'PAYLOAD_TOO_LARGE: body over MAX_BODY_BYTES';
    out[415] = 'UNSUPPORTED_MEDIA_TYPE: Content-Type must be application/json';
  }
  if (spec.auth === 'user' && spec.method !== 'get') out[429] = 'RATE_LIMITED: over a per-user or per-address write limit; Retry-After says when to retry';
  if (spec.auth !== 'none') out[503] = 'UNAVAILABLE: database or job queue unreachable; retry';
  return out;
}

function response(spec: RouteSpec, status: number, r: ResponseSpec): Json {
  const success = status < 300;
  const out: Json = { description: r.description };
  if (r.schema) out.content = { 'application/json': { schema: jsonSchema(r.schema, 'output') } };
  else if (r.contentType) out.content = { [r.contentType]: { schema: { type: 'string' } } };
  else if (!success) out.content = { 'application/json': { schema: errorRef } };
  if (success && spec.idempotent) out.headers = { [IDEMPOTENT_REPLAYED_HEADER]: { $ref: '#/components/headers/IdempotentReplayed' } };
  return out;
}

function parameters(spec: RouteSpec): Json[] {
  const out: Json[] = [];
  const fields = (where: 'path' | 'query', obj: z.ZodObject | undefined) => {
    for (const [name, field] of Object.entries(obj?.shape ?? {}) as [string, z.ZodType][]) {
      const required = where === 'path' || !field.safeParse(undefined).success;
      const schema = jsonSchema(field, 'input');
      const description = typeof schema.description === 'string' ? schema.description : undefined;
      out.push({ name, in: where, required, ...(description ? { description } : {}), schema });
    }
  };
  fields('path', spec.params);
  fields('query', spec.query);
  if (spec.idempotent) out.push({ $ref: '#/components/parameters/IdempotencyKey' });
  if (spec.deviceHeader) out.push({ $ref: '#/components/parameters/DeviceId' });
  return out;
}

function operation(spec: RouteSpec): Json {
  const responses: Json = {};
  for (const [status, r] of Object.entries(spec.responses)) responses[status] = response(spec, Number(status), r);
  for (const [status, description] of Object.entries(sharedErrors(spec))) {
    const own = responses[status] as Json | undefined;
    // A route's own answer of the same status (e.g. 409 STALE_WRITE) keeps its text and gains the shared one.
    responses[status] = own ? { ...own, description: `${String(own.description)}; or ${description}` } : errorResponse(description);
  }
  const params = parameters(spec);
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    tags: [spec.tag],
    ...(spec.auth === 'none' ? { security: [] } : {}),
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(spec.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(spec.body, 'input') } } } } : {}),
    responses,
  };
}

/** `/api/drafts/:id` -> `/api/drafts/{id}`. */
export const openApiPath = (koaPath: string): string => koaPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

export function buildOpenApiDocument(routes: readonly RouteSpec[], info: { title?: string; version: string }): Json {
  const paths: Record<string, Json> = {};
  for (const spec of routes) {
    const path = openApiPath(spec.path);
    paths[path] ??= {};
    if (paths[path][spec.method]) throw new Error(`OpenAPI: ${spec.method.toUpperCase()} ${spec.path} is declared twice`);
    paths[path][spec.method] = operation(spec);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title ?? 'archibald-realtime',
      version: info.version,
      description:
        'REST API of the realtime sync service (DESIGN §3). Every write accepts an Idempotency-Key (DESIGN §12). ' +
        'Errors are always `{ error: { code, message, details? } }`.',
    },
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Error: jsonSchema(errorBodySchema, 'output') },
      parameters: {
        IdempotencyKey: {
          name: IDEMPOTENCY_KEY_HEADER,
          in: 'header',
          required: false,
          description:
            'Makes the write safe to repeat: the first request runs; a repeat with the same method, path and body gets the ' +
            'same status and body (with Idempotent-Replayed: true) and emits nothing. Scoped to the user, kept IDEMPOTENCY_TTL_MS ' +
            '(24 h). A refused write (4xx) keeps no key.',
          schema: jsonSchema(idempotencyKeySchema, 'input'),
        },
        DeviceId: {
          name: 'X-Device-Id',
          in: 'header',
          required: false,
          description: "The event's originDeviceId (else the body's deviceId)",
          schema: jsonSchema(deviceIdSchema, 'input'),
        },
      },
      headers: {
        IdempotentReplayed: {
          description: 'Present (true) when this is the kept answer of an earlier request with the same Idempotency-Key',
          schema: { type: 'string', enum: ['true'] },
        },
      },
    },
  };
}
