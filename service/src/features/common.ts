/** Schemas and helpers shared by the drafts and pending-orders features. */
import type { Context } from 'koa';
import { z } from 'zod';
import type { Principal } from '../auth.js';
import type { Draft, DraftItem, PendingOrder } from '../protocol/index.js';
import type { OrderContent } from '../ports/writes.js';
import { validate } from '../http/validate.js';

export const deviceIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:@-]+$/, 'letters, digits and . _ : @ - only');

/**
 * Text that PostgreSQL can store: no NUL (text and jsonb refuse \u0000) and no unpaired UTF-16
 * surrogate (jsonb refuses the escape; text would get U+FFFD instead of what was sent). Refused
 * here with 400 rather than by the database with 500.
 */
export const storableText = () =>
  z
    .string()
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL (\\u0000) characters')
    .refine((s) => !/[\uD800-\uDFFF]/u.test(s), 'must not contain unpaired surrogate characters');

/**
 * ISO-8601 with an offset, normalized to UTC milliseconds so comparisons are exact. The UTC year
 * must be 0001..9999: PostgreSQL has no year 0, and a later one would not be ISO-8601 once
 * normalized ('+010000-...').
 */
export const isoTimestamp = z.iso
  .datetime({ offset: true })
  .refine((s) => {
    const year = new Date(s).getUTCFullYear();
    return year >= 1 && year <= 9999;
  }, 'must be between 0001-01-01 and 9999-12-31 UTC')
  .transform((s) => new Date(s).toISOString());

export const idSchema = z.guid('must be a UUID');
/** Path parameters of the routes on one draft or order (validated by `idParam`). */
export const idParamsSchema = z.object({ id: idSchema });

export const itemSchema = z.object({
  productId: storableText().min(1).max(128),
  quantity: z.number().positive().max(1_000_000),
  price: z.number().nonnegative().max(1e12).nullable().optional(),
  notes: storableText().max(2_000).nullable().optional(),
});

/** The content a client edits (what "identical content" compares). Unknown fields are ignored. */
export const orderContentSchema = z.object({
  deviceId: deviceIdSchema.optional(),
  customerId: storableText().min(1).max(128),
  customerName: storableText().min(1).max(300),
  items: z.array(itemSchema).max(1_000),
  notes: storableText().max(5_000).nullable().optional(),
  updatedAt: isoTimestamp,
});
export type OrderContentInput = z.infer<typeof orderContentSchema>;

export function normalizeItems(items: OrderContentInput['items']): DraftItem[] {
  return items.map((i) => ({ productId: i.productId, quantity: i.quantity, price: i.price ?? null, notes: i.notes ?? null }));
}

/** What the storage compares ("identical content") and stores: items normalized, absent notes as null. */
export function orderContent(input: OrderContentInput): OrderContent {
  return {
    customerId: input.customerId,
    customerName: input.customerName,
    items: normalizeItems(input.items),
    notes: input.notes ?? null,
    updatedAt: input.updatedAt,
  };
}

export function principal(ctx: Context): Principal {
  return ctx.state.principal as Principal;
}

/** The event's origin device: X-Device-Id, else the body's deviceId. */
export function originDevice(ctx: Context, bodyDeviceId?: string): string | null {
  const header = ctx.get('x-device-id');
  if (header) return validate(deviceIdSchema, header, 'X-Device-Id header');
  return bodyDeviceId ?? null;
}

export function idParam(ctx: Context): string {
  return validate(idSchema, (ctx.params as Record<string, string>).id, 'id').toLowerCase();
}

// Response shapes, for the OpenAPI document; `satisfies` ties them to the protocol types.
const storedItemSchema = z.object({
  productId: z.string(),
  quantity: z.number(),
  price: z.number().nullable().optional(),
  notes: z.string().nullable().optional(),
});
const orderFields = {
  id: z.string().describe('uuid, made by the client'),
  deviceId: z.string().nullable(),
  customerId: z.string(),
  customerName: z.string(),
  items: z.array(storedItemSchema),
  notes: z.string().nullable(),
  updatedAt: z.string().describe('client clock, ISO-8601 UTC'),
  serverUpdatedAt: z.string().describe('server clock, ISO-8601 UTC'),
  version: z.number().int(),
};
export const draftSchema = z.object({
  ...orderFields,
  deleted: z.boolean(),
  deletedAt: z.string().nullable(),
  convertedTo: z.string().nullable().describe('the pending order this draft was converted to'),
}) satisfies z.ZodType<Draft>;
export const pendingOrderSchema = z.object({
  ...orderFields,
  status: z.enum(['pending', 'submitting', 'submitted', 'failed']),
  erpOrderNumber: z.string().nullable(),
  jobId: z.string().nullable(),
  sourceDraftId: z.string().nullable(),
}) satisfies z.ZodType<PendingOrder>;
/** seq of the event a write emitted; null when it emitted none (a retry, a no-op). */
export const writeSeqSchema = z.number().int().positive().nullable();
