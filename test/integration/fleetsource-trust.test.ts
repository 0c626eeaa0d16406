// What a FleetSource may make the controller do with Secrets and URLs, on the real test bed: the
// CRD refuses credentials in or over an insecure URL; the real controller lends a Secret only to
// the FleetSources the Secret names, and a git server on loopback records what reached it.
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowSecretFor, getOsfleetObject, kubeRequest, sendWebhook, testbed, until } from '../harness/index.js';
import { startControllerProcess, type ControllerProcess } from '../../controller/testing/controller-process.js';

const G = { group: 'osfleet.dev', version: 'v1alpha1' };
const FLEETSOURCES = '/apis/osfleet.dev/v1alpha1/fleetsources';
const tb = testbed();
const custom = tb.kc.makeApiClient(CustomObjectsApi);
const core = tb.kc.makeApiClient(CoreV1Api);
const p = tb.uniqueName('trust');
const PASSWORD = `deputy-${p}`;
const HOOK = `hook-secret-${p}-0123456789`;

let ns: string;
let dirs: string[] = [];
let ctl: ControllerProcess;
let recorder: Server;
let recorderUrl: string;
/** Authorization headers of every request the loopback "git server" received. */
const seen: string[] = [];
const created: string[] = [];

type Cond = { type: string; status: string; reason: string; message: string };
const ready = async (name: string): Promise<Cond | undefined> =>
  ((await getOsfleetObject(tb.kc, 'fleetsources', name))?.status?.conditions as Cond[] | undefined)?.find((c) => c.type === 'Ready');

async function createFs(name: string, spec: Record<string, unknown>): Promise<void> {
  await custom.createClusterCustomObject({ ...G, plural: 'fleetsources', body: { apiVersion: 'osfleet.dev/v1alpha1', kind: 'FleetSource', metadata: { name }, spec: { interval: '1h', ...spec } } });
  created.push(name);
}

/** A server-side dry-run create: what the CRD schema says about `spec`. */
async function dryRun(spec: Record<string, unknown>): Promise<{ status: number; message: string }> {
  const r = await kubeRequest(tb.kc, 'POST', `${FLEETSOURCES}?dryRun=All`, {
    apiVersion: 'osfleet.dev/v1alpha1',
    kind: 'FleetSource',
    metadata: { name: tb.uniqueName('dry') },
    spec,
  });
  return { status: r.status, message: r.status === 201 ? '' : (JSON.parse(r.body) as { message: string }).message };
}

