// @types/k6 1.7 describes `k6/websockets` but no longer the deprecated `k6/experimental/websockets`,
// which k6 still serves with the same API (1.x and, until its announced removal, 2.x).
declare module 'k6/experimental/websockets' {
  export * from 'k6/websockets';
}
