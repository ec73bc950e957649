// Load-test only, preloaded into a server under test with
//   NODE_OPTIONS="--expose-gc --import=<abs path>/gc-preload.mjs"   (and LOADTEST_MEMORY_FILE=<path>)
// On SIGUSR2 it runs a full garbage collection and writes process.memoryUsage() to
// LOADTEST_MEMORY_FILE, so that the memory samples the load tests take before and after connecting
// devices compare live memory, not garbage that happens to await collection (the service's start-up
// leaves hundreds of MB of it, returned to the OS at an unpredictable moment).
import { writeFileSync } from 'node:fs';

process.on('SIGUSR2', () => {
  if (typeof globalThis.gc === 'function') globalThis.gc();
  const file = process.env.LOADTEST_MEMORY_FILE;
  if (file) writeFileSync(file, JSON.stringify(process.memoryUsage()));
});
