// The alerting rules shipped in deploy/monitoring/ and the metric names their expressions use.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from './binaries.js';

export const MONITORING_DIR = join(repoRoot, 'deploy/monitoring');
export const RULES_FILE = join(MONITORING_DIR, 'osfleet-alerts.rules.yaml');

export function ruleMetricNames(file = RULES_FILE): string[] {
  const doc = parseYaml(readFileSync(file, 'utf8')) as { groups: Array<{ rules: Array<{ expr: string }> }> };
  const names = doc.groups.flatMap((g) => g.rules.flatMap((r) => r.expr.match(/\bosfleet_[a-z_]+/g) ?? []));
  return [...new Set(names)].sort();
}
