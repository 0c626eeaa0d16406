// Draining one node through the Eviction API, one step at a time: each step lists the node's pods,
// evicts what must go, and says whether the node is drained, must be retried later (a
// PodDisruptionBudget said no, pods are still terminating), or has failed. Timeouts count from the
// moment osfleet cordoned the node, on the rollout clock, so a restart does not reset them.
import type { Drain } from '../../api/documents.js';
import { DEFAULTS } from '../../api/documents.js';
import { parseDuration } from '../../api/duration.js';
import { ApiError, apiPath, isNotFound, isTooManyRequests, type KubeClient } from '../kube/client.js';
import type { PodObj } from './objects.js';

export interface DrainPolicy {
  timeoutMs: number;
  onTimeout: 'fail' | 'force';
  deleteEmptyDirData: boolean;
}

export function drainPolicy(d: Drain | undefined): DrainPolicy {
  const t = parseDuration(d?.timeout ?? DEFAULTS.drainTimeout);
  return {
    timeoutMs: t.ok ? t.ms : 10 * 60_000,
    onTimeout: d?.onTimeout ?? DEFAULTS.drainOnTimeout,
    deleteEmptyDirData: d?.deleteEmptyDirData ?? DEFAULTS.deleteEmptyDirData,
  };
}

export type PodVerdict = 'skip' | 'evict' | 'terminating' | 'emptyDir';

const podName = (p: PodObj) => `${p.metadata.namespace}/${p.metadata.name}`;

/** What drain does with a pod: DaemonSet and mirror pods stay, finished pods are ignored, emptyDir needs consent. */
export function classifyPod(p: PodObj, policy: DrainPolicy): PodVerdict {
  if (p.metadata.annotations?.['kubernetes.io/config.mirror'] !== undefined) return 'skip';
  if (p.metadata.ownerReferences?.some((o) => o.kind === 'DaemonSet' && o.controller)) return 'skip';
  if (p.status.phase === 'Succeeded' || p.status.phase === 'Failed') return 'skip';
  if (p.metadata.deletionTimestamp) return 'terminating';
  if (!policy.deleteEmptyDirData && (p.spec.volumes ?? []).some((v) => v.emptyDir !== undefined)) return 'emptyDir';
  return 'evict';
}

export type DrainStep =
  | { kind: 'drained'; evicted: number }
  | { kind: 'waiting'; retryAfterMs: number; message: string; refused: string[]; evicted: string[] }
  | { kind: 'failed'; reason: 'DrainBlockedByEmptyDir' | 'DrainTimeout'; message: string }
  | { kind: 'forced'; deleted: string[]; retryAfterMs: number };

export interface DrainProgress {
  attempts: number;
  lastRefusal?: string;
}

function listNames(names: readonly string[], max = 5): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

export class Drainer {
  constructor(private readonly client: KubeClient) {}

  async podsOn(node: string): Promise<PodObj[]> {
    const { items } = await this.client.list<PodObj>('/api/v1/pods', { fieldSelector: `spec.nodeName=${node}` });
    return items;
  }

  /**
   * One drain step for `node`, cordoned at `cordonedAt` (epoch ms, rollout clock). `progress` is the
   * caller's memory of this drain (attempts, for back-off); it is updated in place.
   */
  async step(node: string, policy: DrainPolicy, cordonedAt: number, now: number, progress: DrainProgress): Promise<DrainStep> {
    const pods = await this.podsOn(node);
    const toEvict: PodObj[] = [];
    const terminating: PodObj[] = [];
    const emptyDir: PodObj[] = [];
    for (const p of pods) {
      const v = classifyPod(p, policy);
      if (v === 'evict') toEvict.push(p);
      else if (v === 'terminating') terminating.push(p);
      else if (v === 'emptyDir') emptyDir.push(p);
    }
    if (emptyDir.length > 0) {
      return {
        kind: 'failed',
        reason: 'DrainBlockedByEmptyDir',
        message: `cannot drain ${node}: pod(s) ${listNames(emptyDir.map(podName))} keep data in emptyDir volumes that eviction would delete; set drain.deleteEmptyDirData: true in the RolloutPolicy to allow it, or move the data to a persistent volume`,
      };
    }
    if (toEvict.length === 0 && terminating.length === 0) return { kind: 'drained', evicted: 0 };

    const elapsed = now - cordonedAt;
    // The timeout counts from the cordon (it survives a restart), but a fresh process tries the
    // Eviction API once before giving up or deleting: PodDisruptionBudgets are never skipped unasked.
    if (elapsed >= policy.timeoutMs && progress.attempts > 0) {
      const stuck = [...toEvict, ...terminating].map(podName);
      if (policy.onTimeout === 'fail') {
        return {
          kind: 'failed',
          reason: 'DrainTimeout',
          message: `drain of ${node} did not finish within ${Math.round(policy.timeoutMs / 1000)}s: ${listNames(stuck)} still on the node${progress.lastRefusal ? ` (last refusal: ${progress.lastRefusal})` : ''}; drain.onTimeout is fail, so the node is marked failed and uncordoned`,
        };
      }
      const deleted: string[] = [];
      for (const p of toEvict) {
        try {
          await this.client.delete(apiPath('v1', 'pods', { namespace: p.metadata.namespace, name: p.metadata.name }));
          deleted.push(podName(p));
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      return { kind: 'forced', deleted, retryAfterMs: 500 };
    }

    const refused: string[] = [];
    const evicted: string[] = [];
    for (const p of toEvict) {
      try {
        await this.client.post(apiPath('v1', 'pods', { namespace: p.metadata.namespace, name: p.metadata.name, subresource: 'eviction' }), {
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name: p.metadata.name, namespace: p.metadata.namespace },
        });
        evicted.push(podName(p));
      } catch (err) {
        if (isNotFound(err)) continue;
        if (isTooManyRequests(err) || (err instanceof ApiError && err.status === 500 && /disruption budget/i.test(err.message))) {
          refused.push(podName(p));
          progress.lastRefusal = `${podName(p)}: ${err instanceof ApiError ? err.message.replace(/^POST \S+: /, '') : String(err)}`;
          continue;
        }
        throw err;
      }
    }
    progress.attempts++;
    // Back off while budgets refuse, but wake up in time for the timeout.
    const backoff = refused.length > 0 ? Math.min(30_000, 1000 * 2 ** Math.min(progress.attempts - 1, 5)) : 500;
    const remaining = Math.max(0, policy.timeoutMs - elapsed);
    const message =
      refused.length > 0
        ? `eviction of ${listNames(refused)} refused (${progress.lastRefusal ?? 'PodDisruptionBudget'}); retrying for up to ${Math.round(remaining / 1000)}s more`
        : `waiting for ${toEvict.length + terminating.length} pod(s) to terminate`;
    return { kind: 'waiting', retryAfterMs: Math.min(backoff, Math.max(remaining, 50)), message, refused, evicted };
  }
}
