// More git → cluster sync on the real test bed: the real controller process against the real
// kube-apiserver and a git smart-HTTP server of this file's own (so its request log shows every
// fetch): server-side-apply conflicts and spec.force, webhooks through the controller, suspend,
// token and bearer-token Secrets, and pruning across a controller restart.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowSecretFor, createFleetSource, createRepo, getOsfleetObject, GitServer, sendWebhook, testbed, until, type WorkClone } from '../harness/index.js';
import { policyDoc, settingsDoc, versionDoc } from './sync-fixtures.js';
import { startControllerProcess, type ControllerProcess } from '../../controller/testing/controller-process.js';

const G = { group: 'osfleet.dev', version: 'v1alpha1' };
const tb = testbed();
const custom = tb.kc.makeApiClient(CustomObjectsApi);
const core = tb.kc.makeApiClient(CoreV1Api);

const p = tb.uniqueName('sync2');
const HOOK = 'hook-secret-for-sync-more-0123456789abcdef';
const TOKEN = randomBytes(12).toString('hex');
const BEARER = randomBytes(12).toString('hex');
const LEASE = { leaseDuration: '6s', renewDeadline: '4s', retryPeriod: '1s' };

let server: GitServer;
let ns: string;
let cacheDir: string;
let logDir: string;
let ctl: ControllerProcess;
const controllers: ControllerProcess[] = [];
const scenarios: Scenario[] = [];
/** OSConfigs a test created by hand (not osfleet's), removed at the end. */
const handMade: string[] = [];
/** Cache dirs of restarted controllers, removed at the end. */
const extraDirs: string[] = [];

type Obj = KubernetesObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };
type Cond = { type: string; status: string; reason: string; message: string };

interface Scenario {
  /** Prefix of every object name, also the repository name. */
  s: string;
  fsName: string;
  repo: WorkClone;
}

/** A repository with `files` (built from the scenario prefix) and a FleetSource pointing at it. */
async function scenario(tag: string, files: (s: string) => Record<string, string>, spec: Record<string, unknown> = {}): Promise<Scenario> {
  const s = `${p}-${tag}`;
  const repo = await createRepo(server.info, s);
  await repo.commitAndPush(files(s), 'initial');
  const sc = { s, fsName: `${s}-fleet`, repo };
  scenarios.push(sc);
  await createFleetSource(tb.kc, sc.fsName, { url: repo.url, namespace: ns, secret: 'git-token', webhookSecret: 'hook', spec });
  return sc;
}

const getObj = async (plural: string, name: string): Promise<Obj | undefined> => (await getOsfleetObject(tb.kc, plural, name)) as Obj | undefined;
const fleet = (sc: Scenario) => getObj('fleetsources', sc.fsName);
const cond = (o: Obj | undefined, type: string): Cond | undefined => ((o?.status?.conditions ?? []) as Cond[]).find((c) => c.type === type);
const osVersion = async (name: string) => ((await getObj('oses', name))?.spec?.osVersion as { version?: string } | undefined)?.version;

