// git → cluster sync on the real test bed: real kube-apiserver, real git smart-HTTP server,
// the real controller as a child process (so it can be SIGTERMed and SIGKILLed), compiled and started
// as its image starts it (dist/, with the client-node bundle; the image's Node options and env).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFleetSource, getOsfleetObject, sendWebhook, testbed, until, type WorkClone } from '../harness/index.js';
import { policyDoc as policyDocFor, settingsDoc as settingsDocFor, versionDoc as versionDocFor } from './sync-fixtures.js';
import { startControllerProcess, type ControllerProcess } from '../../controller/testing/controller-process.js';
import { imageNodeFlags, workloadEnv } from '../harness/dockerfile.js';

const G = { group: 'osfleet.dev', version: 'v1alpha1' };
const tb = testbed();
const custom = tb.kc.makeApiClient(CustomObjectsApi);
const core = tb.kc.makeApiClient(CoreV1Api);
const coord = tb.kc.makeApiClient(CoordinationV1Api);

const p = tb.uniqueName('sync');
const fsName = `${p}-fleet`;
const HOOK = 'hook-secret-for-tests-0123456789abcdef';
const LEASE = { leaseDuration: '6s', renewDeadline: '4s', retryPeriod: '1s' };
let ns: string;
let repo: WorkClone;
let cacheDir: string;
let logDir: string;
const controllers: ControllerProcess[] = [];

type Obj = KubernetesObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

const versionDoc = (v: string) => versionDocFor(p, v);
const policyDoc = (v: string) => policyDocFor(p, v);
const settingsDoc = (name: string, somaxconn: string) => settingsDocFor(p, name, somaxconn);
const gpuDoc = () => `apiVersion: osfleet.dev/v1alpha1
kind: NodeSettings
metadata:
  name: ${p}-gpu
spec:
  nodeSelector:
    matchLabels:
      hardware: gpu
  priority: 10
  sysctl:
    vm.max_map_count: "1048576"
`;

const getObj = async (plural: string, name: string): Promise<Obj | undefined> => (await getOsfleetObject(tb.kc, plural, name)) as Obj | undefined;
const fleet = () => getObj('fleetsources', fsName);
const cond = (o: Obj | undefined, type: string) =>
  ((o?.status?.conditions ?? []) as Array<{ type: string; status: string; reason: string; message: string }>).find((c) => c.type === type);

async function managedRVs(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const plural of ['oses', 'osconfigs']) {
    const list = (await custom.listClusterCustomObject({ ...G, plural, labelSelector: `osfleet.dev/fleetsource=${fsName}` })) as { items: Obj[] };
    for (const i of list.items) out[`${plural}/${i.metadata!.name}`] = i.metadata!.resourceVersion!;
  }
  return out;
}

async function hook(c: ControllerProcess): Promise<number> {
  const r = await sendWebhook(c.webhookUrl(fsName), { ref: 'refs/heads/main', after: await repo.head() }, HOOK);
  return r.status;
}

async function waitApplied(commit: string, timeoutMs = 20_000): Promise<Obj> {
  return until(
    `FleetSource applied ${commit.slice(0, 8)}`,
    async () => {
      const f = await fleet();
      return f?.status?.lastAppliedRevision === `main@sha1:${commit}` && cond(f, 'Ready')?.status === 'True' ? f : undefined;
    },
    { timeoutMs, onTimeout: () => controllers.map((c) => c.logTail(15)).join('\n---\n') },
  );
}

function startController(identity: string): Promise<ControllerProcess> {
  const image = { compiled: true, nodeOptions: imageNodeFlags('controller'), env: workloadEnv('controller') };
  return startControllerProcess({ kubeconfig: tb.cluster.kubeconfig, namespace: ns, cacheDir, identity, logDir, leaseName: `${p}-lease`, ...LEASE, ...image }).then(
    (c) => {
      controllers.push(c);
      return c;
    },
  );
}