beforeAll(async () => {
  ns = await tb.createNamespace('osfleet');
  recorder = createServer((req, res) => {
    seen.push(req.headers.authorization ?? '');
    res.writeHead(401, { 'www-authenticate': 'Basic realm="recorder"' }).end();
  });
  await new Promise<void>((r) => recorder.listen(0, '127.0.0.1', r));
  recorderUrl = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}/team-b/private.git`;
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'team-a-creds' }, stringData: { username: 'team-a', password: PASSWORD } } });
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'team-a-hook' }, stringData: { token: HOOK } } });
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-trust-cache-'));
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-trust-logs-'));
  dirs = [cacheDir, logDir];
  ctl = await startControllerProcess({ kubeconfig: tb.cluster.kubeconfig, namespace: ns, cacheDir, logDir, identity: 'trust', leaseName: `${p}-lease` });
});

afterAll(async () => {
  await ctl?.kill9().catch(() => undefined);
  for (const name of created) await custom.deleteClusterCustomObject({ ...G, plural: 'fleetsources', name }).catch(() => undefined);
  await new Promise((r) => recorder?.close(r));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('FleetSource URLs (CRD validation on the real apiserver)', () => {
  it('refuses user:password@ in spec.url, naming where credentials go instead', async () => {
    for (const url of ['https://team-a:secret@git.example.com/fleet.git', 'https://token@git.example.com/fleet.git']) {
      const r = await dryRun({ url });
      expect(r.status, url).toBe(422);
      expect(r.message).toContain('spec.url must not carry credentials (user:password@): put them in a Secret named by spec.secretRef');
    }
  });

  it('refuses credentials over plain http, except to loopback', async () => {
    const r = await dryRun({ url: 'http://git.example.com/fleet.git', secretRef: { name: 'team-a-creds' } });
    expect(r.status).toBe(422);
    expect(r.message).toContain('spec.secretRef sends credentials, which osfleet sends only over https');
    expect((await dryRun({ url: 'HTTP://git.example.com/fleet.git', secretRef: { name: 'x' } })).status).toBe(422);
    expect((await dryRun({ url: 'http://127.0.0.1.example.com/fleet.git', secretRef: { name: 'x' } })).status).toBe(422);
    for (const url of ['https://git.example.com/fleet.git', 'http://127.0.0.1:3000/fleet.git', 'http://localhost/fleet.git', 'http://[::1]:3000/f.git']) {
      expect((await dryRun({ url, secretRef: { name: 'x' } })).status, url).toBe(201);
    }
    // Without credentials plain http stays possible (a public mirror).
    expect((await dryRun({ url: 'http://git.example.com/fleet.git' })).status).toBe(201);
  });

  it('refuses what is not http(s)', async () => {
    const r = await dryRun({ url: 'file:///var/lib/secret-repo' });
    expect(r.status).toBe(422);
    expect(r.message).toContain('spec.url must be an https:// URL');
  });
});

describe('Secrets opt in to the FleetSources that use them (real controller)', () => {
  it('does not send a Secret that does not name the FleetSource; status says how to allow it; once allowed it is sent', async () => {
    const name = `${p}-deputy`;
    await createFs(name, { url: recorderUrl, secretRef: { name: 'team-a-creds' } });
    const c = await until('Ready=False SecretNotAllowed', async () => {
      const r = await ready(name);
      return r?.reason === 'SecretNotAllowed' ? r : undefined;
    }, { timeoutMs: 20_000, onTimeout: () => ctl.logTail(20) });
    expect(c.status).toBe('False');
    expect(c.message).toContain(`kubectl -n ${ns} annotate secret team-a-creds osfleet.dev/fleetsources=${name}`);
    // The status is written after the decision: by now a sent credential would have been recorded.
    const basic = `Basic ${Buffer.from(`team-a:${PASSWORD}`).toString('base64')}`;
    expect(seen.filter((h) => h === basic)).toEqual([]);

    // The same FleetSource, once the Secret names it: the credential reaches the server (so the
    // recorder above would have seen it, had it been sent).
    await allowSecretFor(tb.kc, ns, 'team-a-creds', name);
    await until('credential sent once allowed', async () => (seen.includes(basic) ? true : undefined), { timeoutMs: 20_000, onTimeout: () => ctl.logTail(20) });
  });

  it('does not verify webhooks with a Secret that does not name the FleetSource, and says so in status', async () => {
    const name = `${p}-hook`;
    await createFs(name, { url: recorderUrl, webhookSecretRef: { name: 'team-a-hook' } });
    const c = await until('Ready=False SecretNotAllowed', async () => {
      const r = await ready(name);
      return r?.reason === 'SecretNotAllowed' ? r : undefined;
    }, { timeoutMs: 20_000, onTimeout: () => ctl.logTail(20) });
    expect(c.message).toContain('spec.webhookSecretRef names Secret');
    const hook = await sendWebhook(ctl.webhookUrl(name), { ref: 'refs/heads/main' }, HOOK);
    expect(hook.status).toBeGreaterThanOrEqual(400);

    await allowSecretFor(tb.kc, ns, 'team-a-hook', name);
    await until('signed hook accepted once allowed', async () => {
      const r = await sendWebhook(ctl.webhookUrl(name), { ref: 'refs/heads/main' }, HOOK);
      return r.status === 202 ? true : undefined;
    }, { timeoutMs: 20_000, onTimeout: () => ctl.logTail(20) });
  });

  it('refuses a webhook secret shorter than 32 characters: status says so, and a hook signed with it is refused', async () => {
    const name = `${p}-short`;
    const weak = 'hunter2-hunter2';
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'weak-hook', annotations: { 'osfleet.dev/fleetsources': name } }, stringData: { token: weak } } });
    await createFs(name, { url: recorderUrl, webhookSecretRef: { name: 'weak-hook' } });
    const c = await until('Ready=False WebhookSecretTooShort', async () => {
      const r = await ready(name);
      return r?.reason === 'WebhookSecretTooShort' ? r : undefined;
    }, { timeoutMs: 20_000, onTimeout: () => ctl.logTail(20) });
    expect(c.message).toContain(`key token of Secret ${ns}/weak-hook has ${weak.length} characters, fewer than the 32`);
    const hook = await sendWebhook(ctl.webhookUrl(name), { ref: 'refs/heads/main' }, weak);
    expect(hook.status).toBe(401);
    // And exactly as a FleetSource that does not exist is answered.
    const none = await sendWebhook(ctl.webhookUrl(`${p}-no-such-fleetsource`), { ref: 'refs/heads/main' }, weak);
    expect(none).toEqual(hook);
  });
});
