// Proves the integration ground is real: the apiserver enforces CRD schemas and
// RBAC, the controller manager runs the disruption and garbage-collector
// controllers, TokenRequest binds tokens to pods on nodes, the git server
// speaks smart HTTP with authentication, and the harness leaves nothing behind.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PolicyV1Api,
  RbacAuthorizationV1Api,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../harness/binaries.js';
import { Cluster, yamlFiles } from '../harness/cluster.js';
import {
  apiMessage,
  apiStatus,
  deletePodNow,
  kubeRequest,
  pidAlive,
  rssKiB,
  sendWebhook,
  testbed,
  until,
} from '../harness/index.js';

const tb = testbed();
const core = tb.kc.makeApiClient(CoreV1Api);

async function rejection(p: Promise<unknown>): Promise<{ status: number | undefined; message: string }> {
  try {
    await p;
  } catch (err) {
    return { status: apiStatus(err), message: apiMessage(err) };
  }
  throw new Error('expected the API call to be rejected, but it succeeded');
}

describe('the shared control plane', () => {
  it('runs etcd, kube-apiserver and kube-controller-manager as live processes (figures logged)', () => {
    const pids = tb.cluster.pids;
    const rss = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, rssKiB(pid)]));
    for (const pid of Object.values(pids)) expect(pidAlive(pid)).toBe(true);
    const totalMiB = Math.round(Object.values(rss).reduce((a: number, b) => a + (b ?? 0), 0) / 1024);
    console.log(`testbed figures: start timings ms ${JSON.stringify(tb.info.timings)}; RSS KiB ${JSON.stringify(rss)}; total ${totalMiB} MiB`);
  });

  it('serves the pinned Kubernetes version, not v0.0.0-master', async () => {
    const out = await tb.kubectl(['version', '-o', 'json']);
    const v = JSON.parse(out) as { clientVersion: { gitVersion: string }; serverVersion: { gitVersion: string } };
    const pinned = /k8s\.io\/kubernetes\s+(v[\d.]+)/.exec(readFileSync(join(repoRoot, 'hack/k8s-bin/go.mod'), 'utf8'))![1];
    expect(v.serverVersion.gitVersion).toBe(pinned);
    expect(v.clientVersion.gitVersion).toBe(pinned);
  });
});