async function patchFleetSpec(sc: Scenario, spec: Record<string, unknown>): Promise<void> {
  await custom.patchClusterCustomObject(
    { ...G, plural: 'fleetsources', name: sc.fsName, body: { spec } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

async function managedRVs(sc: Scenario): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const plural of ['oses', 'osconfigs']) {
    const list = (await custom.listClusterCustomObject({ ...G, plural, labelSelector: `osfleet.dev/fleetsource=${sc.fsName}` })) as { items: Obj[] };
    for (const i of list.items) out[`${plural}/${i.metadata!.name}`] = i.metadata!.resourceVersion!;
  }
  return out;
}

/** The git server's log of fetch traffic (ref advertisements and pack downloads) for one repository. */
function fetchRequests(sc: Scenario): string[] {
  return server.requests.filter((r) => r.includes(`/${sc.s}.git/`) && r.includes('git-upload-pack'));
}
const refAdverts = (sc: Scenario) => fetchRequests(sc).filter((r) => r.startsWith('GET ')).length;
const packDownloads = (sc: Scenario) => fetchRequests(sc).filter((r) => r.startsWith('POST ')).length;

let hookSeq = 0;
async function hook(sc: Scenario, secret = HOOK): Promise<number> {
  // A distinct body each time: the receiver refuses a replayed body.
  const r = await sendWebhook(ctl.webhookUrl(sc.fsName), { ref: 'refs/heads/main', after: await sc.repo.head(), seq: ++hookSeq }, secret);
  return r.status;
}

const logs = () => controllers.map((c) => `${c.identity}:\n${c.logTail(20)}`).join('\n---\n');

async function waitFor(sc: Scenario, what: string, test: (f: Obj) => boolean, timeoutMs = 20_000): Promise<Obj> {
  return until(
    `${sc.fsName}: ${what}`,
    async () => {
      const f = await fleet(sc);
      return f && test(f) ? f : undefined;
    },
    { timeoutMs, onTimeout: logs },
  );
}
const waitApplied = (sc: Scenario, commit: string, timeoutMs?: number) =>
  waitFor(sc, `applied ${commit.slice(0, 8)}`, (f) => f.status?.lastAppliedRevision === `main@sha1:${commit}` && cond(f, 'Ready')?.status === 'True', timeoutMs);

/** How many reconciles asked the git server for the ref (result fetched or unchanged; drift-only runs use the cache). */
async function remoteChecks(c: ControllerProcess, sc: Scenario): Promise<number> {
  const name = 'osfleet_git_fetch_duration_seconds_count';
  return (await c.metric(name, { fleetsource: sc.fsName, result: 'fetched' })) + (await c.metric(name, { fleetsource: sc.fsName, result: 'unchanged' }));
}

function startController(identity: string, dir = cacheDir): Promise<ControllerProcess> {
  return startControllerProcess({ kubeconfig: tb.cluster.kubeconfig, namespace: ns, cacheDir: dir, identity, logDir, leaseName: `${p}-lease`, ...LEASE }).then((c) => {
    controllers.push(c);
    return c;
  });
}

/**
 * Waits until the controller has no reconcile queued or running: every run that what happened
 * before asked for has ended, status writes included. No sleep: the empty queue is the event.
 */
const caughtUp = (c: ControllerProcess, sc: Scenario) =>
  // The series must be there and read 0 (an absent one would read 0 too).
  until(`no reconcile of ${sc.fsName} queued or running`, async () => ((await (await fetch(c.metricsUrl)).text()).includes(`osfleet_reconciles_pending{fleetsource="${sc.fsName}"} 0\n`) ? true : undefined), {
    timeoutMs: 30_000,
    onTimeout: () => c.logTail(20),
  });

beforeAll(async () => {
  // Like a Git host: basic auth with user "git" and an access token as password, or the bearer token.
  server = await GitServer.start({ auth: { username: 'git', password: TOKEN, bearerToken: BEARER } });
  ns = await tb.createNamespace('osfleet');
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-sync2-cache-'));
  logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-sync2-logs-'));
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'git-token' }, stringData: { token: TOKEN } } });
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'hook' }, stringData: { token: HOOK } } });
  ctl = await startController('m1');
});

afterAll(async () => {
  for (const c of controllers) await c.kill9().catch(() => undefined);
  for (const sc of scenarios) {
    await custom.deleteClusterCustomObject({ ...G, plural: 'fleetsources', name: sc.fsName }).catch(() => undefined);
    for (const key of Object.keys(await managedRVs(sc).catch(() => ({})))) {
      const [plural, name] = key.split('/');
      await custom.deleteClusterCustomObject({ ...G, plural: plural!, name: name! }).catch(() => undefined);
    }
    await sc.repo.remove();
  }
  for (const name of handMade) await custom.deleteClusterCustomObject({ ...G, plural: 'osconfigs', name }).catch(() => undefined);
  await server?.stop();
  for (const d of [cacheDir, ...extraDirs]) if (d) fs.rmSync(d, { recursive: true, force: true });
  if (process.env.OSFLEET_KEEP_LOGS) process.stderr.write(`controller logs kept in ${logDir}\n`);
  else if (logDir) fs.rmSync(logDir, { recursive: true, force: true });
});

