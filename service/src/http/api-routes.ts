/**
 * Every route contract the OpenAPI document lists. A new route module adds its specs here, and
 * service/test/openapi.test.ts fails while a route the routers register is missing from it.
 */
import { adminRoutes } from '../features/admin/admin-routes.js';
import { revokeRoutes } from '../features/admin/revoke-routes.js';
import { devRoutes } from '../features/dev/dev-routes.js';
import { draftRoutes } from '../features/drafts/drafts-routes.js';
import { jobRoutes } from '../features/jobs/jobs-routes.js';
import { pendingOrderRoutes } from '../features/pending-orders/pending-orders-routes.js';
import { buildOpenApiDocument } from './openapi.js';
import { openRoutes, realtimeRoute } from './open-routes.js';
import type { RouteSpec } from './route-spec.js';

export const API_VERSION = '0.1.0'; // package.json's version

export const apiRouteSpecs: readonly RouteSpec[] = [
  ...Object.values(openRoutes),
  realtimeRoute,
  ...Object.values(draftRoutes),
  ...Object.values(pendingOrderRoutes),
  ...Object.values(jobRoutes),
  ...Object.values(adminRoutes),
  ...Object.values(revokeRoutes),
  // Answers every method (404 unless on the development secret); only its POST is a contract.
  devRoutes.token,
];

export const buildApiDocument = () => buildOpenApiDocument(apiRouteSpecs, { version: API_VERSION });
