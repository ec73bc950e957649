/** Polling wait for tests: resolves when `pred()` is true, rejects with `what` after `timeoutMs`. */
export async function waitUntil(pred: () => boolean, what: string, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
