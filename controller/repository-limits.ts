// Owns how much of a git repository the controller will hold: bytes per HTTP response (the
// packfile is one), tree entries walked and YAML bytes read per revision. One oversized repository
// must not run the controller out of memory and take every other FleetSource down with it.
import type { GitHttpResponse, HttpClient } from 'isomorphic-git';

export interface RepositoryLimits {
  /** Bytes of one response from the git server (the ref advertisement, the packfile). */
  maxResponseBytes: number;
  /** Tree entries (files, folders, links) walked under spec.path in one revision. */
  maxEntries: number;
  /** Bytes of YAML read from one revision, all files together. */
  maxYamlBytes: number;
}

/** Far above a fleet repository (a few hundred KiB) and far below the controller's 512 MiB memory limit. */
export const DEFAULT_REPOSITORY_LIMITS: RepositoryLimits = {
  maxResponseBytes: 64 * 1024 * 1024,
  maxEntries: 10_000,
  maxYamlBytes: 16 * 1024 * 1024,
};

/** A byte count as an operator reads it: whole MiB where it is one, else bytes. */
export function mib(bytes: number): string {
  const m = bytes / (1024 * 1024);
  if (m < 1) return `${bytes} bytes`;
  return Number.isInteger(m) ? `${m} MiB` : `${m.toFixed(1)} MiB`;
}

/**
 * An HTTP client whose responses end with `onExceeded()`'s error as soon as one carries more than
 * `maxBytes`: the download stops there instead of being buffered whole.
 */
export function limitResponses(inner: HttpClient, maxBytes: number, onExceeded: (url: string) => Error): HttpClient {
  return {
    async request(req) {
      const res: GitHttpResponse = await inner.request(req);
      const body = res.body;
      if (!body) return res;
      async function* counted(): AsyncIterableIterator<Uint8Array> {
        let total = 0;
        for await (const chunk of body!) {
          total += chunk.byteLength;
          if (total > maxBytes) {
            // Stop the transfer: ending the source iterator releases the socket. That happens on the
            // next turn, after the limit error has reached the git client: cutting the connection
            // makes the client report a reset, which must not win the race and hide the reason.
            setImmediate(() => {
              Promise.resolve(body!.return?.()).catch(() => undefined);
            });
            throw onExceeded(req.url);
          }
          yield chunk;
        }
      }
      return { ...res, body: counted() };
    },
  };
}

/** A size flag value: bytes, or a number with Ki, Mi or Gi (powers of 1024). */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = m[2] === 'Ki' ? 1024 : m[2] === 'Mi' ? 1024 ** 2 : m[2] === 'Gi' ? 1024 ** 3 : 1;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
