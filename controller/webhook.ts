// Owns the webhook receiver: `/hooks/<fleetsource>` in GitHub, GitLab and Gitea styles.
// A request is trusted only after its signature (or token) checks out in constant time;
// until then nothing is fetched, and a body over the limit is refused without being read.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ControllerMetrics, WebhookResult } from './metrics.js';

export const WEBHOOK_PATH_PREFIX = '/hooks/';
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_REPLAY_WINDOW_MS = 15 * 60 * 1000;

/**
 * What a valid webhook led to: a fetch queued here (the leader), handed to the leader (another
 * replica), or nothing because the FleetSource has spec.suspend set.
 */
export type TriggerOutcome = 'queued' | 'forwarded' | 'suspended';

export interface WebhookOptions {
  /**
   * The shared secret of a FleetSource's webhook (from its `spec.webhookSecretRef`), or
   * undefined when there is no such FleetSource or it has no webhook secret.
   */
  lookupSecret(fleetsource: string): Promise<string | undefined>;
  /** Asks for an immediate fetch; the caller coalesces with a run in progress. */
  trigger(fleetsource: string): TriggerOutcome | Promise<TriggerOutcome>;
  metrics?: ControllerMetrics;
  logger?: Logger;
  maxBodyBytes?: number;
  replayWindowMs?: number;
  /** Upper bound on remembered deliveries; the oldest are forgotten first. */
  replayMaxEntries?: number;
  now?: () => number;
}

type Verdict = { ok: true; style: string } | { ok: false; result: 'bad_signature' | 'missing_signature' };

const NAME_RE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Remembers what was seen for a bounded time and a bounded count. */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();
  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  has(key: string): boolean {
    const exp = this.seen.get(key);
    if (exp === undefined) return false;
    if (exp <= this.now()) {
      this.seen.delete(key);
      return false;
    }
    return true;
  }

  /** Forgets a delivery that was not acted on, so the git host may deliver it again. */
  delete(key: string): void {
    this.seen.delete(key);
  }

  add(key: string): void {
    const t = this.now();
    // Map keeps insertion order, so the front holds the oldest entries.
    for (const [k, exp] of this.seen) {
      if (exp > t && this.seen.size < this.maxEntries) break;
      this.seen.delete(k);
    }
    this.seen.delete(key);
    this.seen.set(key, t + this.windowMs);
  }

  get size(): number {
    return this.seen.size;
  }
}