async function setGitPassword(password: string): Promise<void> {
  await core.replaceNamespacedSecret({
    name: 'git-creds',
    namespace: ns,
    // Keeps the opt-in annotation: a replace without it would take the Secret away from the FleetSource.
    body: { metadata: (await core.readNamespacedSecret({ name: 'git-creds', namespace: ns })).metadata!, stringData: { username: tb.git.auth!.username, password } },
  });
}

beforeAll(async () => {
  ns = await tb.createNamespace('osfleet');
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-sync-cache-'));
  logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-sync-logs-'));
  repo = await tb.createRepo(p);
  await repo.commitAndPush(
    { 'versions.yaml': `${versionDoc('1.0')}---\n${versionDoc('2.0')}`, 'policy.yaml': policyDoc('1.0'), 'settings/base.yaml': settingsDoc('base', '4096'), 'settings/gpu.yaml': gpuDoc() },
    'initial fleet',
  );
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'git-creds' }, stringData: { username: tb.git.auth!.username, password: tb.git.auth!.password } } });
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'hook' }, stringData: { token: HOOK } } });
  // An OSConfig osfleet does not manage: it must never be touched.
  await custom.createClusterCustomObject({
    ...G,
    plural: 'osconfigs',
    body: { apiVersion: 'osfleet.dev/v1alpha1', kind: 'OSConfig', metadata: { name: `${p}-manual` }, spec: { nodeSelector: {}, priority: 5, sysctl: {}, kernelArgs: { add: [], remove: [] } } },
  });
  await createFleetSource(tb.kc, fsName, { url: repo.url, namespace: ns, secret: 'git-creds', webhookSecret: 'hook' });
});

afterAll(async () => {
  for (const c of controllers) await c.kill9().catch(() => undefined);
  await custom.deleteClusterCustomObject({ ...G, plural: 'fleetsources', name: fsName }).catch(() => undefined);
  for (const [key] of Object.entries(await managedRVs().catch(() => ({})))) {
    const [plural, name] = key.split('/');
    await custom.deleteClusterCustomObject({ ...G, plural: plural!, name: name! }).catch(() => undefined);
  }
  await custom.deleteClusterCustomObject({ ...G, plural: 'osconfigs', name: `${p}-manual` }).catch(() => undefined);
  await repo?.remove();
  fs.rmSync(cacheDir, { recursive: true, force: true });
  if (process.env.OSFLEET_KEEP_LOGS) process.stderr.write(`controller logs kept in ${logDir}\n`);
  else fs.rmSync(logDir, { recursive: true, force: true });
});