describe('git → cluster sync, continued', () => {
  it('a token Secret (key token, no username) is sent as basic auth user "git" with the token as password', async () => {
    const sc = await scenario('tok', (s) => ({ 'versions.yaml': versionDoc(s, '1.0'), 'policy.yaml': policyDoc(s, '1.0') }));
    // The server takes basic auth only as git:<TOKEN>: applying proves what was sent.
    const f = await waitApplied(sc, await sc.repo.head());
    expect(cond(f, 'Fetched')?.reason).toBe('Succeeded');
    expect(await osVersion(`${sc.s}-workers`)).toBe('1.0');
    expect(packDownloads(sc)).toBeGreaterThanOrEqual(1);
  });

  it('a bearerToken Secret is sent as Authorization: Bearer; a wrong one is FetchFailed naming the Secret, the right one recovers', async () => {
    const secret = `${p}-bearer`;
    const setBearer = async (token: string) => {
      const { metadata } = await core.readNamespacedSecret({ name: secret, namespace: ns });
      await core.replaceNamespacedSecret({ name: secret, namespace: ns, body: { metadata: metadata!, stringData: { bearerToken: token } } });
    };
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: secret }, stringData: { bearerToken: BEARER } } });
    await allowSecretFor(tb.kc, ns, secret, `${p}-bearer-fleet`);
    const sc = await scenario('bearer', (s) => ({ 'settings.yaml': settingsDoc(s, 'base', '4096') }), { secretRef: { name: secret } });
    // BEARER is not the basic-auth password: only a Bearer header gets through.
    await waitApplied(sc, await sc.repo.head());

    const before = await managedRVs(sc);
    await setBearer('not-the-token');
    const commit = await sc.repo.commitAndPush({ 'settings.yaml': settingsDoc(sc.s, 'base', '1024') }, 'while the token is wrong');
    expect(await hook(sc)).toBe(202);
    const f = await waitFor(sc, 'FetchFailed', (f) => cond(f, 'Fetched')?.reason === 'FetchFailed');
    expect(cond(f, 'Fetched')!.message).toBe(`authentication failed for ${sc.repo.url}: check the Secret ${ns}/${secret}`);
    expect(cond(f, 'Ready')).toMatchObject({ status: 'False', reason: 'FetchFailed' });
    expect(await managedRVs(sc)).toEqual(before);

    await setBearer(BEARER); // the Secret's update is enough: no webhook
    await waitApplied(sc, commit);
    expect(((await getObj('osconfigs', `${sc.s}-base`))?.spec?.sysctl as Record<string, string>)['net.core.somaxconn']).toBe('1024');
  });

  it('webhook through the controller: bad HMAC → 401 and no fetch; a valid hook fetches; hooks during a running fetch are coalesced', async () => {
    const sc = await scenario('hook', (s) => ({ 'settings.yaml': settingsDoc(s, 'base', '4096') }));
    await waitApplied(sc, await sc.repo.head());
    const c2 = await sc.repo.commitAndPush({ 'settings.yaml': settingsDoc(sc.s, 'base', '2048') }, 'second');

    // Bad signature and no signature: refused, counted, nothing asked of the git server.
    const seen = fetchRequests(sc).length;
    const badBefore = await ctl.metric('osfleet_webhook_requests_total', { result: 'bad_signature' });
    const acceptedBefore = await ctl.metric('osfleet_webhook_requests_total', { result: 'accepted' });
    expect(await hook(sc, 'not-the-hook-secret')).toBe(401);
    const unsigned = await fetch(ctl.webhookUrl(sc.fsName), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"seq":-1}' });
    expect(unsigned.status).toBe(401);
    expect(await ctl.metric('osfleet_webhook_requests_total', { result: 'bad_signature' })).toBe(badBefore + 1);
    // A hook queues a fetch only when it is accepted (the handler triggers after the signature
    // check, before it answers): an unchanged accepted count is the proof, no waiting needed.
    expect(await ctl.metric('osfleet_webhook_requests_total', { result: 'accepted' })).toBe(acceptedBefore);
    expect(fetchRequests(sc).length).toBe(seen);
    expect((await fleet(sc))?.status?.lastFetchedRevision).not.toBe(`main@sha1:${c2}`);

    // A valid hook: a ref advertisement and a pack download, then applied.
    expect(await hook(sc)).toBe(202);
    await waitApplied(sc, c2, 10_000);
    expect(refAdverts(sc)).toBeGreaterThan(0);
    expect(packDownloads(sc)).toBeGreaterThanOrEqual(2);

    // Six hooks while the server is slow: one fetch runs, the other five become one follow-up run.
    const c3 = await sc.repo.commitAndPush({ 'settings.yaml': settingsDoc(sc.s, 'base', '8192') }, 'third');
    await caughtUp(ctl, sc); // the run that applied c2 has ended: the counters below start after it
    const adverts0 = refAdverts(sc);
    const downloads0 = packDownloads(sc);
    const checks0 = await remoteChecks(ctl, sc);
    server.setDelay(600);
    const HOOKS = 6;
    try {
      for (let i = 0; i < HOOKS; i++) expect(await hook(sc)).toBe(202);
      await waitApplied(sc, c3, 20_000);
      // Every hook was answered after its fetch was queued, so the coalesced follow-up run (one slow
      // ref advertisement) is queued or running until the queue is empty.
      await caughtUp(ctl, sc);
    } finally {
      server.setDelay(0);
    }
    const checks = (await remoteChecks(ctl, sc)) - checks0;
    const adverts = refAdverts(sc) - adverts0;
    expect(checks).toBeGreaterThanOrEqual(1);
    expect(checks).toBeLessThanOrEqual(2);
    // Reconcile 1: advertisement + fetch (its own advertisement, one download); reconcile 2: advertisement only.
    expect(adverts).toBeLessThanOrEqual(3);
    expect(adverts).toBeLessThan(HOOKS);
    expect(packDownloads(sc) - downloads0).toBe(1);
  });

  it('spec.suspend: no fetch by poll or webhook, Ready=False reason Suspended; un-suspending fetches and applies', async () => {
    const sc = await scenario('susp', (s) => ({ 'settings.yaml': settingsDoc(s, 'base', '4096') }), { interval: '2s' });
    const c1 = await sc.repo.head();
    await waitApplied(sc, c1);
    const nextPoll = () => ctl.metric('osfleet_fleetsource_next_reconcile_timestamp_seconds', { fleetsource: sc.fsName });
    await until('a poll scheduled while not suspended', async () => ((await nextPoll()) > 0 ? true : undefined));
    await patchFleetSpec(sc, { suspend: true });
    const f = await waitFor(sc, 'Suspended', (f) => cond(f, 'Ready')?.reason === 'Suspended');
    expect(cond(f, 'Ready')).toMatchObject({ status: 'False', message: `spec.suspend is true: not fetching or applying; main@sha1:${c1} stays applied` });
    expect(f.status?.observedGeneration).toBe(f.metadata?.generation);
    const ev = await until('a Suspended Event', async () => {
      const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${sc.fsName}` });
      return list.items.find((e) => e.reason === 'Suspended');
    });
    expect(ev.type).toBe('Normal');
    await caughtUp(ctl, sc); // the suspended run has ended

    const seen = fetchRequests(sc).length;
    const rvs = await managedRVs(sc);
    const c2 = await sc.repo.commitAndPush({ 'settings.yaml': settingsDoc(sc.s, 'base', '512') }, 'while suspended');
    expect(await hook(sc)).toBe(200); // authentic, but suspended: nothing is queued
    // Nothing can fetch any more: the suspended run cleared the 2 s poll timer (none scheduled),
    // and nothing is queued or running, the hook included (it answers after deciding).
    expect(await nextPoll()).toBe(0);
    expect(await ctl.metric('osfleet_reconciles_pending', { fleetsource: sc.fsName })).toBe(0);
    expect(fetchRequests(sc).length).toBe(seen);
    expect(await managedRVs(sc)).toEqual(rvs);
    const still = await fleet(sc);
    expect(still?.status?.lastFetchedRevision).toBe(`main@sha1:${c1}`);
    expect(cond(still, 'Ready')?.reason).toBe('Suspended');

    await patchFleetSpec(sc, { suspend: false, interval: '1h' });
    await waitApplied(sc, c2);
    expect(fetchRequests(sc).length).toBeGreaterThan(seen);
    expect(((await getObj('osconfigs', `${sc.s}-base`))?.spec?.sysctl as Record<string, string>)['net.core.somaxconn']).toBe('512');
  });

  it('a server-side-apply conflict with another field manager is a Conflict condition naming field and manager; spec.force takes ownership', async () => {
    const sc = await scenario('conflict', (s) => ({ 'versions.yaml': `${versionDoc(s, '1.0')}---\n${versionDoc(s, '2.0')}`, 'policy.yaml': policyDoc(s, '1.0') }));
    const c1 = await sc.repo.head();
    await waitApplied(sc, c1);
    const osName = `${sc.s}-workers`;

    // Another declarative owner applies the same value: shared ownership of .spec.osVersion.version.
    const theirs = { apiVersion: 'osfleet.dev/v1alpha1', kind: 'OS', metadata: { name: osName }, spec: { osVersion: { version: '1.0' } } };
    await tb.kubectl(['apply', '--server-side', '--field-manager=ops-team', '-f', '-'], { input: JSON.stringify(theirs) });
    const ownsVersion = (o: Obj | undefined) =>
      JSON.stringify((o?.metadata?.managedFields ?? []).find((m) => m.manager === 'ops-team')?.fieldsV1 ?? {}).includes('"f:version"');
    expect(ownsVersion(await getObj('oses', osName))).toBe(true);

    const c2 = await sc.repo.commitAndPush({ 'policy.yaml': policyDoc(sc.s, '2.0') }, 'bump to 2.0');
    expect(await hook(sc)).toBe(202);
    const f = await waitFor(sc, 'Applied=False Conflict', (f) => cond(f, 'Applied')?.reason === 'Conflict' && f.status?.lastAttemptedRevision === `main@sha1:${c2}`);
    for (const type of ['Applied', 'Ready']) {
      const c = cond(f, type)!;
      expect(c.status).toBe('False');
      expect(c.reason).toBe('Conflict');
      expect(c.message).toContain(`OS/${osName}: field .spec.osVersion.version owned by "ops-team"`);
      expect(c.message).toContain('spec.force: true');
    }
    expect(f.status?.lastAppliedRevision).toBe(`main@sha1:${c1}`);
    // Nothing forced: the other manager's value and ownership stand.
    const live = await getObj('oses', osName);
    expect((live?.spec?.osVersion as { version: string; name: string }).version).toBe('1.0');
    expect(ownsVersion(live)).toBe(true);
    const ev = await until('a Conflict Event', async () => {
      const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${sc.fsName}` });
      return list.items.find((e) => e.reason === 'Conflict');
    });
    expect(ev.type).toBe('Warning');

    await patchFleetSpec(sc, { force: true });
    await waitApplied(sc, c2);
    const forced = await getObj('oses', osName);
    expect((forced?.spec?.osVersion as { version: string }).version).toBe('2.0');
    expect(ownsVersion(forced)).toBe(false);
    expect(cond(await fleet(sc), 'Applied')?.reason).toBe('Succeeded');
  });

  it('a webhook that reaches the replica which does not lead is handed to the leader, which applies the push', async () => {
    const sc = await scenario('follower', (s) => ({ 'base.yaml': settingsDoc(s, 'base', '1024') }));
    await waitApplied(sc, await sc.repo.head());
    // A second replica on the same Lease: it serves webhooks but does not lead.
    const follower = await startController('f1', fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-sync2-cache-')));
    expect(await follower.metric('osfleet_leader')).toBe(0);
    const c2 = await sc.repo.commitAndPush({ 'base.yaml': settingsDoc(sc.s, 'base', '2048') }, 'more connections');
    const r = await sendWebhook(follower.webhookUrl(sc.fsName), { ref: 'refs/heads/main', after: c2, seq: ++hookSeq }, HOOK);
    expect(r.status).toBe(202);
    expect(r.body).toContain('requested from the leading replica');
    await waitApplied(sc, c2, 10_000); // the FleetSource polls hourly: only the handed-on hook explains this
    expect(((await getObj('osconfigs', `${sc.s}-base`))?.spec?.sysctl as Record<string, string>)['net.core.somaxconn']).toBe('2048');
    expect(await follower.metric('osfleet_git_fetch_duration_seconds_count', { fleetsource: sc.fsName })).toBe(0);
    await follower.stop();
  });

  it('never takes over an existing object it did not create: Conflict naming it, the object untouched, the rest applied', async () => {
    const s = `${p}-adopt`;
    // Someone created an OSConfig by hand under the name a document of the repository renders to.
    const theirs = { apiVersion: 'osfleet.dev/v1alpha1', kind: 'OSConfig', metadata: { name: `${s}-base` }, spec: { nodeSelector: {}, priority: 5, sysctl: { 'vm.swappiness': '1' }, kernelArgs: { add: [], remove: [] } } };
    await custom.createClusterCustomObject({ ...G, plural: 'osconfigs', body: theirs });
    handMade.push(`${s}-base`);
    const before = await getObj('osconfigs', `${s}-base`);

    const sc = await scenario('adopt', (x) => ({ 'base.yaml': settingsDoc(x, 'base', '4096'), 'versions.yaml': versionDoc(x, '1.0'), 'policy.yaml': policyDoc(x, '1.0') }));
    const head = await sc.repo.head();
    const f = await waitFor(sc, 'Applied=False Conflict', (o) => cond(o, 'Applied')?.reason === 'Conflict' && o.status?.lastAttemptedRevision === `main@sha1:${head}`);
    expect(cond(f, 'Ready')).toMatchObject({ status: 'False', reason: 'Conflict' });
    expect(cond(f, 'Applied')!.message).toContain(`OSConfig/${s}-base already exists and is not managed by osfleet`);
    // The hand-made object: same resourceVersion, no osfleet labels, its own spec.
    const after = await getObj('osconfigs', `${s}-base`);
    expect(after?.metadata?.resourceVersion).toBe(before?.metadata?.resourceVersion);
    expect(after?.metadata?.labels ?? {}).toEqual({});
    expect(after?.spec?.priority).toBe(5);
    // The other objects are applied, and the one osfleet did not create is not in its inventory.
    expect(await osVersion(`${s}-workers`)).toBe('1.0');
    expect((f.status?.inventory as Array<{ name: string }>).map((e) => e.name)).toEqual([`${s}-workers`]);
    // Metrics say the same: one object written, a Conflict counted, no revision applied.
    expect(await ctl.metric('osfleet_objects_applied_total', { fleetsource: sc.fsName })).toBe(1);
    expect(await ctl.metric('osfleet_reconcile_errors_total', { fleetsource: sc.fsName, reason: 'Conflict' })).toBeGreaterThanOrEqual(1);
    expect(await ctl.metric('osfleet_applied_revision_info', { fleetsource: sc.fsName })).toBe(0);
  });

  it('after a controller restart, objects of the previous process inventory are pruned when the next revision drops them', async () => {
    const sc = await scenario('prune', (s) => ({ 'keep.yaml': settingsDoc(s, 'keep', '4096'), 'drop.yaml': settingsDoc(s, 'drop', '4096') }));
    const f1 = await waitApplied(sc, await sc.repo.head());
    expect((f1.status?.inventory as Array<{ name: string }>).map((e) => e.name).sort()).toEqual([`${sc.s}-drop`, `${sc.s}-keep`]);
    const keepRV = (await getObj('osconfigs', `${sc.s}-keep`))!.metadata!.resourceVersion;

    const { code } = await ctl.stop();
    expect(code).toBe(0);
    const c2 = await sc.repo.commitAndPush({ 'drop.yaml': null }, 'drop one');
    // A fresh cache dir: only the inventory in the FleetSource's status remembers what was applied.
    const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-sync2-cache-'));
    extraDirs.push(fresh);
    ctl = await startController('m2', fresh);
    // No webhook: the new leader reconciles every FleetSource when it takes over.
    const f2 = await waitApplied(sc, c2, 30_000);
    expect(await getObj('osconfigs', `${sc.s}-drop`)).toBeUndefined();
    expect((await getObj('osconfigs', `${sc.s}-keep`))?.metadata?.resourceVersion).toBe(keepRV);
    expect((f2.status?.inventory as Array<{ name: string }>).map((e) => e.name)).toEqual([`${sc.s}-keep`]);
    expect(await ctl.metric('osfleet_objects_pruned_total', { fleetsource: sc.fsName })).toBe(1);
    // The info metric names exactly the applied revision.
    expect(await ctl.metric('osfleet_applied_revision_info', { fleetsource: sc.fsName, revision: `main@sha1:${c2}` })).toBe(1);
    expect(await ctl.metric('osfleet_applied_revision_info', { fleetsource: sc.fsName })).toBe(1);
  });
});