describe('CustomResourceDefinitions', () => {
  const extApi = tb.kc.makeApiClient(ApiextensionsV1Api);
  const custom = tb.kc.makeApiClient(CustomObjectsApi);

  async function repoCrds(): Promise<V1CustomResourceDefinition[]> {
    const out: V1CustomResourceDefinition[] = [];
    for (const f of await yamlFiles(join(repoRoot, 'crds'))) {
      for (const d of parseAllDocuments(readFileSync(f, 'utf8'))) {
        const o = d.toJS() as V1CustomResourceDefinition | null;
        if (o?.kind === 'CustomResourceDefinition') out.push(o);
      }
    }
    return out;
  }

  it('installs every crds/*.yaml and each is Established with its names accepted', async () => {
    const wanted = await repoCrds();
    expect([...tb.cluster.crds].sort()).toEqual(wanted.map((c) => c.metadata!.name!).sort());
    for (const crd of wanted) {
      const got = await extApi.readCustomResourceDefinition({ name: crd.metadata!.name! });
      const cond = (t: string) => got.status?.conditions?.find((c) => c.type === t)?.status;
      expect(cond('Established'), crd.metadata!.name).toBe('True');
      expect(cond('NamesAccepted'), crd.metadata!.name).toBe('True');
      expect(got.status?.acceptedNames?.kind).toBe(crd.spec.names.kind);
      // The stored schemas are the committed ones, keys like enum and x-kubernetes-* included.
      const stored = (await kubeRequest(tb.kc, 'GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata!.name}`)).json<V1CustomResourceDefinition>();
      expect(stored.spec.versions.map((v) => v.schema)).toEqual(crd.spec.versions.map((v) => v.schema));
    }
  });

  it('rejects an object whose spec is not an object for every repo CRD with a structural spec', async () => {
    const withSpec = (await repoCrds()).filter((crd) => {
      const v = crd.spec.versions.find((x) => x.storage) ?? crd.spec.versions[0];
      return v?.schema?.openAPIV3Schema?.properties?.['spec']?.type === 'object';
    });
    // Every osfleet kind has a spec object; an empty list means the CRDs are not there yet.
    if ((await repoCrds()).length > 0) expect(withSpec.length).toBeGreaterThan(0);
    for (const crd of withSpec) {
      const version = crd.spec.versions.find((v) => v.storage) ?? crd.spec.versions[0]!;
      const body = {
        apiVersion: `${crd.spec.group}/${version.name}`,
        kind: crd.spec.names.kind,
        metadata: { name: tb.uniqueName('invalid') },
        spec: 42,
      };
      const base = { group: crd.spec.group, version: version.name, plural: crd.spec.names.plural, body };
      const r = await rejection(
        crd.spec.scope === 'Cluster'
          ? custom.createClusterCustomObject(base)
          : custom.createNamespacedCustomObject({ ...base, namespace: 'default' }),
      );
      expect(r.status, crd.metadata!.name).toBe(422);
      expect(r.message).toContain('spec: Invalid value: "integer": spec in body must be of type object');
    }
  });

  describe('with a CRD made here', () => {
    const plural = `widgets${tb.uniqueName('x').replace(/-/g, '')}`;
    const group = 'testbed.osfleet.dev';
    const name = `${plural}.${group}`;

    afterAll(async () => {
      await extApi.deleteCustomResourceDefinition({ name }).catch(() => undefined);
    });

    it("rejects an object violating the schema with the apiserver's message, and accepts a valid one", async () => {
      await extApi.createCustomResourceDefinition({
        body: {
          metadata: { name },
          spec: {
            group,
            scope: 'Cluster',
            names: { plural, singular: plural.slice(0, -1), kind: 'Widget', listKind: 'WidgetList' },
            versions: [
              {
                name: 'v1',
                served: true,
                storage: true,
                schema: {
                  openAPIV3Schema: {
                    type: 'object',
                    properties: {
                      spec: {
                        type: 'object',
                        required: ['replicas'],
                        properties: {
                          replicas: { type: 'integer', minimum: 1 },
                          mode: { type: 'string', _enum: ['A', 'B'] },
                        },
                      },
                    },
                  },
                },
              },
            ],
          },
        },
      });
      await until('Widget CRD Established', async () => {
        const got = await extApi.readCustomResourceDefinition({ name });
        return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') || undefined;
      });
      const create = (spec: unknown) =>
        custom.createClusterCustomObject({
          group,
          version: 'v1',
          plural,
          body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: tb.uniqueName('w') }, spec },
        });

      const bad = await rejection(create({ replicas: 'three', mode: 'C' }));
      expect(bad.status).toBe(422);
      expect(bad.message).toContain('spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer');
      expect(bad.message).toContain('spec.mode: Unsupported value: "C": supported values: "A", "B"');

      const missing = await rejection(create({ mode: 'A' }));
      expect(missing.status).toBe(422);
      expect(missing.message).toContain('spec.replicas: Required value');

      const ok = (await create({ replicas: 2, mode: 'A' })) as { spec: { replicas: number } };
      expect(ok.spec.replicas).toBe(2);
    });
  });
});

describe('PodDisruptionBudget and the Eviction API', () => {
  it('refuses an eviction that would break minAvailable (429) and allows it once one more pod is ready', async () => {
    const ns = await tb.createNamespace('pdb');
    const node = tb.uniqueName('pdb-node');
    await tb.createNode(node);
    const labels = { app: 'guarded' };
    try {
      for (const name of ['p0', 'p1']) await tb.createPodOnNode({ namespace: ns, name, node, labels });
      const policy = tb.kc.makeApiClient(PolicyV1Api);
      await policy.createNamespacedPodDisruptionBudget({
        namespace: ns,
        body: { metadata: { name: 'guard' }, spec: { minAvailable: 2, selector: { matchLabels: labels } } },
      });
      const observed = (healthy: number, allowed: number) =>
        until(`PDB observed with ${healthy} healthy, ${allowed} allowed`, async () => {
          const pdb = await policy.readNamespacedPodDisruptionBudget({ namespace: ns, name: 'guard' });
          const s = pdb.status;
          return s?.observedGeneration === pdb.metadata?.generation &&
            s?.currentHealthy === healthy &&
            s?.disruptionsAllowed === allowed
            ? pdb
            : undefined;
        });
      await observed(2, 0);

      const evict = (name: string) =>
        core.createNamespacedPodEviction({
          namespace: ns,
          name,
          body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: ns } },
        });
      const refused = await rejection(evict('p0'));
      expect(refused.status).toBe(429);
      expect(refused.message).toContain("Cannot evict pod as it would violate the pod's disruption budget");
      expect((await core.readNamespacedPod({ namespace: ns, name: 'p0' })).metadata?.deletionTimestamp).toBeUndefined();

      await tb.createPodOnNode({ namespace: ns, name: 'p2', node, labels });
      await observed(3, 1);
      await evict('p0');
      const p0 = await core.readNamespacedPod({ namespace: ns, name: 'p0' }).catch(() => undefined);
      // Evicted: deleted outright or (no kubelet to finish) terminating.
      expect(p0 === undefined || p0.metadata?.deletionTimestamp !== undefined).toBe(true);
    } finally {
      for (const p of ['p0', 'p1', 'p2']) await deletePodNow(tb.kc, ns, p);
      await core.deleteNamespace({ name: ns });
      await core.deleteNode({ name: node });
    }
  });
});

