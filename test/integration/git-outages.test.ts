// What the controller does when its git server misbehaves, on the real test bed (real controller
// process, real apiserver, the test bed's git server behind a loopback TCP proxy that can refuse
// connections): unreachable for several poll intervals, a branch moved backwards by a force push,
// the branch deleted.
import * as fs from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFleetSource, getOsfleetObject, git, testbed, until, type WorkClone } from '../harness/index.js';
import { settingsDoc } from './sync-fixtures.js';
import { startControllerProcess, type ControllerProcess } from '../../controller/testing/controller-process.js';

const G = { group: 'osfleet.dev', version: 'v1alpha1' };
const tb = testbed();
const custom = tb.kc.makeApiClient(CustomObjectsApi);
const core = tb.kc.makeApiClient(CoreV1Api);
const p = tb.uniqueName('outage');
const fsName = `${p}-fleet`;
const cfgName = `${p}-base`;

/** A loopback TCP proxy to the git server that can be taken down (connections refused) and up. */
class GitProxy {
  private server!: Server;
  private sockets = new Set<Socket>();
  down = false;
  port = 0;
  async start(target: URL): Promise<void> {
    this.server = createServer((client) => {
      if (this.down) {
        client.destroy();
        return;
      }
      const upstream = connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => this.sockets.delete(s));
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }
  takeDown(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
  }
  async stop(): Promise<void> {
    this.takeDown();
    await new Promise((r) => this.server.close(r));
  }
}

type Cond = { type: string; status: string; reason: string; message: string };
const fleet = () => getOsfleetObject(tb.kc, 'fleetsources', fsName);
const cond = (f: Awaited<ReturnType<typeof fleet>>, type: string) => ((f?.status?.conditions ?? []) as Cond[]).find((c) => c.type === type);
const somaxconn = async () => (await getOsfleetObject(tb.kc, 'osconfigs', cfgName))?.spec?.sysctl?.['net.core.somaxconn'] as string | undefined;

let ns: string;
let repo: WorkClone;
let proxy: GitProxy;
let ctl: ControllerProcess;
const dirs: string[] = [];

async function waitApplied(commit: string, timeoutMs = 30_000): Promise<void> {
  await until(`applied ${commit.slice(0, 8)}`, async () => ((await fleet())?.status?.lastAppliedRevision === `main@sha1:${commit}` ? true : undefined), {
    timeoutMs,
    onTimeout: () => ctl.logTail(20),
  });
}

beforeAll(async () => {
  ns = await tb.createNamespace('osfleet');
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'git' }, stringData: { username: tb.git.auth!.username, password: tb.git.auth!.password } } });
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'hook' }, stringData: { token: `hook-${p}-0123456789abcdef0123456789` } } });
  repo = await tb.createRepo(p);
  await repo.commitAndPush({ 'settings.yaml': settingsDoc(p, 'base', '1024') }, 'first');
  proxy = new GitProxy();
  await proxy.start(new URL(tb.git.url));
  const url = repo.url.replace(new URL(tb.git.url).host, `127.0.0.1:${proxy.port}`);
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-outage-cache-'));
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-outage-logs-'));
  dirs.push(cacheDir, logDir);
  // Poll every 2 s, and back off from 500 ms: several intervals pass within the test.
  await createFleetSource(tb.kc, fsName, { url, namespace: ns, secret: 'git', webhookSecret: 'hook', spec: { interval: '2s' } });
  ctl = await startControllerProcess({ kubeconfig: tb.cluster.kubeconfig, namespace: ns, cacheDir, logDir, identity: 'outage', leaseName: `${p}-lease` });
});

afterAll(async () => {
  await ctl?.kill9().catch(() => undefined);
  await custom.deleteClusterCustomObject({ ...G, plural: 'fleetsources', name: fsName }).catch(() => undefined);
  await custom.deleteClusterCustomObject({ ...G, plural: 'osconfigs', name: cfgName }).catch(() => undefined);
  await proxy?.stop();
  await repo?.remove();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('git server outages', () => {
  let first: string;

  it('git server unreachable for several intervals: the last applied revision stays, status says why, and it recovers by itself', async () => {
    first = await repo.head();
    await waitApplied(first);
    expect(await somaxconn()).toBe('1024');

    proxy.takeDown();
    const next = await repo.commitAndPush({ 'settings.yaml': settingsDoc(p, 'base', '2048') }, 'pushed while the server is unreachable');
    const failed = await until('Fetched=False while unreachable', async () => {
      const f = await fleet();
      return cond(f, 'Fetched')?.status === 'False' ? f : undefined;
    }, { timeoutMs: 20_000, onTimeout: () => ctl.logTail(20) });
    expect(cond(failed, 'Fetched')!.message).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+\/.*: (ECONNRESET|ECONNREFUSED|EPIPE)/);
    expect(cond(failed, 'Ready')).toMatchObject({ status: 'False', reason: 'FetchFailed' });
    expect(failed?.status?.lastAppliedRevision).toBe(`main@sha1:${first}`);
    expect(await somaxconn()).toBe('1024');
    // Several failed attempts (poll and back-off), each leaving the applied revision alone.
    await until('three failed fetches', async () => ((await ctl.metric('osfleet_reconcile_errors_total', { fleetsource: fsName, reason: 'FetchFailed' })) >= 3 ? true : undefined), {
      timeoutMs: 30_000,
    });
    expect((await fleet())?.status?.lastAppliedRevision).toBe(`main@sha1:${first}`);
    expect(await somaxconn()).toBe('1024');

    // Up again: no webhook, no restart; the poll picks the new commit up.
    proxy.down = false;
    await waitApplied(next, 60_000);
    expect(await somaxconn()).toBe('2048');
    expect(cond(await fleet(), 'Ready')?.status).toBe('True');
  });

  it('a force push that moves the branch back is applied as the new desired state, with an Event naming both commits', async () => {
    const before = await repo.head();
    await git(['push', '--quiet', '--force', 'origin', `${first}:refs/heads/main`], repo.dir);
    await waitApplied(first);
    expect(await somaxconn()).toBe('1024');
    const ev = await until('a RevisionApplied Event', async () => {
      const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${fsName}` });
      return list.items.find((e) => e.reason === 'RevisionApplied' && e.message?.startsWith(`applied main@sha1:${first}`));
    }, { timeoutMs: 20_000 });
    expect(ev.message).toBe(`applied main@sha1:${first}, replacing main@sha1:${before}`);
  });

  it('the branch deleted: nothing is pruned, and status names the missing branch', async () => {
    // Another branch becomes the server's HEAD (a repository's default branch cannot be deleted
    // on real hosts either), then main goes.
    await git(['push', '--quiet', 'origin', `${first}:refs/heads/keep`], repo.dir);
    await git(['symbolic-ref', 'HEAD', 'refs/heads/keep'], repo.bareDir);
    await git(['push', '--quiet', 'origin', ':refs/heads/main'], repo.dir);
    const f = await until('Fetched=False naming the branch', async () => {
      const x = await fleet();
      return cond(x, 'Fetched')?.status === 'False' ? x : undefined;
    }, { timeoutMs: 20_000, onTimeout: () => ctl.logTail(20) });
    expect(cond(f, 'Fetched')!.message).toContain('branch "main" does not exist');
    expect(f?.status?.lastAppliedRevision).toBe(`main@sha1:${first}`);
    expect(f?.status?.inventory).toEqual([{ apiVersion: 'osfleet.dev/v1alpha1', kind: 'OSConfig', name: cfgName }]);
    expect(await somaxconn()).toBe('1024');
  });
});
