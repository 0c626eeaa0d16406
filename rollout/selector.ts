// Kubernetes LabelSelector matching (matchLabels + matchExpressions), with the API server's semantics:
// all requirements must hold; NotIn and DoesNotExist match nodes without the key; {} selects every
// node; an absent selector selects none.

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement {
  key: string;
  operator: SelectorOperator;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export type Labels = Readonly<Record<string, string>>;
export type LabelMatcher = (labels: Labels) => boolean;

/** Problems that make a selector unusable, worded for people; empty when it is valid. */
export function validateSelector(sel: LabelSelector | undefined | null): string[] {
  if (sel === undefined || sel === null) return [];
  const errors: string[] = [];
  for (const [i, r] of (sel.matchExpressions ?? []).entries()) {
    const where = `matchExpressions[${i}]`;
    if (typeof r.key !== 'string' || r.key === '') errors.push(`${where}: key is required`);
    switch (r.operator) {
      case 'In':
      case 'NotIn':
        if (!r.values || r.values.length === 0) errors.push(`${where}: operator ${r.operator} needs at least one value`);
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (r.values && r.values.length > 0) errors.push(`${where}: operator ${r.operator} takes no values; remove them`);
        break;
      default:
        errors.push(`${where}: operator "${String(r.operator)}" is unknown; use In, NotIn, Exists or DoesNotExist`);
    }
  }
  return errors;
}

/** Compiles a selector into a matcher; throws when the selector is invalid. */
export function selectorMatcher(sel: LabelSelector | undefined | null): LabelMatcher {
  if (sel === undefined || sel === null) return () => false;
  const errors = validateSelector(sel);
  if (errors.length > 0) throw new Error(`invalid label selector: ${errors.join('; ')}`);
  const tests: LabelMatcher[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    tests.push((l) => Object.prototype.hasOwnProperty.call(l, k) && l[k] === v);
  }
  for (const r of sel.matchExpressions ?? []) {
    const key = r.key;
    const values = new Set(r.values ?? []);
    const has = (l: Labels) => Object.prototype.hasOwnProperty.call(l, key);
    switch (r.operator) {
      case 'In':
        tests.push((l) => has(l) && values.has(l[key]!));
        break;
      case 'NotIn':
        tests.push((l) => !has(l) || !values.has(l[key]!));
        break;
      case 'Exists':
        tests.push(has);
        break;
      case 'DoesNotExist':
        tests.push((l) => !has(l));
        break;
    }
  }
  if (tests.length === 0) return () => true;
  return (labels) => {
    for (const t of tests) if (!t(labels)) return false;
    return true;
  };
}

/** Whether `labels` satisfy `sel` (throws on an invalid selector). */
export function matchesSelector(sel: LabelSelector | undefined | null, labels: Labels): boolean {
  return selectorMatcher(sel)(labels);
}
