// The security model on a real apiserver: deploy/ (built by the pinned kubectl's
// kustomize) is installed for real — namespace, CRDs, RBAC, admission policy —
// and the workloads are accepted by server-side dry-run. Then real tokens speak
// for the agent and the controller: an agent token bound to a pod on node A
// writes OSNode A's status and nothing else; the controller can do its job and
// no more.
//
// The install is left in place (applying it again is a no-op); the nodes, pods
// and OSNodes this file creates are removed.
import { join } from 'node:path';
import { type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../harness/binaries.js';
import { deletePodNow, installDeploy, kubeRequest, OSFLEET_NS, testbed, until, waitAgentPolicyActive, type Identity } from '../harness/index.js';

const tb = testbed();
const NS = OSFLEET_NS;
const AGENT_USER = `system:serviceaccount:${NS}:osfleet-agent`;
const OSNODES = '/apis/osfleet.dev/v1alpha1/osnodes';

type Obj = Record<string, any>;

let built: Obj[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
let nodeA: string;
let nodeB: string;
let agent: Identity;

async function api(kc: KubeConfig, method: string, path: string, body?: unknown, contentType?: string) {
  const res = await kubeRequest(kc, method, path, body, contentType);
  let message = res.body;
  try {
    message = (JSON.parse(res.body) as { message?: string }).message ?? res.body;
  } catch {
    // not JSON: keep the raw body
  }
  // A policy expression that fails to evaluate still denies (failurePolicy
  // Fail), but with a message nobody can act on: treat it as a bug.
  expect(message, `${method} ${path}`).not.toMatch(/resulted in error|failed to evaluate|compilation error/i);
  return { status: res.status, message, body: res.body };
}

const mergePatch = 'application/merge-patch+json';
const statusPatch = (phase: string, message: string) => ({ status: { phase, message } });

async function createOSNode(name: string): Promise<void> {
  const res = await api(tb.kc, 'POST', OSNODES, {
    apiVersion: 'osfleet.dev/v1alpha1',
    kind: 'OSNode',
    metadata: { name },
    spec: { nodeName: name },
  });
  expect(res.status, res.message).toBe(201);
  cleanups.push(() => api(tb.kc, 'DELETE', `${OSNODES}/${name}`));
}

beforeAll(async () => {
  ({ built } = await installDeploy(tb));

  nodeA = tb.uniqueName('sec-a');
  nodeB = tb.uniqueName('sec-b');
  for (const n of [nodeA, nodeB]) {
    await tb.createNode(n);
    cleanups.push(() => api(tb.kc, 'DELETE', `/api/v1/nodes/${n}`));
    await createOSNode(n);
  }
  // The agent's pod as the DaemonSet would place it on node A; the kubelet
  // would request the projected token bound to it exactly like this.
  const pod = tb.uniqueName('osfleet-agent');
  await tb.createPodOnNode({ namespace: NS, name: pod, node: nodeA, serviceAccountName: 'osfleet-agent' });
  cleanups.push(() => deletePodNow(tb.kc, NS, pod));
  agent = await tb.tokenIdentity('osfleet-agent', await tb.serviceAccountTokenForPod(NS, 'osfleet-agent', pod));

  // The policy takes effect once the apiserver's policy cache has it: wait
  // until a write it must refuse is refused by it.
  await waitAgentPolicyActive(agent, nodeB);
}, 120_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe('deploy/ on the real apiserver', () => {
  it('is accepted whole by `kubectl apply -k deploy/ --dry-run=server`', async () => {
    const out = await tb.kubectl(['apply', '-k', join(repoRoot, 'deploy'), '--dry-run=server']);
    for (const kind of ['deployment.apps/osfleet-controller', 'daemonset.apps/osfleet-agent', 'validatingadmissionpolicy', 'networkpolicy.networking.k8s.io/osfleet-controller']) {
      expect(out).toContain(kind);
    }
  });

  it('builds workloads whose images cannot be pulled from anyone until the operator sets them', () => {
    const images = built
      .filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')
      .flatMap((o) => (o.spec.template.spec.containers as Obj[]).map((c) => c.image as string));
    expect(images.sort()).toEqual([
      'osfleet.invalid/agent:unset-build-and-set-image-see-deploy-README',
      'osfleet.invalid/controller:unset-build-and-set-image-see-deploy-README',
    ]);
  });

  it('accepts the example FleetSource overlay against the real CRD schema (dry-run)', async () => {
    const out = await tb.kubectl(['apply', '-k', join(repoRoot, 'deploy/examples/fleetsource'), '--dry-run=server']);
    expect(out).toContain('fleetsource.osfleet.dev/fleet');
    expect(out).toContain('secret/fleet-git-credentials');
  });

  it('admits the agent pod (privileged, host namespaces, system-node-critical) in osfleet-system', async () => {
    const ds = built.find((o) => o.kind === 'DaemonSet')!;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'agent-dry-run', namespace: NS, labels: ds.spec.template.metadata.labels },
      spec: { ...ds.spec.template.spec, nodeName: nodeA },
    };
    const r = await api(tb.kc, 'POST', `/api/v1/namespaces/${NS}/pods?dryRun=All`, pod);
    expect(r.status, r.message).toBe(201);
    const created = JSON.parse(r.body) as Obj;
    expect(created.spec.priority).toBeGreaterThan(1_000_000_000);
  });

  it('has a controller pod that the Pod Security "restricted" level admits', async () => {
    const ns = await tb.createNamespace('restricted');
    cleanups.push(() => api(tb.kc, 'DELETE', `/api/v1/namespaces/${ns}`));
    await api(tb.kc, 'PATCH', `/api/v1/namespaces/${ns}`, { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } }, mergePatch);
    const dep = built.find((o) => o.kind === 'Deployment')!;
    const spec = { ...dep.spec.template.spec, serviceAccountName: 'default' };
    // The ServiceAccount admission plugin wants the namespace's `default` account.
    const sa = await api(tb.kc, 'POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'default' } });
    expect([201, 409]).toContain(sa.status);
    const r = await api(tb.kc, 'POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'controller-dry-run', namespace: ns },
      spec,
    });
    expect(r.status, r.message).toBe(201);
    // And the check is live: the agent's pod spec is refused there.
    const ds = built.find((o) => o.kind === 'DaemonSet')!;
    const refused = await api(tb.kc, 'POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'agent-dry-run', namespace: ns },
      spec: { ...ds.spec.template.spec, serviceAccountName: 'default' },
    });
    expect(refused.status).toBe(403);
    expect(refused.message).toMatch(/violates PodSecurity "restricted/);
  });
});

