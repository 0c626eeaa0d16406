// Guards the install manifests (deploy/, policies/) and the container build
// files: the security and availability properties a reviewer would otherwise
// have to re-check by eye on every change. The same manifests are applied to a
// real apiserver in test/integration/security.test.ts.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const NAMESPACE = 'osfleet-system';
const AGENT_SA = 'osfleet-agent';
const CONTROLLER_SA = 'osfleet-controller';

type Obj = Record<string, any>;
interface Manifest {
  file: string;
  obj: Obj;
}

function yamlFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) out.push(...yamlFilesUnder(p));
    else if (/\.ya?ml$/.test(entry)) out.push(p);
  }
  return out;
}

function loadFile(file: string): Manifest[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: Manifest[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${relative(repo, file)}: ${doc.errors[0]!.message}`);
    const obj = doc.toJS() as Obj | null;
    if (obj !== null) out.push({ file: relative(repo, file), obj });
  }
  return out;
}

/**
 * The objects a kustomization directory contributes through `resources`
 * (files, and directories with a kustomization.yaml of their own), plus the
 * files it visited. No transformers: the tests check the manifests as written;
 * the real `kubectl kustomize` runs in the integration test.
 */
function kustomizeResources(dir: string, visited = new Set<string>()): Manifest[] {
  const kfile = join(dir, 'kustomization.yaml');
  visited.add(kfile);
  const k = parseYaml(readFileSync(kfile, 'utf8')) as Obj;
  const out: Manifest[] = [];
  for (const r of (k.resources ?? []) as string[]) {
    const p = resolve(dir, r);
    if (!existsSync(p)) throw new Error(`${relative(repo, kfile)}: resource ${r} does not exist`);
    if (statSync(p).isDirectory()) out.push(...kustomizeResources(p, visited));
    else {
      visited.add(p);
      out.push(...loadFile(p));
    }
  }
  return out;
}

const baseVisited = new Set<string>();
const base = kustomizeResources(join(repo, 'deploy'), baseVisited);
const find = (kind: string, name: string): Obj => {
  const m = base.find((x) => x.obj.kind === kind && x.obj.metadata?.name === name);
  if (!m) throw new Error(`deploy/ has no ${kind} ${name}`);
  return m.obj;
};
const ofKind = (kind: string) => base.filter((m) => m.obj.kind === kind).map((m) => m.obj);

const clusterScoped = new Set([
  'Namespace',
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleBinding',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'FleetSource',
  'OS',
  'OSConfig',
  'OSNode',
]);

describe('manifests in deploy/ and policies/', () => {
  it('every YAML file parses', () => {
    const files = [...yamlFilesUnder(join(repo, 'deploy')), ...yamlFilesUnder(join(repo, 'policies'))];
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(() => loadFile(f)).not.toThrow();
  });

  it('every manifest under deploy/base and policies/admission is part of `kubectl apply -k deploy/`', () => {
    const files = [...yamlFilesUnder(join(repo, 'deploy/base')), ...yamlFilesUnder(join(repo, 'policies/admission'))];
    const forgotten = files.filter((f) => !baseVisited.has(f)).map((f) => relative(repo, f));
    expect(forgotten).toEqual([]);
  });

  it('installs the generated CRDs from crds/, not a copy', () => {
    const crds = base.filter((m) => m.obj.kind === 'CustomResourceDefinition');
    expect(crds.map((m) => m.obj.metadata.name).sort()).toEqual([
      'fleetsources.osfleet.dev',
      'osconfigs.osfleet.dev',
      'oses.osfleet.dev',
      'osnodes.osfleet.dev',
    ]);
    for (const m of crds) expect(m.file.startsWith('crds/')).toBe(true);
  });

  it('puts every namespaced object into osfleet-system and no namespace on cluster-scoped ones', () => {
    expect(find('Namespace', NAMESPACE)).toBeTruthy();
    for (const { file, obj } of base) {
      const where = `${file}: ${obj.kind} ${obj.metadata?.name}`;
      if (clusterScoped.has(obj.kind)) expect(obj.metadata?.namespace, where).toBeUndefined();
      else expect(obj.metadata?.namespace, where).toBe(NAMESPACE);
    }
  });

  it('admits the privileged agent through Pod Security only in its own namespace', () => {
    expect(find('Namespace', NAMESPACE).metadata.labels['pod-security.kubernetes.io/enforce']).toBe('privileged');
  });
});

describe('controller Deployment', () => {
  const deploy = find('Deployment', 'osfleet-controller');
  const pod = deploy.spec.template.spec;
  const [c, ...more] = pod.containers as Obj[];
  const args = c!.args as string[];
  const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

  it('runs two replicas under leader election, never both down through osfleet drains', () => {
    expect(more).toEqual([]);
    expect(deploy.spec.replicas).toBe(2);
    expect(deploy.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    const pdb = find('PodDisruptionBudget', 'osfleet-controller');
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.selector).toEqual(deploy.spec.selector);
    const lease = find('Role', CONTROLLER_SA).rules.find((r: Obj) => r.resources.includes('leases'));
    expect(lease.apiGroups).toEqual(['coordination.k8s.io']);
    expect(lease.verbs).toEqual(expect.arrayContaining(['get', 'create', 'update']));
  });

  it('runs as non-root with a read-only root filesystem, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
    expect(pod.serviceAccountName).toBe(CONTROLLER_SA);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.hostIPC ?? false).toBe(false);
    const sc = c!.securityContext;
    expect(sc.privileged ?? false).toBe(false);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.capabilities.drop).toEqual(['ALL']);
    expect(sc.capabilities.add ?? []).toEqual([]);
    expect((pod.volumes as Obj[]).filter((v) => v.hostPath)).toEqual([]);
  });

  it('probes /healthz and /readyz on the port --health-addr listens on', () => {
    const healthPort = Number(flag('health-addr')!.split(':').pop());
    const port = (name: string) => (c!.ports as Obj[]).find((p) => p.name === name)?.containerPort;
    expect(c!.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c!.readinessProbe.httpGet.path).toBe('/readyz');
    expect(port(c!.livenessProbe.httpGet.port)).toBe(healthPort);
    expect(port(c!.readinessProbe.httpGet.port)).toBe(healthPort);
    expect(port('metrics')).toBe(Number(flag('metrics-addr')!.split(':').pop()));
    expect(port('webhook')).toBe(Number(flag('webhook-addr')!.split(':').pop()));
  });

  it('keeps the git cache on an emptyDir, the only writable place besides /tmp', () => {
    const mounts = c!.volumeMounts as Obj[];
    const cache = mounts.find((m) => m.mountPath === flag('cache-dir'));
    expect(cache).toBeTruthy();
    const vol = (pod.volumes as Obj[]).find((v) => v.name === cache!.name);
    expect(vol?.emptyDir).toBeTruthy();
    expect(mounts.map((m) => m.mountPath).sort()).toEqual([flag('cache-dir'), '/tmp'].sort());
  });

  it('knows its namespace and has requests and a memory limit', () => {
    expect(flag('namespace')).toBe('$(POD_NAMESPACE)');
    const env = (c!.env as Obj[]).find((e) => e.name === 'POD_NAMESPACE');
    expect(env?.valueFrom.fieldRef.fieldPath).toBe('metadata.namespace');
    expect(c!.resources.requests.cpu).toBeTruthy();
    expect(c!.resources.requests.memory).toBeTruthy();
    expect(c!.resources.limits.memory).toBeTruthy();
  });
});

describe('controller NetworkPolicy', () => {
  const np = find('NetworkPolicy', 'osfleet-controller');
  const deploy = find('Deployment', 'osfleet-controller');
  const ports = (deploy.spec.template.spec.containers[0].ports as Obj[]).map((p) => p.name as string);

  it('selects the controller pods and restricts ingress only', () => {
    expect(np.spec.podSelector).toEqual(deploy.spec.selector);
    expect(np.spec.policyTypes).toEqual(['Ingress']);
  });

  it('opens the webhook to all, metrics to the monitoring namespace only, and nothing else (health stays node-only)', () => {
    const rules = np.spec.ingress as Obj[];
    const byPort = new Map<string, Obj>();
    for (const r of rules) for (const p of r.ports as Obj[]) byPort.set(p.port as string, r);
    expect([...byPort.keys()].sort()).toEqual(['metrics', 'webhook']);
    for (const p of byPort.keys()) expect(ports).toContain(p);
    expect(byPort.get('webhook')!.from).toBeUndefined();
    expect(byPort.get('metrics')!.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]);
    // Every rule names its ports: no rule opens all ports of the pod.
    for (const r of rules) expect((r.ports as Obj[]).length).toBeGreaterThan(0);
  });
});

describe('agent DaemonSet', () => {
  const ds = find('DaemonSet', 'osfleet-agent');
  const pod = ds.spec.template.spec;
  const [c, ...more] = pod.containers as Obj[];

  it('runs on every node whatever its taints, as node-critical', () => {
    expect(more).toEqual([]);
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.nodeSelector).toBeUndefined();
  });

  it('takes its node name from the downward API spec.nodeName', () => {
    const env = (c!.env as Obj[]).find((e) => e.name === 'NODE_NAME');
    expect(env?.valueFrom.fieldRef.fieldPath).toBe('spec.nodeName');
    expect(pod.serviceAccountName).toBe(AGENT_SA);
    expect(pod.automountServiceAccountToken).not.toBe(false);
  });

  it('shares the host network and IPC namespaces (namespaced sysctls) but not the PID namespace', () => {
    expect(c!.securityContext.privileged).toBe(true);
    expect(pod.hostNetwork).toBe(true);
    expect(pod.hostIPC).toBe(true);
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
  });

  it('mounts the host root read-only and only persist, /boot and /dev writable', () => {
    const volumes = new Map((pod.volumes as Obj[]).map((v) => [v.name as string, v]));
    const writable: string[] = [];
    for (const m of c!.volumeMounts as Obj[]) {
      const hostPath = volumes.get(m.name)?.hostPath?.path as string | undefined;
      if (hostPath === undefined) continue;
      if (hostPath === '/') {
        expect(m.readOnly).toBe(true);
        expect(m.mountPath).toBe('/host');
      } else if (!m.readOnly) writable.push(hostPath);
      // The agent's paths are the host's paths under /host.
      expect(m.mountPath).toBe(hostPath === '/' ? '/host' : `/host${hostPath}`);
    }
    expect(writable.sort()).toEqual(['/boot', '/dev', '/persist']);
    expect(c!.securityContext.readOnlyRootFilesystem).toBe(true);
  });
});

describe('RBAC', () => {
  const roles = [...ofKind('ClusterRole'), ...ofKind('Role')];
  const bindings = [...ofKind('ClusterRoleBinding'), ...ofKind('RoleBinding')];

  it('uses no wildcards and no privilege-granting verbs', () => {
    expect(roles.length).toBeGreaterThan(0);
    for (const role of roles) {
      for (const rule of role.rules as Obj[]) {
        const where = `${role.kind} ${role.metadata.name}: ${JSON.stringify(rule)}`;
        for (const field of ['apiGroups', 'resources', 'verbs']) expect(rule[field], where).not.toContain('*');
        for (const verb of ['escalate', 'bind', 'impersonate', 'deletecollection']) expect(rule.verbs, where).not.toContain(verb);
        expect(rule.nonResourceURLs, where).toBeUndefined();
      }
    }
  });

  it('binds each role to its own ServiceAccount in osfleet-system, and roles that exist', () => {
    for (const b of bindings) {
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: b.roleRef.name, namespace: NAMESPACE }]);
      expect(find(b.roleRef.kind, b.roleRef.name)).toBeTruthy();
      expect(find('ServiceAccount', b.subjects[0].name).metadata.namespace).toBe(NAMESPACE);
    }
  });

  it('gives the agent reads of OSNodes and writes of OSNode status, nothing else', () => {
    const agentBindings = bindings.filter((b) => b.subjects.some((s: Obj) => s.name === AGENT_SA));
    expect(agentBindings.map((b) => `${b.kind}/${b.roleRef.kind}/${b.roleRef.name}`)).toEqual([
      'ClusterRoleBinding/ClusterRole/osfleet-agent',
    ]);
    expect(find('ClusterRole', 'osfleet-agent').rules).toEqual([
      { apiGroups: ['osfleet.dev'], resources: ['osnodes'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['osfleet.dev'], resources: ['osnodes/status'], verbs: ['patch', 'update'] },
    ]);
  });

  it('lets the controller read Secrets only in its own namespace, and never write them', () => {
    const cluster = find('ClusterRole', 'osfleet-controller').rules as Obj[];
    expect(cluster.flatMap((r) => r.resources)).not.toContain('secrets');
    const secretRules = (find('Role', CONTROLLER_SA).rules as Obj[]).filter((r) => r.resources.includes('secrets'));
    expect(secretRules).toEqual([{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] }]);
  });

  it('gives the controller what cordon, drain and rendering need, and no OSNode status', () => {
    const rules = find('ClusterRole', 'osfleet-controller').rules as Obj[];
    const verbs = (group: string, resource: string) =>
      rules.filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource)).flatMap((r) => r.verbs).sort();
    expect(verbs('', 'nodes')).toEqual(['get', 'list', 'patch', 'watch']);
    expect(verbs('', 'pods')).toEqual(['delete', 'get', 'list', 'watch']);
    expect(verbs('', 'pods/eviction')).toEqual(['create']);
    expect(verbs('', 'events')).toEqual(['create', 'patch']);
    // patch: only the fetch-requested annotation a non-leading replica sets when it receives a webhook.
    expect(verbs('osfleet.dev', 'fleetsources')).toEqual(['get', 'list', 'patch', 'watch']);
    expect(verbs('osfleet.dev', 'osnodes')).not.toContain('delete');
    expect(verbs('osfleet.dev', 'osnodes/status')).toEqual([]);
    for (const r of ['oses', 'osconfigs']) expect(verbs('osfleet.dev', r)).toContain('delete');
  });
});

describe('agent admission policy', () => {
  const policy = find('ValidatingAdmissionPolicy', 'osfleet-agent-own-osnode');
  const binding = find('ValidatingAdmissionPolicyBinding', 'osfleet-agent-own-osnode');

  it('applies to the agent ServiceAccount that deploy/ creates, and only to it', () => {
    const sa = find('ServiceAccount', AGENT_SA);
    const username = `system:serviceaccount:${sa.metadata.namespace}:${sa.metadata.name}`;
    expect(policy.spec.matchConditions).toEqual([
      { name: 'osfleet-agent-only', expression: `request.userInfo.username == '${username}'` },
    ]);
  });

  it('covers OSNode and its status for every write, fails closed and denies', () => {
    expect(policy.spec.failurePolicy).toBe('Fail');
    const [rule, ...more] = policy.spec.matchConstraints.resourceRules as Obj[];
    expect(more).toEqual([]);
    expect(rule!.apiGroups).toEqual(['osfleet.dev']);
    expect(rule!.resources.sort()).toEqual(['osnodes', 'osnodes/status']);
    expect(rule!.operations.sort()).toEqual(['CREATE', 'DELETE', 'UPDATE']);
    expect(binding.spec.policyName).toBe(policy.metadata.name);
    expect(binding.spec.validationActions).toEqual(['Deny']);
    expect(binding.spec.matchResources).toBeUndefined();
  });

  it('reads the node name from the token extra the apiserver sets for pod-bound tokens', () => {
    const text = JSON.stringify(policy.spec.variables);
    expect(text).toContain("request.userInfo.extra['authentication.kubernetes.io/node-name']");
  });
});

describe('controller node admission policy', () => {
  const policy = find('ValidatingAdmissionPolicy', 'osfleet-controller-node-writes');
  const binding = find('ValidatingAdmissionPolicyBinding', 'osfleet-controller-node-writes');

  it('applies to the controller ServiceAccount that deploy/ creates, on every write of Nodes, failing closed', () => {
    const sa = find('ServiceAccount', CONTROLLER_SA);
    expect(policy.spec.matchConditions).toEqual([
      { name: 'osfleet-controller-only', expression: `request.userInfo.username == 'system:serviceaccount:${sa.metadata.namespace}:${sa.metadata.name}'` },
    ]);
    expect(policy.spec.failurePolicy).toBe('Fail');
    const [rule, ...more] = policy.spec.matchConstraints.resourceRules as Obj[];
    expect(more).toEqual([]);
    expect(rule!.apiGroups).toEqual(['']);
    expect(rule!.resources.sort()).toEqual(['nodes', 'nodes/status']);
    expect(rule!.operations.sort()).toEqual(['CREATE', 'DELETE', 'UPDATE']);
    expect(binding.spec).toEqual({ policyName: policy.metadata.name, validationActions: ['Deny'] });
  });
});

describe('OSNode spec admission policy', () => {
  const policy = find('ValidatingAdmissionPolicy', 'osfleet-osnode-spec-controller-only');

  it('exempts exactly the controller and the agent ServiceAccounts (and system:masters) and covers create and update', () => {
    const users = [CONTROLLER_SA, AGENT_SA].map((sa) => `'system:serviceaccount:${find('ServiceAccount', sa).metadata.namespace}:${sa}'`);
    const text = JSON.stringify(policy.spec.matchConditions);
    for (const u of users) expect(text).toContain(u);
    expect(policy.spec.failurePolicy).toBe('Fail');
    expect(policy.spec.matchConstraints.resourceRules).toEqual([{ apiGroups: ['osfleet.dev'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: ['osnodes'] }]);
    expect(find('ValidatingAdmissionPolicyBinding', policy.metadata.name).spec.validationActions).toEqual(['Deny']);
  });
});

describe('kustomize images and the example overlay', () => {
  it('lists every container image of the base under `images:` so a digest can be set in one place', () => {
    const k = parseYaml(readFileSync(join(repo, 'deploy/base/kustomization.yaml'), 'utf8')) as Obj;
    const names = new Set((k.images as Obj[]).map((i) => i.name));
    const used = [...ofKind('Deployment'), ...ofKind('DaemonSet')].flatMap((w) =>
      (w.spec.template.spec.containers as Obj[]).map((c) => c.image as string),
    );
    expect(used.length).toBe(2);
    for (const image of used) expect(names.has(image), image).toBe(true);
  });

  it('names no image a public registry could serve: placeholders under .invalid whose tag names the fix', () => {
    // An unedited `kubectl apply -k deploy/` must fail to pull, never run a
    // public image of the same name as a privileged DaemonSet.
    const k = parseYaml(readFileSync(join(repo, 'deploy/base/kustomization.yaml'), 'utf8')) as Obj;
    const entries = k.images as Obj[];
    const used = [...ofKind('Deployment'), ...ofKind('DaemonSet')].flatMap((w) =>
      (w.spec.template.spec.containers as Obj[]).map((c) => c.image as string),
    );
    for (const image of used) expect(registryOf(image), image).toMatch(/\.invalid$/);
    for (const e of entries) {
      const effective = `${e.newName ?? e.name}:${e.newTag ?? 'latest'}`;
      expect(registryOf(effective), effective).toMatch(/\.invalid$/);
      expect(e.digest, effective).toBeUndefined();
      expect(e.newTag, effective).toMatch(/see-deploy-README/);
    }
  });

  it('example FleetSource names Secrets the overlay generates in osfleet-system', () => {
    const dir = join(repo, 'deploy/examples/fleetsource');
    const k = parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Obj;
    const overlay = kustomizeResources(dir);
    const fs = overlay.find((m) => m.obj.kind === 'FleetSource')!.obj;
    const secrets = new Map((k.secretGenerator as Obj[]).map((s) => [s.name as string, s]));
    expect(k.generatorOptions.disableNameSuffixHash).toBe(true);
    for (const ref of [fs.spec.secretRef.name, fs.spec.webhookSecretRef.name]) {
      expect(secrets.get(ref)?.namespace, ref).toBe(NAMESPACE);
    }
    const creds = secrets.get(fs.spec.secretRef.name)!;
    expect(creds.type).toBe('kubernetes.io/basic-auth');
    expect((creds.literals as string[]).map((l) => l.split('=')[0]).sort()).toEqual(['password', 'username']);
  });
});

interface Stage {
  from: string;
  name?: string;
  lines: string[];
}

/** Stages of a Dockerfile, with ARG defaults declared before the first FROM substituted. */
function dockerStages(file: string): Stage[] {
  const text = readFileSync(join(repo, file), 'utf8').replace(/\\\n/g, ' ');
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const arg = /^ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)$/.exec(line);
    if (arg && stages.length === 0) {
      args.set(arg[1]!, arg[2]!);
      continue;
    }
    const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line);
    if (from) {
      const image = from[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args.get(a ?? b) ?? '');
      stages.push({ from: image, name: from[2], lines: [] });
      continue;
    }
    stages[stages.length - 1]?.lines.push(line);
  }
  return stages;
}

describe('container build files', () => {
  const images = [
    { file: 'deploy/images/controller.Dockerfile', sub: 'controller', user: '65532:65532' },
    { file: 'deploy/images/agent.Dockerfile', sub: 'agent', user: '0:0' },
  ];

  for (const { file, sub, user } of images) {
    describe(file, () => {
      const stages = dockerStages(file);
      const final = stages[stages.length - 1]!;

      it('pins every base image by digest', () => {
        const stageNames = new Set<string>();
        for (const s of stages) {
          if (!stageNames.has(s.from)) expect(s.from).toMatch(/^[a-z0-9.\-/:]+@sha256:[a-f0-9]{64}$/);
          if (s.name) stageNames.add(s.name);
        }
      });

      it('builds in one stage and installs production dependencies without scripts in another', () => {
        expect(stages.length).toBeGreaterThanOrEqual(3);
        const runs = stages.flatMap((s) => s.lines.filter((l) => l.startsWith('RUN ')));
        expect(runs).toContain('RUN npm run build');
        expect(runs).toContain('RUN npm ci --omit=dev --ignore-scripts');
        expect(final.lines.filter((l) => /npm (ci|install)/.test(l))).toEqual([]);
      });

      it(`runs \`node /app/bin/osfleet.js ${sub}\` as user ${user}`, () => {
        const users = final.lines.filter((l) => l.startsWith('USER '));
        expect(users).toEqual([`USER ${user}`]);
        const entry = final.lines.find((l) => l.startsWith('ENTRYPOINT '))!;
        const argv = JSON.parse(entry.slice('ENTRYPOINT '.length)) as string[];
        expect(argv[0]).toMatch(/(^|\/)node$/);
        // Node options (V8 flags) may come before the script; the controller trades speed for memory.
        const script = argv.indexOf('/app/bin/osfleet.js');
        expect(argv.slice(script)).toEqual(['/app/bin/osfleet.js', sub]);
        expect(argv.slice(1, script).every((a) => a.startsWith('--'))).toBe(true);
        if (sub === 'controller') expect(argv.slice(1, script)).toEqual(['--optimize-for-size']);
      });

      it('ships package.json, the production node_modules, bin/ and dist/', () => {
        const copies = final.lines.filter((l) => l.startsWith('COPY '));
        for (const what of ['package.json', '/node_modules', '/bin', '/dist']) {
          expect(copies.some((l) => l.includes(what)), what).toBe(true);
        }
      });
    });
  }

  it('.dockerignore lets in every folder the build compiles', () => {
    const ignore = readFileSync(join(repo, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    expect(ignore).toContain('*');
    const build = JSON.parse(readFileSync(join(repo, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    for (const dir of [...build.include, 'bin', 'policies']) expect(ignore, dir).toContain(`!${dir}/`);
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
      expect(ignore, f).toContain(`!${f}`);
    }
    // Every file the build script runs (`node hack/…`) is in the context too.
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const scripts = [...pkg.scripts.build!.matchAll(/\bnode\s+(\S+)/g)].map((m) => m[1]!);
    expect(scripts).toContain('hack/bundle-client-node.mjs');
    for (const f of scripts) expect(ignore, f).toContain(`!${f}`);
  });
});

/**
 * The registry a container runtime pulls `image` from, by the reference
 * grammar of the distribution spec: the first path component is a host only
 * when it has a dot or a port, or is `localhost`; otherwise the public default.
 */
function registryOf(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = image.slice(0, slash);
  return /[.:]/.test(first) || first === 'localhost' ? first : 'docker.io';
}
