/**
 * The built-in development secret, shared by the service (its HS256 key when no JWT_SECRET,
 * JWT_PUBLIC_KEY or JWT_JWKS_URL is set), `rtctl --dev` and the demo page's dev-token route.
 * It is public by design: the service warns when it runs on it and refuses it in production.
 * Kept here, free of any import, so the CLI and the browser bundle can read it without pulling in
 * the service's config module.
 */
export const DEV_JWT_SECRET = 'archibald-realtime-development-secret-do-not-use';
