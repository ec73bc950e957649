import type Router from '@koa/router';
import { z } from 'zod';
import { errors } from '../../errors.js';
import { validate } from '../../http/validate.js';
import type { JobQueue } from '../../ports/jobs.js';
import { principal } from '../common.js';

const jobIdSchema = z.string().min(1).max(128).regex(/^[A-Za-z0-9_-]+$/, 'invalid job id');

export function registerJobRoutes(router: Router, jobs: JobQueue): void {
  router.get('/api/jobs/:id', async (ctx) => {
    const id = validate(jobIdSchema, (ctx.params as Record<string, string>).id, 'job id');
    const job = await jobs.getJob(principal(ctx).userId, id);
    if (!job) throw errors.notFound('Job');
    ctx.body = job;
  });
}