describe('garbage collection', () => {
  it('deletes an object owned by a Node once the Node is deleted, and keeps one that is not', async () => {
    const ns = await tb.createNamespace('gc');
    const nodeName = tb.uniqueName('gc-node');
    const node = await tb.createNode(nodeName);
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: 'owned',
          ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: node.metadata!.uid! }],
        },
        data: { k: 'v' },
      },
    });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'bystander' } } });

    await core.deleteNode({ name: nodeName });
    await until('owned ConfigMap garbage-collected', async () => {
      const r = await rejection(core.readNamespacedConfigMap({ namespace: ns, name: 'owned' })).catch(() => undefined);
      return r?.status === 404 ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    const bystander = await core.readNamespacedConfigMap({ namespace: ns, name: 'bystander' });
    expect(bystander.metadata?.deletionTimestamp).toBeUndefined();
    await core.deleteNamespace({ name: ns });
  });
});

describe('authentication and authorization', () => {
  it('denies a certificate user without RBAC rights, and allows it once bound to a role', async () => {
    const user = tb.uniqueName('nobody');
    const id = await tb.mintUser(user, ['testbed:people']);
    const asUser = id.kc.makeApiClient(CoreV1Api);

    const review = await id.kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe(user);
    expect(review.status?.userInfo?.groups).toEqual(expect.arrayContaining(['testbed:people', 'system:authenticated']));

    const denied = await rejection(asUser.listNode());
    expect(denied.status).toBe(403);
    expect(denied.message).toContain(`User "${user}" cannot list resource "nodes" in API group "" at the cluster scope`);

    const rbac = tb.kc.makeApiClient(RbacAuthorizationV1Api);
    const binding = tb.uniqueName('testbed-view-nodes');
    await rbac.createClusterRole({
      body: { metadata: { name: binding }, rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['list'] }] },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: binding },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: binding },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
      },
    });
    try {
      const list = await until('RBAC grant takes effect', () => asUser.listNode().catch(() => undefined));
      expect(Array.isArray(list.items)).toBe(true);
      // kubectl with the minted kubeconfig sees the same decision.
      const canList = await tb.kubectl(['auth', 'can-i', 'list', 'nodes'], { kubeconfig: id.kubeconfig });
      expect(canList.trim()).toBe('yes');
      const canDelete = await tb.kubectl(['auth', 'can-i', 'delete', 'nodes'], { kubeconfig: id.kubeconfig, allowFailure: true });
      expect(canDelete.trim()).toBe('no');
    } finally {
      await rbac.deleteClusterRoleBinding({ name: binding });
      await rbac.deleteClusterRole({ name: binding });
    }
  });

  it('gives a ServiceAccount token bound to a pod on a node the node name in its user info', async () => {
    const ns = await tb.createNamespace('sa');
    const nodeName = tb.uniqueName('n1');
    const node = await tb.createNode(nodeName);
    const pod = await tb.createPodOnNode({ namespace: ns, name: 'agent', node: nodeName, serviceAccountName: 'agent' });
    try {
      const token = await tb.serviceAccountTokenForPod(ns, 'agent', 'agent');
      const id = await tb.tokenIdentity('agent', token);
      const review = await id.kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
      const u = review.status?.userInfo;
      expect(u?.username).toBe(`system:serviceaccount:${ns}:agent`);
      expect(u?.extra?.['authentication.kubernetes.io/node-name']).toEqual([nodeName]);
      expect(u?.extra?.['authentication.kubernetes.io/node-uid']).toEqual([node.metadata!.uid]);
      expect(u?.extra?.['authentication.kubernetes.io/pod-name']).toEqual(['agent']);
      expect(u?.extra?.['authentication.kubernetes.io/pod-uid']).toEqual([pod.metadata!.uid]);

      // The token is bound to the pod: once the pod is gone, it is refused (after the
      // apiserver's ~10 s token authentication cache expires, hence the long test).
      await deletePodNow(tb.kc, ns, 'agent');
      const gone = await until('bound token invalidated', async () => {
        const r = await rejection(id.kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} })).catch(
          () => undefined,
        );
        return r?.status === 401 ? r : undefined;
      });
      expect(gone.status).toBe(401);
    } finally {
      await deletePodNow(tb.kc, ns, 'agent');
      await core.deleteNamespace({ name: ns });
      await core.deleteNode({ name: nodeName });
    }
  });
});

