/** Job routes: the route's contract (http/route-spec.ts) and its handler, validated with the same schemas. */
import type Router from '@koa/router';
import { z } from 'zod';
import { errors } from '../../errors.js';
import { defineRoute } from '../../http/route-spec.js';
import { validate } from '../../http/validate.js';
import type { JobQueue } from '../../ports/jobs.js';
import { principal } from '../common.js';

const jobIdSchema = z.string().min(1).max(128).regex(/^[A-Za-z0-9_-]+$/, 'invalid job id');

const jobViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  state: z.enum(['waiting', 'active', 'completed', 'failed', 'delayed']),
  progress: z.number(),
  attemptsMade: z.number().int(),
  result: z.unknown(),
  failedReason: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
  orderId: z.string(),
});

export const jobRoutes = {
  get: defineRoute({
    method: 'get', path: '/api/jobs/:id', operationId: 'getJob', tag: 'jobs', auth: 'user',
    summary: "A submit job's state and progress (only its owner's)",
    params: z.object({ id: jobIdSchema }),
    responses: { 200: { description: 'The job', schema: jobViewSchema }, 404: { description: 'No such job for this user' } },
  }),
};

export function registerJobRoutes(router: Router, jobs: JobQueue): void {
  router.get(jobRoutes.get.path, async (ctx) => {
    const { id } = validate(jobRoutes.get.params, ctx.params, 'job id');
    const job = await jobs.getJob(principal(ctx).userId, id);
    if (!job) throw errors.notFound('Job');
    ctx.body = job;
  });
}