describe('git → cluster sync', () => {
  let a: ControllerProcess;
  let manualRV: string;

  it('applies the repository on start: OS and OSConfig objects with the rendered content, labelled, inventoried', async () => {
    manualRV = (await getObj('osconfigs', `${p}-manual`))!.metadata!.resourceVersion!;
    a = await startController('a');
    const f = await waitApplied(await repo.head());
    const os1 = await getObj('oses', `${p}-workers`);
    expect((os1?.spec?.osVersion as { version: string }).version).toBe('1.0');
    expect(os1?.metadata?.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'osfleet', 'osfleet.dev/fleetsource': fsName });
    expect(((await getObj('osconfigs', `${p}-base`))?.spec?.sysctl as Record<string, string>)['net.core.somaxconn']).toBe('4096');
    expect((f.status?.inventory as Array<{ name: string }>).map((e) => e.name).sort()).toEqual([`${p}-base`, `${p}-gpu`, `${p}-workers`]);
    expect(cond(f, 'Fetched')?.reason).toBe('Succeeded');
    expect(f.status?.observedGeneration).toBe(f.metadata?.generation);
  });

  it('a push plus a webhook updates the edited object', async () => {
    const commit = await repo.commitAndPush({ 'policy.yaml': policyDoc('2.0') }, 'bump to 2.0');
    expect(await hook(a)).toBe(202);
    await waitApplied(commit, 10_000);
    expect(((await getObj('oses', `${p}-workers`))?.spec?.osVersion as { version: string }).version).toBe('2.0');
    // The hook did it, not a poll: none is due for an hour (a wall-time bound would say less, and flake on a busy machine).
    expect(await a.metric('osfleet_fleetsource_interval_seconds', { fleetsource: fsName })).toBe(3600);
    expect(await a.metric('osfleet_webhook_requests_total', { result: 'accepted' })).toBeGreaterThanOrEqual(1);
  });

  it('deleting a document prunes its object; the unlabelled object is untouched', async () => {
    const commit = await repo.commitAndPush({ 'settings/gpu.yaml': null }, 'drop gpu settings');
    expect(await hook(a)).toBe(202);
    await waitApplied(commit);
    expect(await getObj('osconfigs', `${p}-gpu`)).toBeUndefined();
    expect(await getObj('osconfigs', `${p}-base`)).toBeDefined();
    expect((await getObj('osconfigs', `${p}-manual`))?.metadata?.resourceVersion).toBe(manualRV);
  });

  it('restores a field edited by hand', async () => {
    await custom.patchClusterCustomObject(
      { ...G, plural: 'osconfigs', name: `${p}-base`, body: [{ op: 'replace', path: '/spec/priority', value: 99 }] },
    );
    await until('hand edit undone', async () => ((await getObj('osconfigs', `${p}-base`))?.spec?.priority === 0 ? true : undefined), { timeoutMs: 10_000 });
  });

  it('an invalid commit changes nothing: resourceVersions kept, Ready=False ValidationFailed with file:line:col, an Event; a fix recovers', async () => {
    const good = await repo.head();
    const before = await managedRVs();
    const bad = await repo.commitAndPush(
      { 'settings/bad.yaml': `apiVersion: osfleet.dev/v1alpha1\nkind: NodeSettings\nmetadata:\n  name: ${p}-bad\nspec:\n  nodeSelector: {}\n  priority: high\n`, 'policy.yaml': policyDoc('1.0') },
      'broken',
    );
    expect(await hook(a)).toBe(202);
    const f = await until('ValidationFailed', async () => {
      const f = await fleet();
      return cond(f, 'Ready')?.reason === 'ValidationFailed' ? f : undefined;
    });
    const ready = cond(f, 'Ready')!;
    expect(ready.status).toBe('False');
    expect(ready.message).toContain('settings/bad.yaml:7:13');
    expect(f.status?.lastAttemptedRevision).toBe(`main@sha1:${bad}`);
    expect(f.status?.lastAppliedRevision).toBe(`main@sha1:${good}`);
    expect(await managedRVs()).toEqual(before);
    const events = await until('a ValidationFailed Event', async () => {
      const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${fsName}` });
      return list.items.find((e) => e.reason === 'ValidationFailed');
    });
    expect(events.type).toBe('Warning');

    const fix = await repo.commitAndPush({ 'settings/bad.yaml': null }, 'fix');
    expect(await hook(a)).toBe(202);
    await waitApplied(fix);
    expect(((await getObj('oses', `${p}-workers`))?.spec?.osVersion as { version: string }).version).toBe('1.0');
  });

  it('wrong credentials: FetchFailed naming the Secret, nothing applied; the fixed Secret recovers', async () => {
    const before = await managedRVs();
    await setGitPassword('wrong-password');
    const commit = await repo.commitAndPush({ 'settings/base.yaml': settingsDoc('base', '1024') }, 'while creds are wrong');
    expect(await hook(a)).toBe(202);
    const f = await until('FetchFailed', async () => {
      const f = await fleet();
      return cond(f, 'Fetched')?.reason === 'FetchFailed' ? f : undefined;
    });
    expect(cond(f, 'Fetched')!.message).toBe(`authentication failed for ${repo.url}: check the Secret ${ns}/git-creds`);
    expect(cond(f, 'Ready')?.status).toBe('False');
    expect(await managedRVs()).toEqual(before);
    await setGitPassword(tb.git.auth!.password);
    await waitApplied(commit);
    expect(((await getObj('osconfigs', `${p}-base`))?.spec?.sysctl as Record<string, string>)['net.core.somaxconn']).toBe('1024');

    // The same failure again within ten minutes bumps the count of its Event instead of adding one.
    await setGitPassword('wrong-password');
    try {
      const again = await repo.commitAndPush({ 'settings/base.yaml': settingsDoc('base', '2048') }, 'creds wrong again');
      expect(await hook(a)).toBe(202);
      const fetchFailed = (e: { reason?: string; message?: string }) => e.reason === 'FetchFailed' && (e.message ?? '').startsWith('Fetched=False: authentication failed');
      const repeated = await until('the FetchFailed Event counted twice', async () => {
        const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${fsName}` });
        const same = list.items.filter(fetchFailed);
        return same.some((e) => e.count === 2) ? same : undefined;
      });
      expect(repeated).toHaveLength(1);
      expect(repeated[0]!.type).toBe('Warning');
      await setGitPassword(tb.git.auth!.password);
      await waitApplied(again);
    } finally {
      // The later tests need the right password, whatever happened above.
      await setGitPassword(tb.git.auth!.password);
    }
  });

  let b: ControllerProcess;
  it('SIGTERM releases the Lease and exits within its shutdown timeout; a restart with no new commit writes nothing', async () => {
    const rvs = await managedRVs();
    const fsRV = (await fleet())!.metadata!.resourceVersion;
    const eventCount = async () => (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${fsName}` })).items.length;
    // Exit code 0 is the graceful path: past its shutdown timeout (4.5 s) the controller exits 1
    // and logs so. The controller's own deadline, not the test's stopwatch on a busy machine.
    const { code } = await a.stop();
    expect(code).toBe(0);
    // Events are written in the background; a graceful stop lets the queued ones land first.
    expect(a.logTail(40)).not.toContain('Events still being written at shutdown');
    const events = await eventCount();
    expect(a.logTail(20)).not.toContain('graceful stop took too long');
    const lease = await coord.readNamespacedLease({ name: `${p}-lease`, namespace: ns });
    expect(lease.spec?.holderIdentity ?? '').toBe('');

    b = await startController('b');
    // A reconcile is counted when it has ended, status write included: after the first one, any
    // write it would make has been made. No sleep: the end of the reconcile is the event.
    await until('b leads and finished a reconcile', async () => ((await b.metric('osfleet_reconcile_duration_seconds_count', { fleetsource: fsName })) >= 1 ? true : undefined), {
      timeoutMs: 15_000,
    });
    expect(await b.metric('osfleet_git_fetch_duration_seconds_count', { fleetsource: fsName })).toBeGreaterThanOrEqual(1);
    expect(await b.metric('osfleet_api_writes_total')).toBe(0);
    expect(await managedRVs()).toEqual(rvs);
    expect((await fleet())!.metadata!.resourceVersion).toBe(fsRV);
    expect(await eventCount()).toBe(events);
  });

  it('two controllers: one leader; kill -9 of the leader → the other syncs the next push within lease duration + 5 s', async () => {
    const c = await startController('c');
    // c has read the Lease and seen b hold it (its first try to acquire is over): the event, no sleep.
    await until('c to observe b as the leader', async () => (/"leader":"b"[^\n]*"msg":"leader observed"/.test(c.logTail(200)) ? true : undefined), { timeoutMs: 15_000 });
    expect(await b.metric('osfleet_leader')).toBe(1);
    expect(await c.metric('osfleet_leader')).toBe(0);
    const lease = await coord.readNamespacedLease({ name: `${p}-lease`, namespace: ns });
    expect(lease.spec?.holderIdentity).toBe('b');

    await b.kill9();
    const t0 = Date.now();
    const commit = await repo.commitAndPush({ 'settings/base.yaml': settingsDoc('base', '2048') }, 'after failover');
    await hook(c); // refused work while a follower; the new leader reconciles everything on takeover
    await waitApplied(commit, 6000 + 5000);
    expect(Date.now() - t0).toBeLessThan(6000 + 5000);
    expect(await c.metric('osfleet_leader')).toBe(1);
    await c.stop();
  });
});
