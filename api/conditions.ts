// Kubernetes-convention conditions: set one, keeping lastTransitionTime when the status did not change.
import type { Condition } from './common.js';

export type ConditionStatus = Condition['status'];

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
}

/**
 * Returns a new list with `next` set. lastTransitionTime moves only when the status flips,
 * so a reconcile that finds nothing new writes an identical list (and so no API write).
 */
export function setCondition(list: readonly Condition[] | undefined, next: ConditionInput, now: Date): Condition[] {
  const current = (list ?? []).find((c) => c.type === next.type);
  const condition: Condition = {
    type: next.type,
    status: next.status,
    reason: next.reason,
    message: next.message,
    ...(next.observedGeneration !== undefined ? { observedGeneration: next.observedGeneration } : {}),
    lastTransitionTime: current && current.status === next.status ? current.lastTransitionTime : now.toISOString(),
  };
  const others = (list ?? []).filter((c) => c.type !== next.type);
  return [...others, condition].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

export function findCondition(list: readonly Condition[] | undefined, type: string): Condition | undefined {
  return (list ?? []).find((c) => c.type === type);
}

/** True when `next` would change the condition of its type (status, reason, message or generation). */
export function conditionChanged(list: readonly Condition[] | undefined, next: ConditionInput): boolean {
  const c = findCondition(list, next.type);
  return !c || c.status !== next.status || c.reason !== next.reason || c.message !== next.message || c.observedGeneration !== next.observedGeneration;
}
