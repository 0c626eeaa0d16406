// Rendering: the examples render byte for byte to the golden file; output is deterministic.
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadAndRender, loadDirectory, objectsToYaml, validateAndRender } from './index.js';
import { ANNOTATION_SOURCE_FILE, ANNOTATION_SOURCE_REVISION, LABEL_MANAGED_BY } from '../api/meta.js';
import type { OS } from '../api/resources.js';

const here = dirname(fileURLToPath(import.meta.url));
const examples = join(here, '../examples/gitrepo');
const golden = join(here, '__golden__/examples.yaml');
const REVISION = '0123456789abcdef0123456789abcdef01234567';

describe('render', () => {
  it('renders examples/gitrepo exactly as the golden file (UPDATE_GOLDEN=1 rewrites it)', async () => {
    const r = await loadAndRender(examples, { revision: REVISION });
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    const yaml = objectsToYaml(r.objects);
    if (process.env.UPDATE_GOLDEN) await writeFile(golden, yaml);
    expect(yaml).toBe(await readFile(golden, 'utf8'));
  });

  it('gives byte-identical output for the same files in any order', async () => {
    const { files } = await loadDirectory(examples);
    const a = objectsToYaml(validateAndRender(files, { revision: 'r' }).objects);
    const b = objectsToYaml(validateAndRender([...files].reverse(), { revision: 'r' }).objects);
    expect(b).toBe(a);
  });

  it('renders one OS per RolloutPolicy and one OSConfig per NodeSettings, labelled and annotated', async () => {
    const r = await loadAndRender(examples, { revision: REVISION, fleetSource: 'prod' });
    expect(r.objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'OS/control-plane',
      'OS/edge-tokyo',
      'OS/workers',
      'OSConfig/base',
      'OSConfig/gpu-a100',
      'OSConfig/workers',
    ]);
    const workers = r.objects.find((o) => o.kind === 'OS' && o.metadata.name === 'workers') as OS;
    expect(workers.metadata.labels).toEqual({ [LABEL_MANAGED_BY]: 'osfleet', 'osfleet.dev/fleetsource': 'prod' });
    expect(workers.metadata.annotations).toEqual({ [ANNOTATION_SOURCE_FILE]: 'rollout/workers.yaml', [ANNOTATION_SOURCE_REVISION]: REVISION });
    expect(workers.spec.osVersion).toMatchObject({ name: 'openeuler-24.03-sp2', version: '24.03-SP2' });
    expect(workers.spec.osVersion.image.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('fills in the documented defaults', () => {
    const text = [
      'apiVersion: osfleet.dev/v1alpha1', 'kind: OSVersion', 'metadata: {name: v1}',
      `spec: {version: "1", image: {url: "https://x.example.com/i.img", sha256: ${'b'.repeat(64)}}}`, '---',
      'apiVersion: osfleet.dev/v1alpha1', 'kind: RolloutPolicy', 'metadata: {name: p}',
      'spec: {nodeSelector: {}, osVersion: v1, maintenanceWindows: [{schedule: "0 1 * * *", duration: 1h}]}', '---',
      'apiVersion: osfleet.dev/v1alpha1', 'kind: NodeSettings', 'metadata: {name: s}',
      'spec: {nodeSelector: {}, sysctl: {vm.max_map_count: 262144}}',
    ].join('\n');
    const r = validateAndRender([{ path: 'all.yaml', bytes: new TextEncoder().encode(text) }], { revision: 'r' });
    expect(r.errors).toEqual([]);
    const [os, cfg] = r.objects;
    expect(os!.spec).toMatchObject({
      strategy: { batches: [1, '100%'], maxUnavailable: 1, soak: '0s', failureBudget: 1, stageOutsideWindows: false },
      maintenanceWindows: [{ schedule: '0 1 * * *', duration: '1h', timeZone: 'UTC' }],
      denyWindows: [],
      drain: { timeout: '10m', onTimeout: 'fail', deleteEmptyDirData: false },
      healthChecks: [],
      paused: false,
    });
    expect(cfg!.spec).toEqual({ nodeSelector: {}, priority: 0, sysctl: { 'vm.max_map_count': '262144' }, kernelArgs: { add: [], remove: [] } });
  });

  it('renders nothing for a revision with errors unless asked for a partial render', async () => {
    const bad = new TextEncoder().encode('apiVersion: osfleet.dev/v1alpha1\nkind: NodeSettings\nmetadata: {name: s}\nspec: {nodeSelector: {}, sysctl: {vm.swappiness: 999}}\n');
    const { files } = await loadDirectory(examples);
    const all = [...files, { path: 'bad.yaml', bytes: bad }];
    expect(validateAndRender(all).objects).toEqual([]);
    expect(validateAndRender(all, { partial: true }).objects).toHaveLength(6);
  });
});
