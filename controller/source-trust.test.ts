import { describe, expect, it } from 'vitest';
import { assertSecretAllows, assertUrlSafe, assertWebhookSecretStrong, fleetSourcesAllowedBy, MIN_WEBHOOK_SECRET_LENGTH, SourceTrustError } from './source-trust.js';

const reasonOf = (f: () => void): string | undefined => {
  try {
    f();
    return undefined;
  } catch (err) {
    return err instanceof SourceTrustError ? err.reason : `unexpected ${String(err)}`;
  }
};

describe('a Secret lends itself only to the FleetSources it names', () => {
  const secret = (a?: Record<string, string>) => ({ namespace: 'osfleet-system', name: 'creds', annotations: a });

  it('refuses a Secret without the annotation, naming the command that allows it', () => {
    expect(() => assertSecretAllows(secret(), 'fleet', 'spec.secretRef')).toThrow(
      'kubectl -n osfleet-system annotate secret creds osfleet.dev/fleetsources=fleet',
    );
  });

  it('refuses a Secret that names other FleetSources only (no prefix or substring match)', () => {
    expect(reasonOf(() => assertSecretAllows(secret({ 'osfleet.dev/fleetsources': 'fleet-a, other' }), 'fleet', 'spec.secretRef'))).toBe('SecretNotAllowed');
    expect(reasonOf(() => assertSecretAllows(secret({ 'osfleet.dev/fleetsources': '*' }), 'fleet', 'spec.webhookSecretRef'))).toBe('SecretNotAllowed');
  });

  it('allows each FleetSource of a comma-separated list', () => {
    const a = { 'osfleet.dev/fleetsources': 'prod, staging' };
    expect([...fleetSourcesAllowedBy(a)]).toEqual(['prod', 'staging']);
    expect(reasonOf(() => assertSecretAllows(secret(a), 'staging', 'spec.secretRef'))).toBeUndefined();
  });
});

describe('credentials travel neither in clear text nor in the URL', () => {
  it('refuses userinfo in the URL, with or without a Secret', () => {
    for (const url of ['https://user:pass@git.example.com/r.git', 'https://token@git.example.com/r.git']) {
      expect(reasonOf(() => assertUrlSafe(url, false)), url).toBe('InsecureURL');
    }
  });

  it('refuses credentials over plain http except to loopback', () => {
    expect(reasonOf(() => assertUrlSafe('http://git.example.com/r.git', true))).toBe('InsecureURL');
    expect(reasonOf(() => assertUrlSafe('HTTP://Git.Example.com/r.git', true))).toBe('InsecureURL');
    expect(reasonOf(() => assertUrlSafe('http://127.0.0.1.example.com/r.git', true))).toBe('InsecureURL');
    expect(reasonOf(() => assertUrlSafe('http://git.example.com/r.git', false))).toBeUndefined();
    for (const url of ['http://127.0.0.1:8080/r.git', 'http://localhost/r.git', 'http://[::1]:9/r.git', 'https://git.example.com/r.git']) {
      expect(reasonOf(() => assertUrlSafe(url, true)), url).toBeUndefined();
    }
  });

  it('refuses what is not smart HTTP', () => {
    expect(reasonOf(() => assertUrlSafe('file:///etc/passwd', false))).toBe('InsecureURL');
    expect(reasonOf(() => assertUrlSafe('git.example.com:r.git', false))).toBe('InsecureURL');
  });
});

describe('webhook secrets resist guessing', () => {
  const where = { namespace: 'osfleet-system', name: 'hook' };
  it('refuses one shorter than 32 characters, saying how to make a good one', () => {
    expect(MIN_WEBHOOK_SECRET_LENGTH).toBe(32);
    expect(reasonOf(() => assertWebhookSecretStrong('x'.repeat(31), where))).toBe('WebhookSecretTooShort');
    expect(() => assertWebhookSecretStrong('hunter2', where)).toThrow('openssl rand -hex 32');
    expect(reasonOf(() => assertWebhookSecretStrong('x'.repeat(32), where))).toBeUndefined();
  });
});