describe('git smart-HTTP server', () => {
  const auth = tb.git.auth!;

  it('lets isomorphic-git clone and fetch with the right credentials', async () => {
    const repo = await tb.createRepo(tb.uniqueName('fleet'));
    const dir = await mkdtemp(join(tmpdir(), 'osfleet-isogit-'));
    try {
      const first = await repo.commitAndPush({ 'pins/os.yaml': 'version: 1.0.0\n' }, 'first');
      const onAuth = () => ({ username: auth.username, password: auth.password });
      await git.clone({ fs, http, dir, url: repo.url, ref: 'main', singleBranch: true, depth: 1, noTags: true, onAuth });
      expect(await git.resolveRef({ fs, dir, ref: 'HEAD' })).toBe(first);
      expect(readFileSync(join(dir, 'pins/os.yaml'), 'utf8')).toBe('version: 1.0.0\n');

      const second = await repo.commitAndPush({ 'pins/os.yaml': 'version: 1.1.0\n' }, 'second');
      const fetched = await git.fetch({ fs, http, dir, url: repo.url, ref: 'main', singleBranch: true, depth: 1, onAuth });
      expect(fetched.fetchHead).toBe(second);
      const { blob } = await git.readBlob({ fs, dir, oid: fetched.fetchHead!, filepath: 'pins/os.yaml' });
      expect(Buffer.from(blob).toString('utf8')).toBe('version: 1.1.0\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
      await repo.remove();
    }
  });

  it('answers a wrong password with a clear 401', async () => {
    const repo = await tb.createRepo(tb.uniqueName('private'));
    await repo.commitAndPush({ 'a.txt': 'a' });
    const dir = await mkdtemp(join(tmpdir(), 'osfleet-isogit-'));
    try {
      const err = await git
        .clone({ fs, http, dir, url: repo.url, onAuth: () => ({ username: auth.username, password: 'wrong' }) })
        .then(
          () => undefined,
          (e: unknown) => e as Error & { code?: string; data?: { statusCode?: number } },
        );
      expect(err?.code).toBe('HttpError');
      expect(err?.data?.statusCode).toBe(401);
      expect(err?.message).toBe('HTTP Error: 401 Unauthorized');

      const anon = await fetch(`${repo.url}/info/refs?service=git-upload-pack`);
      expect(anon.status).toBe(401);
      expect(anon.headers.get('www-authenticate')).toMatch(/^Basic /);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await repo.remove();
    }
  });

  it('signs webhooks the way GitHub does (X-Hub-Signature-256 over the exact body)', async () => {
    const received: { headers: Record<string, unknown>; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(202).end('queued');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (server.address() as { port: number }).port;
      const payload = { ref: 'refs/heads/main', after: 'abc123' };
      const res = await sendWebhook(`http://127.0.0.1:${port}/hook`, payload, 's3cret');
      expect(res).toEqual({ status: 202, body: 'queued' });
      const got = received[0]!;
      const expected = `sha256=${createHmac('sha256', 's3cret').update(got.body).digest('hex')}`;
      expect(got.headers['x-hub-signature-256']).toBe(expected);
      expect(got.headers['x-github-event']).toBe('push');
      expect(JSON.parse(got.body)).toEqual(payload);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('harness hygiene', () => {
  it('leaves no process and no file behind after stop()', async () => {
    const second = await Cluster.start({ binDir: tb.cluster.binDir, keepFiles: false });
    const { pids, workDir, etcdDataDir } = second.info;
    for (const pid of Object.values(pids)) expect(pidAlive(pid)).toBe(true);
    await second.stop();

    for (const [name, pid] of Object.entries(pids)) expect(pidAlive(pid), `${name} pid ${pid}`).toBe(false);
    expect(existsSync(workDir)).toBe(false);
    expect(existsSync(etcdDataDir)).toBe(false);
    // Nothing anywhere still runs with the stopped cluster's files on its command line.
    const leftovers = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
          return cmd.includes(workDir) || cmd.includes(etcdDataDir);
        } catch {
          return false;
        }
      });
    expect(leftovers).toEqual([]);
  });
});
