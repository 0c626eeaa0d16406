// Two replicas electing a leader on the real apiserver; one reaches it through a TCP proxy that
// stops forwarding mid-lease (connections stay open, nothing passes: a renewal hangs). The cut-off
// leader must stop leading by its renew deadline, before the other may take the Lease: the two
// leading intervals never overlap. onStartedLeading/onStoppedLeading are what start and stop the
// rollout executor in controller/main.ts.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { LeaderElector } from '../../controller/leader-election.js';
import { testbed, until } from '../harness/index.js';

const tb = testbed();
const NS = 'default';

class FreezingProxy {
  private readonly pairs: Array<[Socket, Socket]> = [];
  private frozen = false;
  private server!: Server;
  port = 0;
  async start(target: URL): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      this.pairs.push([client, upstream]);
      const quiet = () => undefined;
      client.on('error', quiet);
      upstream.on('error', quiet);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      // New connections while frozen are accepted and then starved too.
      if (this.frozen) return;
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }
  freeze(): void {
    this.frozen = true;
    for (const [a, b] of this.pairs) {
      a.unpipe(b);
      b.unpipe(a);
      a.pause();
      b.pause();
    }
  }
  async stop(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise((r) => this.server.close(r));
  }
}

interface Interval {
  who: string;
  start: number;
  end?: number;
}
const intervals: Interval[] = [];
const electors: LeaderElector[] = [];
let proxy: FreezingProxy | undefined;

function elector(kc: KubeConfig, lease: string, who: string): LeaderElector {
  const e = new LeaderElector({
    kc,
    namespace: NS,
    name: lease,
    identity: who,
    leaseDurationMs: 6000,
    renewDeadlineMs: 4000,
    retryPeriodMs: 1000,
    logger: pino({ level: 'silent' }),
    onStartedLeading: () => intervals.push({ who, start: performance.now() }),
    onStoppedLeading: () => {
      const open = intervals.find((i) => i.who === who && i.end === undefined);
      if (open) open.end = performance.now();
    },
  });
  electors.push(e);
  return e;
}

afterAll(async () => {
  await Promise.all(electors.map((e) => Promise.race([e.stop(), new Promise((r) => setTimeout(r, 3000))])));
  await proxy?.stop();
});

describe('leader election with a renewal that hangs', () => {
  it('stops leading by the renew deadline, before the other replica takes over: never two leaders', async () => {
    const lease = tb.uniqueName('deadline');
    proxy = new FreezingProxy();
    await proxy.start(new URL(tb.cluster.server));
    const admin = tb.kc;
    const viaProxy = new KubeConfig();
    viaProxy.loadFromOptions({
      clusters: admin.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${proxy!.port}` })),
      users: admin.users,
      contexts: admin.contexts,
      currentContext: admin.getCurrentContext(),
    });
    const a = elector(viaProxy, lease, 'a');
    a.start();
    await until('a leads', async () => (a.isLeader ? true : undefined), { timeoutMs: 15_000, intervalMs: 50 });
    const b = elector(admin, lease, 'b');
    b.start();

    proxy.freeze();
    const frozenAt = performance.now();
    await until('b takes over', async () => (b.isLeader ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 });

    const ia = intervals.find((i) => i.who === 'a')!;
    const ib = intervals.find((i) => i.who === 'b')!;
    expect(ia.end, 'a still leads while b leads').toBeDefined();
    expect(ia.end!).toBeLessThan(ib.start);
    expect(ia.end!).toBeGreaterThan(frozenAt);
  });
});