export function createWebhookHandler(opts: WebhookOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const now = opts.now ?? Date.now;
  const replay = new ReplayGuard(opts.replayWindowMs ?? DEFAULT_REPLAY_WINDOW_MS, opts.replayMaxEntries ?? 10_000, now);
  const log = opts.logger;

  const finish = (res: ServerResponse, status: number, result: WebhookResult, message: string, fleetsource?: string): void => {
    opts.metrics?.webhookRequests.inc({ result });
    if (result !== 'accepted') log?.info({ fleetsource, result, status }, `webhook refused: ${message}`);
    if (!res.headersSent) {
      res.writeHead(status, { 'content-type': 'application/json' });
    }
    res.end(`${JSON.stringify({ result, message })}\n`);
  };

  return (req, res) => {
    void handle(req, res).catch((err: unknown) => {
      log?.error({ err }, 'webhook handler failed');
      finish(res, 500, 'error', 'internal error');
    });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const name = decodeURIComponent(url.pathname.slice(WEBHOOK_PATH_PREFIX.length));
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return refuseUnread(req, res, 405, 'method_not_allowed', 'webhooks are POST requests');
    }
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > maxBody) {
      return refuseUnread(req, res, 413, 'too_large', `body of ${declared} bytes is over the ${maxBody}-byte limit`);
    }
    if (!NAME_RE.test(name)) {
      return refuseUnread(req, res, 404, 'not_found', `"${name}" is not a FleetSource name`);
    }
    // An unknown FleetSource (or one without a usable webhook secret) is answered exactly like a
    // wrong signature: the body is read and checked against a secret nobody knows, so status,
    // message and timing say nothing about which FleetSource names exist.
    const known = await opts.lookupSecret(name);
    const secret = known ?? randomBytes(32).toString('hex');
    if (known === undefined) log?.debug({ fleetsource: name }, 'webhook for no FleetSource with a usable webhook secret: answered as a bad signature');
    const body = await readLimited(req, maxBody);
    if (body === undefined) {
      return refuseUnread(req, res, 413, 'too_large', `body is over the ${maxBody}-byte limit`, name);
    }
    const verdict = verify(req, body, secret);
    if (!verdict.ok || known === undefined) {
      const result = verdict.ok ? 'bad_signature' : verdict.result;
      return finish(
        res,
        401,
        result,
        result === 'missing_signature'
          ? 'no X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token header'
          : 'signature does not match the FleetSource webhook secret',
        name,
      );
    }
    const delivery = header(req, 'x-github-delivery') ?? header(req, 'x-gitea-delivery') ?? header(req, 'x-gitlab-event-uuid');
    const digest = createHash('sha256').update(body).digest('hex');
    const keys = [`${name}\0body\0${digest}`, ...(delivery ? [`${name}\0id\0${delivery}`] : [])];
    if (keys.some((k) => replay.has(k))) {
      return finish(res, 409, 'replayed', 'this delivery was already received; replays are ignored', name);
    }
    // Recorded before the trigger, so a concurrent duplicate is refused; forgotten again when
    // nothing was done, so a redelivery (after un-suspending, after an error) is not a "replay".
    for (const k of keys) replay.add(k);
    let outcome;
    try {
      outcome = await opts.trigger(name);
    } catch (err) {
      for (const k of keys) replay.delete(k);
      log?.error({ fleetsource: name, err: (err as Error).message }, 'webhook valid, but handing it to the leader failed');
      return finish(res, 503, 'error', `could not request a fetch of FleetSource ${name}: ${(err as Error).message}; deliver again`, name);
    }
    if (outcome === 'suspended') {
      for (const k of keys) replay.delete(k);
      // Authentic, but the FleetSource is suspended: say so instead of claiming a fetch is queued.
      log?.info({ fleetsource: name, style: verdict.style, delivery }, 'webhook accepted, but the FleetSource is suspended: nothing fetched');
      return finish(res, 200, 'suspended', `FleetSource ${name} is suspended (spec.suspend: true): nothing fetched; set it to false to resume`, name);
    }
    if (outcome === 'forwarded') {
      log?.info({ fleetsource: name, style: verdict.style, delivery }, 'webhook accepted: this replica does not lead; fetch requested from the leader');
      return finish(res, 202, 'accepted', `fetch of FleetSource ${name} requested from the leading replica`, name);
    }
    log?.info({ fleetsource: name, style: verdict.style, delivery }, 'webhook accepted: fetching now');
    finish(res, 202, 'accepted', `fetch of FleetSource ${name} queued`, name);
  }

  /** Answers and closes without reading the body; the rest of the upload is discarded by the socket close. */
  function refuseUnread(req: IncomingMessage, res: ServerResponse, status: number, result: WebhookResult, message: string, name?: string): void {
    res.setHeader('connection', 'close');
    finish(res, status, result, message, name);
    res.on('finish', () => {
      if (!req.complete) req.destroy();
    });
  }
}

/** Reads at most `limit` bytes; undefined (and reading stops) as soon as the body is longer. */
function readLimited(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function verify(req: IncomingMessage, body: Buffer, secret: string): Verdict {
  const github = header(req, 'x-hub-signature-256');
  if (github !== undefined) {
    const m = /^sha256=([0-9a-fA-F]{64})$/.exec(github.trim());
    return m && equalHex(m[1]!, hmacHex(secret, body)) ? { ok: true, style: 'github' } : { ok: false, result: 'bad_signature' };
  }
  const gitea = header(req, 'x-gitea-signature');
  if (gitea !== undefined) {
    const sig = gitea.trim();
    return /^[0-9a-fA-F]{64}$/.test(sig) && equalHex(sig, hmacHex(secret, body))
      ? { ok: true, style: 'gitea' }
      : { ok: false, result: 'bad_signature' };
  }
  const gitlab = header(req, 'x-gitlab-token');
  if (gitlab !== undefined) {
    // Compare digests so the comparison is constant-time whatever the token lengths.
    const a = createHash('sha256').update(gitlab).digest();
    const b = createHash('sha256').update(secret).digest();
    return timingSafeEqual(a, b) ? { ok: true, style: 'gitlab' } : { ok: false, result: 'bad_signature' };
  }
  return { ok: false, result: 'missing_signature' };
}

function hmacHex(secret: string, body: Buffer): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

function equalHex(a: string, b: string): boolean {
  const x = Buffer.from(a.toLowerCase(), 'hex');
  const y = Buffer.from(b.toLowerCase(), 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}
