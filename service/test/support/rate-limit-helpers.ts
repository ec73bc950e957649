/**
 * What the rate-limit suites share: a raw `ws` upgrade that reports the HTTP answer of a refused
 * handshake (status, Retry-After, body), and reading one counter from /metrics.
 */
import WebSocket from 'ws';

/** 101 when the socket opened; otherwise the refusal's status, Retry-After header and (JSON) body. */
export type UpgradeOutcome = { status: number; retryAfter?: string; body?: any };

/** One upgrade with a real `ws` client: 101 when it opens (closed again at once), else the refusal. */
export function rawUpgrade(wsUrl: string, token: string, deviceId: string, headers: Record<string, string> = {}): Promise<UpgradeOutcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsUrl}?deviceId=${encodeURIComponent(deviceId)}`, { headers: { authorization: `Bearer ${token}`, ...headers } });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.once('unexpected-response', (req, res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += String(c)));
      res.once('end', () => {
        req.destroy();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: the assertion on body shows it
        }
        resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body });
      });
    });
    ws.once('error', reject);
  });
}

/** The value of one sample of a counter on /metrics, selected by its labels (0 when absent). */
export async function counterValue(baseUrl: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (wanted.every((w) => line.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}