describe('agent identity (token bound to a pod on node A)', () => {
  it('carries node A in its token, as the policy expects', async () => {
    const r = await api(agent.kc, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
    });
    expect(r.status, r.message).toBe(201);
    const user = (JSON.parse(r.body) as Obj).status.userInfo;
    expect(user.username).toBe(AGENT_USER);
    expect(user.extra['authentication.kubernetes.io/node-name']).toEqual([nodeA]);
  });

  it('reads its own OSNode, also through a watch on its name', async () => {
    expect((await api(agent.kc, 'GET', `${OSNODES}/${nodeA}`)).status).toBe(200);
    const list = await api(agent.kc, 'GET', `${OSNODES}?fieldSelector=metadata.name%3D${nodeA}`);
    expect(list.status).toBe(200);
    expect((JSON.parse(list.body) as Obj).items.map((i: Obj) => i.metadata.name)).toEqual([nodeA]);
  });

  it('writes OSNode A status by merge patch, server-side apply and update', async () => {
    const patched = await api(agent.kc, 'PATCH', `${OSNODES}/${nodeA}/status`, statusPatch('Downloading', 'merge patch'), mergePatch);
    expect(patched.status, patched.message).toBe(200);

    const applied = await api(
      agent.kc,
      'PATCH',
      `${OSNODES}/${nodeA}/status?fieldManager=osfleet-agent&force=true`,
      { apiVersion: 'osfleet.dev/v1alpha1', kind: 'OSNode', metadata: { name: nodeA }, status: { phase: 'Staged', message: 'apply' } },
      'application/apply-patch+yaml',
    );
    expect(applied.status, applied.message).toBe(200);

    const current = JSON.parse((await api(agent.kc, 'GET', `${OSNODES}/${nodeA}`)).body) as Obj;
    current.status = { phase: 'Done', message: 'update' };
    const updated = await api(agent.kc, 'PUT', `${OSNODES}/${nodeA}/status`, current);
    expect(updated.status, updated.message).toBe(200);
    expect((JSON.parse(updated.body) as Obj).status.phase).toBe('Done');
  });

  it('cannot change OSNode A spec through the status subresource (it is discarded, never stored)', async () => {
    const r = await api(agent.kc, 'PATCH', `${OSNODES}/${nodeA}/status`, { spec: { nodeName: nodeB }, status: { phase: 'Idle', message: 'x' } }, mergePatch);
    expect(r.status, r.message).toBe(200);
    expect((JSON.parse(r.body) as Obj).spec.nodeName).toBe(nodeA);
  });

  it('cannot write OSNode B status, by patch, apply or update (admission policy)', async () => {
    const patch = await api(agent.kc, 'PATCH', `${OSNODES}/${nodeB}/status`, statusPatch('Failed', 'not mine'), mergePatch);
    expect(patch.status).toBe(403);
    expect(patch.message).toContain(`the osfleet agent on node ${nodeA} may write only OSNode ${nodeA}, not ${nodeB}`);

    const apply = await api(
      agent.kc,
      'PATCH',
      `${OSNODES}/${nodeB}/status?fieldManager=osfleet-agent&force=true`,
      { apiVersion: 'osfleet.dev/v1alpha1', kind: 'OSNode', metadata: { name: nodeB }, status: { phase: 'Failed', message: 'x' } },
      'application/apply-patch+yaml',
    );
    expect(apply.status).toBe(403);

    const current = JSON.parse((await api(tb.kc, 'GET', `${OSNODES}/${nodeB}`)).body) as Obj;
    current.status = { phase: 'Failed', message: 'update' };
    expect((await api(agent.kc, 'PUT', `${OSNODES}/${nodeB}/status`, current)).status).toBe(403);

    const after = JSON.parse((await api(tb.kc, 'GET', `${OSNODES}/${nodeB}`)).body) as Obj;
    expect(after.status?.phase).toBeUndefined();
  });

  it('cannot write any OSNode spec, create or delete OSNodes (RBAC)', async () => {
    for (const n of [nodeA, nodeB]) {
      const r = await api(agent.kc, 'PATCH', `${OSNODES}/${n}`, { spec: { permit: { token: 't', stage: true, applySettings: true, reboot: true } } }, mergePatch);
      expect(r.status, `${n}: ${r.message}`).toBe(403);
    }
    const create = await api(agent.kc, 'POST', OSNODES, { apiVersion: 'osfleet.dev/v1alpha1', kind: 'OSNode', metadata: { name: 'x' }, spec: { nodeName: 'x' } });
    expect(create.status).toBe(403);
    expect((await api(agent.kc, 'DELETE', `${OSNODES}/${nodeB}`)).status).toBe(403);
  });

  it('cannot read Secrets, here or anywhere', async () => {
    for (const path of [
      `/api/v1/namespaces/${NS}/secrets`,
      `/api/v1/namespaces/${NS}/secrets/anything`,
      '/api/v1/namespaces/kube-system/secrets',
      '/api/v1/secrets',
    ]) {
      const r = await api(agent.kc, 'GET', path);
      expect(r.status, path).toBe(403);
    }
  });

  it('cannot touch Nodes, Pods or Events', async () => {
    expect((await api(agent.kc, 'GET', `/api/v1/nodes/${nodeA}`)).status).toBe(403);
    expect((await api(agent.kc, 'PATCH', `/api/v1/nodes/${nodeA}`, { spec: { unschedulable: true } }, mergePatch)).status).toBe(403);
    expect((await api(agent.kc, 'GET', `/api/v1/namespaces/${NS}/pods`)).status).toBe(403);
    expect((await api(agent.kc, 'POST', '/api/v1/namespaces/default/events', { metadata: { generateName: 'x' } })).status).toBe(403);
  });

  it('is held to its own OSNode status by the policy even if RBAC is widened by mistake', async () => {
    const name = tb.uniqueName('sec-widen');
    const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules: [{ apiGroups: ['osfleet.dev'], resources: ['osnodes'], verbs: ['update', 'patch', 'delete', 'create'] }] };
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: 'osfleet-agent', namespace: NS }],
    };
    expect((await api(tb.kc, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', role)).status).toBe(201);
    expect((await api(tb.kc, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', binding)).status).toBe(201);
    try {
      const permit = { spec: { permit: { token: 'forged', stage: true, applySettings: true, reboot: true } } };
      // RBAC now allows this; wait until the authorizer has the binding, seen
      // as the refusal changing from RBAC's to the policy's.
      const own = await until(
        'widened binding visible',
        async () => {
          const r = await api(agent.kc, 'PATCH', `${OSNODES}/${nodeA}`, permit, mergePatch);
          return /osfleet agent/.test(r.message) ? r : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 100 },
      );
      expect(own.status).toBe(403);
      expect(own.message).toContain('the osfleet agent may only update the status of an OSNode');
      const del = await api(agent.kc, 'DELETE', `${OSNODES}/${nodeB}`);
      expect(del.status).toBe(403);
      expect(del.message).toContain('osfleet agent');
      const create = await api(agent.kc, 'POST', OSNODES, { apiVersion: 'osfleet.dev/v1alpha1', kind: 'OSNode', metadata: { name: tb.uniqueName('x') }, spec: { nodeName: 'x' } });
      expect(create.status).toBe(403);
      const spec = JSON.parse((await api(tb.kc, 'GET', `${OSNODES}/${nodeA}`)).body) as Obj;
      expect(spec.spec.permit).toBeUndefined();
    } finally {
      await api(tb.kc, 'DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${name}`);
      await api(tb.kc, 'DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}`);
    }
  });

  it('may write nothing with a token that names no node', async () => {
    const r = await api(tb.kc, 'POST', `/api/v1/namespaces/${NS}/serviceaccounts/osfleet-agent/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences: [], expirationSeconds: 600 },
    });
    expect(r.status, r.message).toBe(201);
    const unbound = await tb.tokenIdentity('osfleet-agent-unbound', (JSON.parse(r.body) as Obj).status.token);
    const w = await api(unbound.kc, 'PATCH', `${OSNODES}/${nodeA}/status`, statusPatch('Idle', 'unbound'), mergePatch);
    expect(w.status).toBe(403);
    expect(w.message).toContain("the osfleet agent's token names no node");
  });

  it('leaves everyone else alone: an administrator writes OSNode B status', async () => {
    const r = await api(tb.kc, 'PATCH', `${OSNODES}/${nodeB}/status`, statusPatch('Idle', 'admin'), mergePatch);
    expect(r.status, r.message).toBe(200);
  });
});

describe('who may write OSNode spec (what an agent obeys)', () => {
  it('refuses spec writes and creates from anyone RBAC lets write OSNodes but the controller; labels stay writable', async () => {
    const name = tb.uniqueName('sec-osnode-writer');
    const user = await tb.mintUser(name);
    const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules: [{ apiGroups: ['osfleet.dev'], resources: ['osnodes'], verbs: ['get', 'create', 'update', 'patch'] }] };
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name }],
    };
    expect((await api(tb.kc, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', role)).status).toBe(201);
    cleanups.push(() => api(tb.kc, 'DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}`));
    expect((await api(tb.kc, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', binding)).status).toBe(201);
    cleanups.push(() => api(tb.kc, 'DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${name}`));

    const grant = { spec: { permit: { token: 'forged', stage: true, applySettings: true, reboot: true } } };
    // RBAC allows it once the binding is visible; the policy must still refuse it.
    const forged = await until(
      'RBAC binding visible and OSNode spec policy active',
      async () => {
        const r = await api(user.kc, 'PATCH', `${OSNODES}/${nodeB}?dryRun=All`, grant, mergePatch);
        return r.status === 403 && /only the osfleet controller/.test(r.message) ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(forged.message).toContain(`only the osfleet controller may change the spec of OSNode ${nodeB}`);
    const real = await api(user.kc, 'PATCH', `${OSNODES}/${nodeB}`, grant, mergePatch);
    expect(real.status).toBe(403);
    expect((JSON.parse((await api(tb.kc, 'GET', `${OSNODES}/${nodeB}`)).body) as Obj).spec.permit?.token).not.toBe('forged');

    const created = await api(user.kc, 'POST', OSNODES, { apiVersion: 'osfleet.dev/v1alpha1', kind: 'OSNode', metadata: { name: tb.uniqueName('forged') }, spec: { nodeName: nodeB } });
    expect(created.status).toBe(403);
    expect(created.message).toContain('only the osfleet controller creates OSNodes');

    const label = await api(user.kc, 'PATCH', `${OSNODES}/${nodeB}`, { metadata: { labels: { team: 'ops' } } }, mergePatch);
    expect(label.status, label.message).toBe(200);
  });
});

describe('controller identity', () => {
  let controller: Identity;
  let workNs: string;

  beforeAll(async () => {
    const pod = tb.uniqueName('osfleet-controller');
    await tb.createPodOnNode({ namespace: NS, name: pod, node: nodeB, serviceAccountName: 'osfleet-controller' });
    cleanups.push(() => deletePodNow(tb.kc, NS, pod));
    controller = await tb.tokenIdentity('osfleet-controller', await tb.serviceAccountTokenForPod(NS, 'osfleet-controller', pod));
    workNs = await tb.createNamespace('sec-work');
    cleanups.push(() => api(tb.kc, 'DELETE', `/api/v1/namespaces/${workNs}`));
  });

  async function can(verb: string, resource: string, opts: { group?: string; sub?: string; ns?: string; name?: string } = {}) {
    const r = await api(controller.kc, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: {
        resourceAttributes: { verb, resource, group: opts.group ?? '', subresource: opts.sub, namespace: opts.ns, name: opts.name },
      },
    });
    expect(r.status, r.message).toBe(201);
    return (JSON.parse(r.body) as Obj).status.allowed === true;
  }

  it('renders, prunes and drives rollouts through its own kinds, but leaves OSNode status to the agent', async () => {
    const g = { group: 'osfleet.dev' };
    for (const verb of ['get', 'list', 'watch']) expect(await can(verb, 'fleetsources', g), verb).toBe(true);
    expect(await can('patch', 'fleetsources', { ...g, sub: 'status' })).toBe(true);
    expect(await can('update', 'fleetsources', g)).toBe(false);
    for (const r of ['oses', 'osconfigs']) {
      for (const verb of ['create', 'patch', 'delete', 'watch']) expect(await can(verb, r, g), `${verb} ${r}`).toBe(true);
      expect(await can('patch', r, { ...g, sub: 'status' }), r).toBe(true);
    }
    for (const verb of ['create', 'patch', 'update', 'watch']) expect(await can(verb, 'osnodes', g), verb).toBe(true);
    expect(await can('patch', 'osnodes', { ...g, sub: 'status' })).toBe(false);
    expect(await can('update', 'osnodes', { ...g, sub: 'status' })).toBe(false);
  });

  it('writes an OSNode spec (permit) for real', async () => {
    const r = await api(controller.kc, 'PATCH', `${OSNODES}/${nodeB}`, { spec: { permit: { token: 'p1', stage: true, applySettings: true, reboot: false } } }, mergePatch);
    expect(r.status, r.message).toBe(200);
  });

  it('cordons and uncordons a node, and may not do more to it', async () => {
    for (const unschedulable of [true, false]) {
      const r = await api(controller.kc, 'PATCH', `/api/v1/nodes/${nodeB}`, { spec: { unschedulable } }, mergePatch);
      expect(r.status, r.message).toBe(200);
    }
    expect(await can('delete', 'nodes')).toBe(false);
    expect(await can('update', 'nodes')).toBe(false);
    expect(await can('patch', 'nodes', { sub: 'status' })).toBe(false);
  });

  it('may change nothing on a Node but spec.unschedulable and osfleet.dev/ annotations (admission policy, controller token)', async () => {
    const node = `/api/v1/nodes/${nodeB}`;
    // The apiserver loads policies asynchronously: wait until a label change is refused by it.
    const label = await until(
      'controller node policy active',
      async () => {
        const r = await api(controller.kc, 'PATCH', `${node}?dryRun=All`, { metadata: { labels: { 'node-role.kubernetes.io/control-plane': '' } } }, mergePatch);
        return r.status === 403 && /osfleet controller/.test(r.message) ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(label.message).toContain("the osfleet controller may not change a Node's labels");

    const refused = [
      { metadata: { labels: { pool: 'attacker' } } },
      { metadata: { annotations: { 'example.com/owner': 'attacker' } } },
      { spec: { taints: [{ key: 'dedicated', value: 'attacker', effect: 'NoSchedule' }] } },
      { spec: { providerID: 'aws:///attacker' } },
    ];
    for (const body of refused) {
      const r = await api(controller.kc, 'PATCH', node, body, mergePatch);
      expect(r.status, JSON.stringify(body)).toBe(403);
      expect(r.message).toMatch(/osfleet controller may (not change|change only)/);
    }
    const del = await api(controller.kc, 'DELETE', node);
    expect(del.status).toBe(403);

    // What the rollout executor sends: cordon with its mark (merge patch guarded by the
    // resourceVersion), then uncordon by a JSON patch that tests and removes the mark.
    const rv = (JSON.parse((await api(tb.kc, 'GET', node)).body) as Obj).metadata.resourceVersion;
    const cordon = await api(controller.kc, 'PATCH', node, { metadata: { resourceVersion: rv, annotations: { 'osfleet.dev/cordoned': '2026-12-05T00:00:00.000Z' } }, spec: { unschedulable: true } }, mergePatch);
    expect(cordon.status, cordon.message).toBe(200);
    const uncordon = await api(
      controller.kc,
      'PATCH',
      node,
      [
        { op: 'test', path: '/metadata/annotations/osfleet.dev~1cordoned', value: '2026-12-05T00:00:00.000Z' },
        { op: 'remove', path: '/metadata/annotations/osfleet.dev~1cordoned' },
        { op: 'replace', path: '/spec/unschedulable', value: false },
      ],
      'application/json-patch+json',
    );
    expect(uncordon.status, uncordon.message).toBe(200);
    const after = JSON.parse((await api(tb.kc, 'GET', node)).body) as Obj;
    expect(after.metadata.labels?.pool).toBeUndefined();
    // (The node lifecycle controller taints nodes on its own; only ours must be absent.)
    expect(((after.spec.taints ?? []) as Obj[]).map((t) => t.key)).not.toContain('dedicated');
    // An administrator is not bound by it.
    const admin = await api(tb.kc, 'PATCH', `${node}?dryRun=All`, { metadata: { labels: { pool: 'admin' } } }, mergePatch);
    expect(admin.status, admin.message).toBe(200);
  });

  it('drains through the Eviction API and may delete pods only for a forced drain', async () => {
    await tb.createPodOnNode({ namespace: workNs, name: 'victim', node: nodeB });
    cleanups.push(() => deletePodNow(tb.kc, workNs, 'victim'));
    const list = await api(controller.kc, 'GET', `/api/v1/pods?fieldSelector=spec.nodeName%3D${nodeB}`);
    expect(list.status).toBe(200);
    const evict = await api(controller.kc, 'POST', `/api/v1/namespaces/${workNs}/pods/victim/eviction`, {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'victim', namespace: workNs },
    });
    expect(evict.status, evict.message).toBe(201);
    expect(await can('delete', 'pods', { ns: workNs })).toBe(true);
    expect(await can('create', 'pods', { ns: workNs })).toBe(false);
    expect(await can('update', 'pods', { ns: workNs })).toBe(false);
  });

  it('records Events', async () => {
    const r = await api(controller.kc, 'POST', '/api/v1/namespaces/default/events', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: 'osfleet-' },
      involvedObject: { apiVersion: 'osfleet.dev/v1alpha1', kind: 'OSNode', name: nodeB },
      reason: 'SecurityTest',
      message: 'event from the controller identity',
      type: 'Normal',
    });
    expect(r.status, r.message).toBe(201);
    expect(await can('patch', 'events', { group: 'events.k8s.io', ns: 'default' })).toBe(true);
  });

  it('reads Secrets in osfleet-system only, and cannot write them', async () => {
    const name = tb.uniqueName('git-credentials');
    const made = await api(tb.kc, 'POST', `/api/v1/namespaces/${NS}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name },
      stringData: { username: 'u', password: 'p' },
    });
    expect(made.status, made.message).toBe(201);
    cleanups.push(() => api(tb.kc, 'DELETE', `/api/v1/namespaces/${NS}/secrets/${name}`));
    expect((await api(controller.kc, 'GET', `/api/v1/namespaces/${NS}/secrets/${name}`)).status).toBe(200);
    expect((await api(controller.kc, 'GET', `/api/v1/namespaces/${NS}/secrets?watch=false`)).status).toBe(200);
    expect((await api(controller.kc, 'GET', `/api/v1/namespaces/${workNs}/secrets/anything`)).status).toBe(403);
    expect((await api(controller.kc, 'GET', '/api/v1/secrets')).status).toBe(403);
    expect(await can('update', 'secrets', { ns: NS })).toBe(false);
    expect(await can('create', 'secrets', { ns: NS })).toBe(false);
    expect((await api(controller.kc, 'GET', '/api/v1/namespaces/kube-system/secrets/anything')).status).toBe(403);
  });

  it('holds its leader-election Lease in osfleet-system only', async () => {
    const name = tb.uniqueName('osfleet-controller-leader');
    const path = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;
    const made = await api(controller.kc, 'POST', path, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name },
      spec: { holderIdentity: 'a', leaseDurationSeconds: 15 },
    });
    expect(made.status, made.message).toBe(201);
    cleanups.push(() => api(tb.kc, 'DELETE', `${path}/${name}`));
    const lease = JSON.parse((await api(controller.kc, 'GET', `${path}/${name}`)).body) as Obj;
    lease.spec.holderIdentity = 'b';
    expect((await api(controller.kc, 'PUT', `${path}/${name}`, lease)).status).toBe(200);
    expect(await can('create', 'leases', { group: 'coordination.k8s.io', ns: 'kube-system' })).toBe(false);
  });
});
