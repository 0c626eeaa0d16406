// A half-open watch on the real apiserver: a TCP proxy between the cache and the apiserver stops
// forwarding an established watch without closing it (as a dead NAT entry or a vanished peer
// would). The cache must notice within its idle timeout and resume, so a change made meanwhile
// reaches it; without the idle timer it stays stale until TCP gives up.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../controller/kube/client.js';
import { WatchCache, type CachedObject } from '../../controller/kube/watch-cache.js';
import { testbed, until } from '../harness/index.js';

const tb = testbed();
const core = tb.kc.makeApiClient(CoreV1Api);

/** Forwards TCP to the apiserver; blackhole() freezes every connection open so far, both ways. */
class BlackholeProxy {
  private readonly pairs: Array<[Socket, Socket]> = [];
  private readonly frozen: Array<[Socket, Socket]> = [];
  private server!: Server;
  port = 0;
  async start(target: URL): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      client.pipe(upstream);
      upstream.pipe(client);
      const quiet = () => undefined;
      client.on('error', quiet);
      upstream.on('error', quiet);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      this.pairs.push([client, upstream]);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }
  /** Established connections stay open but carry nothing more, in either direction. */
  blackhole(): number {
    for (const [a, b] of this.pairs) {
      a.unpipe(b);
      b.unpipe(a);
      a.pause();
      b.pause();
    }
    const n = this.pairs.length;
    this.frozen.push(...this.pairs.splice(0));
    return n;
  }
  async stop(): Promise<void> {
    for (const [a, b] of [...this.pairs, ...this.frozen]) {
      a.destroy();
      b.destroy();
    }
    await new Promise((r) => this.server.close(r));
  }
}

let proxy: BlackholeProxy;
let ns: string;
let cache: WatchCache<CachedObject>;

beforeAll(async () => {
  ns = await tb.createNamespace('stale');
  proxy = new BlackholeProxy();
  const server = new URL(tb.cluster.server);
  await proxy.start(server);
  const admin = tb.kc;
  const viaProxy = new KubeConfig();
  viaProxy.loadFromOptions({
    clusters: admin.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${proxy.port}` })),
    users: admin.users,
    contexts: admin.contexts,
    currentContext: admin.getCurrentContext(),
  });
  cache = new WatchCache<CachedObject>({
    kubeConfig: viaProxy,
    client: new KubeClient(viaProxy),
    path: `/api/v1/namespaces/${ns}/configmaps`,
    logger: pino({ level: 'silent' }),
    name: 'stale-test',
    idleTimeoutMs: 2000,
  });
  await cache.start();
});

afterAll(async () => {
  cache?.stop();
  await proxy?.stop();
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

describe('a watch that goes half-open', () => {
  it('is replaced within the idle timeout, and a change made meanwhile reaches the cache', async () => {
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'before' }, data: { a: '1' } } });
    await until('the cache sees a change through the live watch', async () => (cache.get('before', ns) ? true : undefined), { timeoutMs: 10_000 });
    const restartsBefore = cache.idleRestarts;

    expect(proxy.blackhole()).toBeGreaterThan(0);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'during' }, data: { a: '2' } } });
    // Idle timeout 2 s, then a fresh watch from the last resourceVersion replays what was missed.
    await until('the cache sees the change made while its watch was blackholed', async () => (cache.get('during', ns) ? true : undefined), { timeoutMs: 20_000 });
    expect(cache.idleRestarts).toBeGreaterThan(restartsBefore);
  });
});
