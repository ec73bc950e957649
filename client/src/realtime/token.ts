/**
 * The device's token and when it is fetched again (DESIGN §5), through the caller's `getToken`:
 * - before the first connect when no token was given (failure is fatal);
 * - in band on TOKEN_EXPIRING, sent as AUTH on the open socket, so no reconnect is needed
 *   (failure is not fatal: the server closes with 4401 at expiry and the policy decides);
 * - after a refusal (close 4401, upgrade 401), before reconnecting (failure is fatal).
 */
import { errMessage, type DeviceError } from './types.js';

type Moment = 'initial' | 'inBand' | 'refused';

const FAILURE: Record<Moment, Omit<DeviceError, 'message'> & { prefix: string }> = {
  initial: { kind: 'unauthorized', fatal: true, prefix: 'Could not get a token' },
  inBand: { kind: 'server', fatal: false, prefix: 'Token renewal failed' },
  refused: { kind: 'unauthorized', fatal: true, prefix: 'Could not renew the token' },
};

export class DeviceToken {
  private token_: string | undefined;

  constructor(
    token: string | undefined,
    private readonly getToken: (() => string | Promise<string>) | undefined,
  ) {
    this.token_ = token;
  }

  get token(): string | undefined {
    return this.token_;
  }

  /** A `getToken` was given. */
  get canRenew(): boolean {
    return this.getToken !== undefined;
  }

  /** No token yet, and a way to get one: fetch before connecting. */
  get missing(): boolean {
    return this.token_ === undefined && this.getToken !== undefined;
  }

  /** Fetch a fresh token; null when it worked, else the error to report for that moment. */
  async fetch(moment: Moment): Promise<DeviceError | null> {
    if (!this.getToken) return null;
    try {
      this.token_ = await this.getToken();
      return null;
    } catch (err) {
      const { prefix, ...rest } = FAILURE[moment];
      return { ...rest, message: `${prefix}: ${errMessage(err)}` };
    }
  }
}
