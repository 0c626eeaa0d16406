// PooledKubeConfig: the client library's API calls and watches share one connection pool, instead of
// a new TLS connection per request (client-node 2 builds a new undici Agent for each).
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCA, issue } from '../test/harness/certs.js';
import { PooledKubeConfig } from './kube-config.js';
import { cleanupTempDirs, tempDir } from './testing/sandbox.js';

describe('PooledKubeConfig', () => {
  let server: https.Server;
  let ca = '';
  let url = '';
  let connections = 0;

  beforeAll(async () => {
    const dir = tempDir();
    const authority = await createCA(dir);
    const leaf = await issue(authority, dir, 'apiserver', { cn: '127.0.0.1', serverIPs: ['127.0.0.1'] });
    ca = readFileSync(authority.cert, 'utf8');
    server = https.createServer({ key: readFileSync(leaf.key), cert: readFileSync(leaf.cert), keepAliveTimeout: 30_000 }, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'NamespaceList', apiVersion: 'v1', metadata: {}, items: [] }));
    });
    server.on('secureConnection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => {
    server?.closeAllConnections();
    server?.close();
    cleanupTempDirs();
  });

  const load = (kc: KubeConfig) =>
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: url, caData: Buffer.from(ca).toString('base64'), skipTLSVerify: false }],
      users: [{ name: 'u', token: 'secret' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });

  async function tlsConnectionsFor(kc: KubeConfig, requests: number): Promise<number> {
    load(kc);
    const api = kc.makeApiClient(CoreV1Api);
    const before = connections;
    for (let i = 0; i < requests; i++) expect((await api.listNamespace()).items).toEqual([]);
    return connections - before;
  }

  it('sends sequential requests over a pool of kept-alive TLS connections', async () => {
    const kc = new PooledKubeConfig();
    // undici may open a second connection while the first response is being finished; never more.
    expect(await tlsConnectionsFor(kc, 10)).toBeLessThanOrEqual(2);
    await kc.closePool();
  });

  it('(the library alone opens one per request, which is what it fixes)', async () => {
    expect(await tlsConnectionsFor(new KubeConfig(), 10)).toBe(10);
  });
});
