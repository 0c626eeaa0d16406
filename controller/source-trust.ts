// Owns what a FleetSource may make the controller do with a Secret and a URL: a Secret lends itself
// only to the FleetSources it names, and credentials never travel in clear text or inside the URL.
// The CRD says the URL rules too (x-kubernetes-validations); these checks also hold when the
// installed CRD is older than the controller.
import { ANNOTATION_SECRET_FLEETSOURCES } from '../api/index.js';

export type TrustFailureReason = 'SecretNotAllowed' | 'InsecureURL' | 'WebhookSecretTooShort';

/** Shortest webhook secret the controller accepts (`openssl rand -hex 32` gives 64 characters). */
export const MIN_WEBHOOK_SECRET_LENGTH = 32;

export class SourceTrustError extends Error {
  constructor(
    readonly reason: TrustFailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'SourceTrustError';
  }
}

/** FleetSource names a Secret's opt-in annotation lists. */
export function fleetSourcesAllowedBy(annotations: Record<string, string> | undefined): Set<string> {
  const raw = annotations?.[ANNOTATION_SECRET_FLEETSOURCES] ?? '';
  return new Set(raw.split(',').map((s) => s.trim()).filter((s) => s !== ''));
}

/** Throws unless the Secret `namespace/secret`, used as `field` of FleetSource `fleetSource`, names it in its opt-in annotation. */
export function assertSecretAllows(
  secret: { namespace: string; name: string; annotations: Record<string, string> | undefined },
  fleetSource: string,
  field: 'spec.secretRef' | 'spec.webhookSecretRef',
): void {
  if (fleetSourcesAllowedBy(secret.annotations).has(fleetSource)) return;
  const { namespace, name } = secret;
  throw new SourceTrustError(
    'SecretNotAllowed',
    `${field} names Secret ${namespace}/${name}, which does not allow FleetSource ${fleetSource} to use it: ` +
      `if it should, run \`kubectl -n ${namespace} annotate secret ${name} ${ANNOTATION_SECRET_FLEETSOURCES}=${fleetSource}\` ` +
      `(a comma-separated list of FleetSource names)`,
  );
}

const LOOPBACK_HOSTS = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Throws when `url` carries userinfo, is not http(s), or would carry credentials over plain http.
 * Plain http is accepted with credentials only to loopback, where nothing leaves the host.
 */
export function assertUrlSafe(url: string, withCredentials: boolean): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SourceTrustError('InsecureURL', `spec.url ${JSON.stringify(url)} is not a URL: write https://host/path/repo.git`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new SourceTrustError('InsecureURL', `spec.url uses ${u.protocol}, osfleet fetches over smart HTTP only: write an https:// URL`);
  }
  if (u.username !== '' || u.password !== '') {
    throw new SourceTrustError(
      'InsecureURL',
      'spec.url carries credentials (user:password@): remove them from the URL and put them in a Secret named by spec.secretRef',
    );
  }
  if (withCredentials && u.protocol === 'http:' && !LOOPBACK_HOSTS.test(u.hostname)) {
    throw new SourceTrustError(
      'InsecureURL',
      `spec.secretRef would send credentials to ${u.host} over plain http: use an https:// URL (plain http carries credentials to loopback only)`,
    );
  }
}

/** Throws when a webhook secret is too short to resist guessing: the webhook is then refused. */
export function assertWebhookSecretStrong(token: string, secret: { namespace: string; name: string }): void {
  if (token.length >= MIN_WEBHOOK_SECRET_LENGTH) return;
  throw new SourceTrustError(
    'WebhookSecretTooShort',
    `spec.webhookSecretRef: key token of Secret ${secret.namespace}/${secret.name} has ${token.length} characters, ` +
      `fewer than the ${MIN_WEBHOOK_SECRET_LENGTH} a webhook secret needs to resist guessing: set a random one, e.g. \`openssl rand -hex 32\`, ` +
      'here and at the git host; until then webhooks for this FleetSource are refused',
  );
}
