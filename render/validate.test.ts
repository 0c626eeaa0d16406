// One test per validation rule: GIVEN a small repository, WHEN it is validated, THEN the exact
// `file:line:col: severity: message` line is reported (pointing at the offending key or value).
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from './diagnostics.js';
import { validate } from './validate.js';
import { parseFile } from './parse.js';

const enc = new TextEncoder();
const SHA = 'a'.repeat(64);

/** A document whose spec lines start at line 6 (spec line i is at line 6 + i). */
function doc(kind: string, name: string, spec: string[]): string {
  return ['apiVersion: osfleet.dev/v1alpha1', `kind: ${kind}`, 'metadata:', `  name: ${name}`, 'spec:', ...spec.map((l) => `  ${l}`)].join('\n') + '\n';
}

/** Line and column of `needle` in spec line `i` of a `doc()` (1-based; the 2-space indent included). */
function at(spec: string[], i: number, needle: string): string {
  const col = spec[i]!.indexOf(needle);
  if (col < 0) throw new Error(`needle ${needle} not in ${spec[i]}`);
  return `${6 + i}:${col + 3}`;
}

const OS_SPEC = ['version: "1.0"', 'image:', '  url: https://images.example.com/os-1.img', `  sha256: ${SHA}`];
const POLICY_SPEC = ['nodeSelector: {matchLabels: {role: worker}}', 'osVersion: os-1', 'maintenanceWindows:', '  - {schedule: "0 2 * * *", duration: 4h, timeZone: UTC}'];

/** Every diagnostic line of a repository made of `files` plus a valid OSVersion `os-1` in versions.yaml. */
function lines(files: Record<string, string>, withBase = true): string[] {
  const all: Record<string, string> = withBase ? { 'versions.yaml': doc('OSVersion', 'os-1', OS_SPEC), ...files } : files;
  const v = validate(Object.entries(all).map(([path, t]) => ({ path, bytes: enc.encode(t) })));
  return [...v.errors, ...v.warnings].map(formatDiagnostic);
}

function policy(spec: string[], name = 'workers'): string {
  return doc('RolloutPolicy', name, spec);
}

function withStrategy(strategy: string[]): string[] {
  return [...POLICY_SPEC, 'strategy:', ...strategy.map((l) => `  ${l}`)];
}

describe('a valid repository', () => {
  it('reports nothing for a policy, its OSVersion and a NodeSettings', () => {
    expect(lines({ 'p.yaml': policy(POLICY_SPEC), 's.yaml': doc('NodeSettings', 'base', ['nodeSelector: {}', 'sysctl:', '  net.core.somaxconn: "4096"']) })).toEqual([]);
  });
});

describe('YAML itself', () => {
  it('reports a syntax error at its line and column', () => {
    expect(lines({ 'bad.yaml': 'a: [1, 2\nb: 3\n' }, false)[0]).toMatch(/^bad\.yaml:2:1: error: YAML syntax error: .*; /);
  });

  it('reports a duplicate key at the repeated key', () => {
    const spec = ['version: "1.0"', 'version: "2.0"', 'image:', '  url: https://x.example.com/a.img', `  sha256: ${SHA}`];
    expect(lines({ 'v.yaml': doc('OSVersion', 'os-1', spec) }, false)).toEqual([
      `v.yaml:${at(spec, 1, 'version')}: error: duplicate key "version": each key may appear only once in a mapping; remove or merge the repeated one`,
    ]);
  });

  it('refuses an alias bomb without expanding it', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 7; i++) bomb.push(`${'abcdefgh'[i]}: &${'abcdefgh'[i]} [${Array(10).fill(`*${'abcdefgh'[i - 1]}`).join(', ')}]`);
    expect(lines({ 'bomb.yaml': bomb.join('\n') + '\n' }, false)).toEqual([
      'bomb.yaml:2:8: error: document refused: its aliases (*name) would expand to more than 50000 nodes or use more than 100 aliases; write the values out instead of aliasing them',
    ]);
  });

  it('refuses a file over 1 MiB without parsing it', () => {
    const r = parseFile({ path: 'big.yaml', bytes: new Uint8Array(1024 * 1024 + 1).fill(0x20) });
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      'big.yaml:1:1: error: file is 1048577 bytes, over the 1 MiB limit for a repository file; split it into several files',
    ]);
    expect(r.documents).toEqual([]);
  });

  it('refuses a file that is not UTF-8, pointing at the first bad byte', () => {
    const bytes = new Uint8Array([...enc.encode('kind: OSVersion\nname: caf'), 0xe9, ...enc.encode('\n')]);
    expect(parseFile({ path: 'latin1.yaml', bytes }).diagnostics.map(formatDiagnostic)).toEqual([
      'latin1.yaml:2:10: error: file is not valid UTF-8 (byte 0xe9); save it as UTF-8',
    ]);
  });

  it('skips empty documents and comment-only files', () => {
    expect(lines({ 'empty.yaml': '# nothing here\n---\n---\n', 'p.yaml': `---\n${policy(POLICY_SPEC)}` })).toEqual([]);
  });
});

describe('document envelope', () => {
  it('reports an unknown apiVersion at its value', () => {
    const text = policy(POLICY_SPEC).replace('osfleet.dev/v1alpha1', 'osfleet.dev/v1');
    expect(lines({ 'p.yaml': text })).toEqual(['p.yaml:1:13: error: apiVersion: unknown apiVersion "osfleet.dev/v1"; osfleet documents use "osfleet.dev/v1alpha1"']);
  });

  it('reports an unknown kind with a did-you-mean', () => {
    expect(lines({ 's.yaml': doc('NodeSetting', 'base', ['nodeSelector: {}']) })).toEqual(['s.yaml:2:7: error: kind: unknown kind "NodeSetting"; did you mean "NodeSettings"?']);
  });

  it('explains that cluster kinds do not belong in the repository', () => {
    expect(lines({ 'o.yaml': doc('OS', 'x', ['nodeSelector: {}']) })).toEqual([
      'o.yaml:2:7: error: kind: unknown kind "OS"; OS objects live in the cluster, the repository holds OSVersion, NodeSettings, RolloutPolicy',
    ]);
  });

  it('reports a document that is not a mapping', () => {
    expect(lines({ 'l.yaml': '- a\n- b\n' }, false)).toEqual(['l.yaml:1:1: error: a document must be a mapping with apiVersion, kind, metadata and spec, got a list']);
  });

  it('reports a missing required field at the key of the mapping that lacks it', () => {
    const spec = ['nodeSelector: {}', 'maintenanceWindows:', '  - {schedule: "0 2 * * *", duration: 4h}'];
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([
      'p.yaml:5:1: error: spec: missing required field "osVersion" (metadata.name of the OSVersion these nodes run)',
    ]);
  });

  it('reports a missing spec at the document start', () => {
    expect(lines({ 'x.yaml': 'apiVersion: osfleet.dev/v1alpha1\nkind: OSVersion\nmetadata: {name: x}\n' }, false)).toEqual(['x.yaml:1:1: error: document: missing required field "spec"']);
  });

  it('reports a wrong type at the value, with the quoting fix', () => {
    const spec = ['version: 24.10', ...OS_SPEC.slice(1)];
    expect(lines({ 'v.yaml': doc('OSVersion', 'os-2', spec) })).toEqual([
      `v.yaml:${at(spec, 0, '24.10')}: error: spec.version: must be a string, got a number (24.10); put it in quotes: "24.10"`,
    ]);
  });

  it('reports an unknown field at its key, with a did-you-mean', () => {
    const spec = withStrategy(['batchs: [1, "100%"]']);
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([`p.yaml:${at(spec, 5, 'batchs')}: error: spec.strategy.batchs: unknown field "batchs"; did you mean "batches"?`]);
  });

  it('lists the known fields when an unknown one is not close to any', () => {
    const spec = [...OS_SPEC, 'colour: blue'];
    expect(lines({ 'v.yaml': doc('OSVersion', 'os-2', spec) })).toEqual([
      `v.yaml:${at(spec, 4, 'colour')}: error: spec.colour: unknown field "colour"; known fields here: version, image, releaseNotes, description`,
    ]);
  });

  it('reports an enum value with a did-you-mean', () => {
    const spec = [...POLICY_SPEC, 'drain: {onTimeout: forse}'];
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([`p.yaml:${at(spec, 4, 'forse')}: error: spec.drain.onTimeout: must be one of "fail", "force", got "forse"; did you mean "force"?`]);
  });
});

describe('names', () => {
  it('reports a metadata.name that is not a DNS-1123 subdomain, with a valid suggestion', () => {
    expect(lines({ 'p.yaml': policy(POLICY_SPEC, 'Workers_EU') })).toEqual([
      'p.yaml:4:9: error: metadata.name: must be a DNS-1123 name: lowercase letters, digits, "-" and ".", starting and ending with a letter or digit, got "Workers_EU"; for example "workers-eu"',
    ]);
  });

  it('reports the same kind and name twice, naming both places', () => {
    const other = ['nodeSelector: {matchLabels: {role: db}}', ...POLICY_SPEC.slice(1)];
    expect(lines({ 'a.yaml': policy(POLICY_SPEC), 'b.yaml': policy(other) })).toEqual([
      'b.yaml:4:9: error: metadata.name: RolloutPolicy "workers" is defined twice, here and at a.yaml:4:9; names must be unique per kind — rename or remove one',
    ]);
  });

  it('allows the same name for different kinds', () => {
    expect(lines({ 'p.yaml': policy(POLICY_SPEC, 'os-1') })).toEqual([]);
  });
});

describe('OSVersion', () => {
  it('reports a sha256 that is not 64 hex characters', () => {
    const spec = [...OS_SPEC.slice(0, 3), '  sha256: 9f86d081'];
    expect(lines({ 'v.yaml': doc('OSVersion', 'os-2', spec) })).toEqual([
      `v.yaml:${at(spec, 3, '9f86')}: error: spec.image.sha256: must be a sha256 digest: 64 lowercase hexadecimal characters, got "9f86d081" (got 8 characters)`,
    ]);
  });

  it('asks for lowercase when the digest is upper-case hex', () => {
    const spec = [...OS_SPEC.slice(0, 3), `  sha256: ${'A'.repeat(64)}`];
    expect(lines({ 'v.yaml': doc('OSVersion', 'os-2', spec) })[0]).toMatch(/spec\.image\.sha256: .*; write it in lowercase$/);
  });

  it('reports an image URL whose scheme is not http or https', () => {
    const spec = [OS_SPEC[0]!, 'image:', '  url: ftp://images.example.com/os.img', `  sha256: ${SHA}`];
    expect(lines({ 'v.yaml': doc('OSVersion', 'os-2', spec) })).toEqual([`v.yaml:${at(spec, 2, 'ftp')}: error: spec.image.url: URL scheme must be http or https, got "ftp"`]);
  });

  it('reports an image URL that is not a URL', () => {
    const spec = [OS_SPEC[0]!, 'image:', '  url: images/os.img', `  sha256: ${SHA}`];
    expect(lines({ 'v.yaml': doc('OSVersion', 'os-2', spec) })).toEqual([`v.yaml:${at(spec, 2, 'images')}: error: spec.image.url: "images/os.img" is not a URL; write a full http:// or https:// address`]);
  });
});

describe('RolloutPolicy', () => {
  it('reports an osVersion naming no OSVersion, with a did-you-mean', () => {
    const spec = [POLICY_SPEC[0]!, 'osVersion: os-l', ...POLICY_SPEC.slice(2)];
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([`p.yaml:${at(spec, 1, 'os-l')}: error: spec.osVersion: no OSVersion named "os-l"; did you mean "os-1"?`]);
  });

  it('reports empty batches', () => {
    const spec = withStrategy(['batches: []']);
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([`p.yaml:${at(spec, 5, '[]')}: error: spec.strategy.batches: is empty; list the batches, ending at "100%", e.g. [1, "10%", "100%"]`]);
  });

  it('reports batches that do not increase', () => {
    const spec = withStrategy(['batches: [2, 2, "50%", "30%", "100%"]']);
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([
      `p.yaml:${at(spec, 5, '2, "50%"')}: error: spec.strategy.batches[1]: batches are cumulative and must increase, but 2 is not more than the previous 2`,
      `p.yaml:${at(spec, 5, '"30%"')}: error: spec.strategy.batches[3]: batches are cumulative and must increase, but "30%" is not more than the previous "50%"`,
    ]);
  });

  it('reports a node count after a percent', () => {
    const spec = withStrategy(['batches: ["10%", 5, "100%"]']);
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([
      `p.yaml:${at(spec, 5, '5,')}: error: spec.strategy.batches[1]: a node count (5) cannot follow a percent; put fixed counts (canaries) first, then percents`,
    ]);
  });

  it('reports batches that do not end at "100%"', () => {
    const spec = withStrategy(['batches: [1, "50%"]']);
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([
      `p.yaml:${at(spec, 5, '"50%"')}: error: spec.strategy.batches: the last batch must be "100%" so every selected node is updated, got "50%"; add "100%" at the end`,
    ]);
  });

  it('reports a percent outside 1-100 and a batch of zero nodes', () => {
    const spec = withStrategy(['batches: [0, "150%", "100%"]']);
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([
      `p.yaml:${at(spec, 5, '0,')}: error: spec.strategy.batches[0]: a batch must hold at least 1 node, got 0`,
      `p.yaml:${at(spec, 5, '"150%"')}: error: spec.strategy.batches[1]: a percent must be between 1% and 100%, got "150%"`,
    ]);
  });

  it('reports a percent that is not written as a whole percent', () => {
    const spec = withStrategy(['batches: [1, "12.5%", "100%"]']);
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([
      `p.yaml:${at(spec, 5, '"12.5%"')}: error: spec.strategy.batches[1]: must be a whole number or a percent such as "10%", got "12.5%"; use a whole percent without spaces, e.g. "10%"`,
    ]);
  });

  it('reports maxUnavailable below 1 and 0%', () => {
    const zero = withStrategy(['maxUnavailable: 0']);
    const zeroPct = withStrategy(['maxUnavailable: "0%"']);
    expect(lines({ 'p.yaml': policy(zero) })).toEqual([`p.yaml:${at(zero, 5, '0')}: error: spec.strategy.maxUnavailable: maxUnavailable must be at least 1, got 0`]);
    expect(lines({ 'p.yaml': policy(zeroPct) })).toEqual([`p.yaml:${at(zeroPct, 5, '"0%"')}: error: spec.strategy.maxUnavailable: a percent must be between 1% and 100%, got "0%"`]);
  });

  it('reports a negative failureBudget', () => {
    const spec = withStrategy(['failureBudget: -1']);
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([`p.yaml:${at(spec, 5, '-1')}: error: spec.strategy.failureBudget: failureBudget must not be negative, got -1`]);
  });

  it('reports an unparsable soak duration', () => {
    const spec = withStrategy(['soak: 5 minutes']);
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([
      `p.yaml:${at(spec, 5, '5 minutes')}: error: spec.strategy.soak: must be a duration such as 90s, 30m, 4h or 1h30m, got "5 minutes"; units are ns, us, ms, s, m and h`,
    ]);
  });

  it('reports a cron schedule without 5 fields', () => {
    const spec = [...POLICY_SPEC.slice(0, 3), '  - {schedule: "0 2 * *", duration: 4h}'];
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([
      `p.yaml:${at(spec, 3, '"0 2')}: error: spec.maintenanceWindows[0].schedule: schedule "0 2 * *" has 4 fields; write exactly 5 (minute hour day-of-month month day-of-week), like "0 2 * * 1-5"`,
    ]);
  });

  it('reports an unknown time zone with a did-you-mean', () => {
    const spec = [...POLICY_SPEC.slice(0, 3), '  - {schedule: "0 2 * * *", duration: 4h, timeZone: Europe/Berlni}'];
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([
      `p.yaml:${at(spec, 3, 'Europe')}: error: spec.maintenanceWindows[0].timeZone: time zone "Europe/Berlni" is unknown; use an IANA name like Europe/Berlin or UTC (did you mean Europe/Berlin?)`,
    ]);
  });

  it('reports an unparsable window duration', () => {
    const spec = [...POLICY_SPEC.slice(0, 3), '  - {schedule: "0 2 * * *", duration: 4 hours}'];
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([
      `p.yaml:${at(spec, 3, '4 hours')}: error: spec.maintenanceWindows[0].duration: must be a duration such as 90s, 30m, 4h or 1h30m, got "4 hours"; units are ns, us, ms, s, m and h`,
    ]);
  });

  it('reports a window duration of zero', () => {
    const spec = [...POLICY_SPEC.slice(0, 3), '  - {schedule: "0 2 * * *", duration: 0s}'];
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([
      `p.yaml:${at(spec, 3, '0s')}: error: spec.maintenanceWindows[0].duration: duration "0s" must be longer than zero, like 4h`,
    ]);
  });

  it('reports a maintenance window longer than 168h but allows a long deny window', () => {
    const spec = [...POLICY_SPEC.slice(0, 3), '  - {schedule: "0 2 * * *", duration: 169h}', 'denyWindows:', '  - {schedule: "0 0 20 12 *", duration: 336h}'];
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([
      `p.yaml:${at(spec, 3, '169h')}: error: spec.maintenanceWindows[0].duration: a maintenance window may last at most 168h (one week), not "169h"; shorten it or use a schedule that opens more often`,
    ]);
  });

  it('reports a drain timeout of zero', () => {
    const spec = [...POLICY_SPEC, 'drain: {timeout: 0s}'];
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([`p.yaml:${at(spec, 4, '0s')}: error: spec.drain.timeout: must be longer than zero, e.g. "10m"`]);
  });

  it('reports a selector operator that needs values', () => {
    const spec = ['nodeSelector:', '  matchExpressions:', '    - {key: role, operator: In, values: []}', ...POLICY_SPEC.slice(1)];
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([
      `p.yaml:${at(spec, 2, '[]')}: error: spec.nodeSelector.matchExpressions[0]: operator In needs at least one value`,
    ]);
  });

  it('reports an invalid label key in a selector', () => {
    const spec = ['nodeSelector: {matchLabels: {"-role": worker}}', ...POLICY_SPEC.slice(1)];
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([
      `p.yaml:${at(spec, 0, '"-role"')}: error: spec.nodeSelector.matchLabels["-role"]: invalid label key: a label key is an optional DNS prefix and "/", then up to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit`,
    ]);
  });

  it('reports two policies with identical selectors however they are written', () => {
    const a = ['nodeSelector: {matchLabels: {role: worker}}', ...POLICY_SPEC.slice(1)];
    const b = ['nodeSelector: {matchExpressions: [{key: role, operator: In, values: [worker]}]}', ...POLICY_SPEC.slice(1)];
    expect(lines({ 'a.yaml': policy(a, 'workers-a'), 'b.yaml': policy(b, 'workers-b') })).toEqual([
      'b.yaml:6:3: error: spec.nodeSelector: RolloutPolicy "workers-b" selects exactly the same nodes as RolloutPolicy "workers-a" (a.yaml:6:3); a node follows one policy — merge them or narrow one selector',
    ]);
  });

  it('warns when two policies may select the same nodes', () => {
    const a = ['nodeSelector: {matchLabels: {role: worker}}', ...POLICY_SPEC.slice(1)];
    const b = ['nodeSelector: {matchLabels: {zone: eu}}', ...POLICY_SPEC.slice(1)];
    expect(lines({ 'a.yaml': policy(a, 'workers'), 'b.yaml': policy(b, 'eu') })).toEqual([
      'b.yaml:6:3: warning: spec.nodeSelector: RolloutPolicy "eu" may select the same nodes as RolloutPolicy "workers" (a.yaml:6:3); nodes matched by both are left alone — make the selectors exclusive, e.g. with a NotIn or DoesNotExist expression',
    ]);
  });

  it('does not warn about policies whose selectors exclude each other', () => {
    const a = ['nodeSelector: {matchLabels: {role: worker}}', ...POLICY_SPEC.slice(1)];
    const b = ['nodeSelector: {matchLabels: {role: edge}}', ...POLICY_SPEC.slice(1)];
    expect(lines({ 'a.yaml': policy(a, 'workers'), 'b.yaml': policy(b, 'edge') })).toEqual([]);
  });

  it('warns that a policy without maintenance windows may reboot at any time', () => {
    const spec = POLICY_SPEC.slice(0, 2);
    expect(lines({ 'p.yaml': policy(spec) })).toEqual([
      'p.yaml:5:1: warning: spec: no maintenanceWindows: this policy may drain and reboot nodes at any time of day; add a window to restrict when',
    ]);
  });
});

describe('NodeSettings', () => {
  const settings = (sysctl: string[], extra: string[] = [], name = 'base', selector = 'nodeSelector: {}') =>
    doc('NodeSettings', name, [selector, 'sysctl:', ...sysctl.map((l) => `  ${l}`), ...extra]);
  const sAt = (i: number, col: number) => `${8 + i}:${col}`;

  it.each([
    ['net..core.somaxconn: "1"', 'contains ".."'],
    ['/proc/sys/net/core/somaxconn: "1"', 'starts with "/"; write the dotted form, e.g. net.ipv4.ip_forward'],
    ['.net.core.somaxconn: "1"', 'starts with "."'],
    ['"net.core. somaxconn": "1"', 'contains whitespace'],
  ])('reports the malformed sysctl key %s', (line, why) => {
    const key = line.slice(0, line.lastIndexOf(':'));
    const unquoted = key.replace(/^"|"$/g, '');
    expect(lines({ 's.yaml': settings([line]) })).toEqual([
      `s.yaml:${sAt(0, 5)}: error: spec.sysctl[${JSON.stringify(unquoted)}]: malformed sysctl key: it ${why}; a key is dotted words such as net.core.somaxconn`,
    ]);
  });

  it('reports a sysctl value with a newline', () => {
    expect(lines({ 's.yaml': settings(['net.core.somaxconn: "4096\\n1"']) })).toEqual([
      `s.yaml:${sAt(0, 25)}: error: spec.sysctl["net.core.somaxconn"]: value contains a newline; a sysctl value is one line`,
    ]);
  });

  it('reports a key the catalogue forbids, at the key', () => {
    expect(lines({ 's.yaml': settings(['vm.drop_caches: "3"']) })).toEqual([
      `s.yaml:${sAt(0, 5)}: error: spec.sysctl["vm.drop_caches"]: setting vm.drop_caches is forbidden by osfleet's sysctl catalogue: it is an action, not a setting; persisting it drops the page cache at every boot and every apply; remove it`,
    ]);
  });

  it('reports a value the catalogue marks unsafe, at the value', () => {
    expect(lines({ 's.yaml': settings(['net.ipv4.ip_forward: "0"']) })).toEqual([
      `s.yaml:${sAt(0, 26)}: error: spec.sysctl["net.ipv4.ip_forward"]: net.ipv4.ip_forward=0 is unsafe: pod networking needs IP forwarding (kube-proxy and every CNI route pod traffic through the host); 0 cuts pods off the network; choose another value or remove the key`,
    ]);
  });

  it('reports a value outside the catalogue range', () => {
    expect(lines({ 's.yaml': settings(['vm.swappiness: 300']) })).toEqual([
      `s.yaml:${sAt(0, 20)}: error: spec.sysctl["vm.swappiness"]: invalid value for vm.swappiness: 300 is above the maximum 200 (allowed: 0..200)`,
    ]);
  });

  it('warns about a key the catalogue does not know, with a did-you-mean', () => {
    expect(lines({ 's.yaml': settings(['net.core.somaxcon: "4096"']) })).toEqual([
      `s.yaml:${sAt(0, 5)}: warning: spec.sysctl["net.core.somaxcon"]: net.core.somaxcon is not in osfleet's sysctl catalogue; it will be applied live without range checks; did you mean "net.core.somaxconn"?`,
    ]);
  });

  it.each([
    ['"transparent_hugepage= never"', 'contains whitespace; write each argument as its own list item'],
    ['"console=\'ttyS0\'"', 'contains a quote; kernel arguments are written without quotes'],
    ['"quiet\\nsplash"', 'contains a newline'],
  ])('reports the malformed kernel argument %s', (arg, why) => {
    const text = doc('NodeSettings', 'base', ['nodeSelector: {}', 'kernelArgs:', `  add: [${arg}]`]);
    const shown = JSON.stringify(JSON.parse(arg.replace(/\\n/, '\\n')));
    expect(lines({ 's.yaml': text })).toEqual([`s.yaml:8:11: error: spec.kernelArgs.add[0]: malformed kernel argument ${shown}: it ${why}`]);
  });

  it('reports the same kernel argument in add and remove', () => {
    const text = doc('NodeSettings', 'base', ['nodeSelector: {}', 'kernelArgs:', '  add: [quiet]', '  remove: [quiet]']);
    expect(lines({ 's.yaml': text })).toEqual([
      's.yaml:9:14: error: spec.kernelArgs.remove[0]: "quiet" is also in spec.kernelArgs.add (line 8); an argument cannot be added and removed at once — keep one',
    ]);
  });

  it('reports a kernel argument the catalogue forbids', () => {
    const text = doc('NodeSettings', 'base', ['nodeSelector: {}', 'kernelArgs:', '  add: ["root=/dev/sda2"]']);
    expect(lines({ 's.yaml': text })).toEqual([
      's.yaml:8:11: error: spec.kernelArgs.add[0]: kernel argument "root=/dev/sda2" may not be added from git: selects the root partition; osfleet\'s A/B boot sets it for the slot being booted',
    ]);
  });

  it('reports two NodeSettings setting the same key at the same priority, naming both', () => {
    const a = settings(['net.core.somaxconn: "4096"'], [], 'base');
    const b = settings(['net.core.somaxconn: "8192"'], [], 'tuned', 'nodeSelector: {matchLabels: {role: worker}}');
    expect(lines({ 'a.yaml': a, 'b.yaml': b })).toEqual([
      `b.yaml:${sAt(0, 5)}: error: spec.sysctl["net.core.somaxconn"]: NodeSettings "tuned" sets net.core.somaxconn=8192 and NodeSettings "base" (a.yaml:${sAt(0, 5)}) sets net.core.somaxconn=4096, both at priority 0, for possibly the same nodes; give one a higher priority or make their nodeSelectors exclusive`,
    ]);
  });

  it('accepts the same key at the same priority when the selectors exclude each other', () => {
    const a = settings(['net.core.somaxconn: "4096"'], [], 'eu', 'nodeSelector: {matchLabels: {zone: eu}}');
    const b = settings(['net.core.somaxconn: "8192"'], [], 'us', 'nodeSelector: {matchLabels: {zone: us}}');
    expect(lines({ 'a.yaml': a, 'b.yaml': b })).toEqual([]);
  });

  it('accepts the same key at different priorities', () => {
    const a = settings(['net.core.somaxconn: "4096"'], [], 'base');
    const b = settings(['net.core.somaxconn: "8192"'], ['priority: 10'], 'tuned', 'nodeSelector: {matchLabels: {role: worker}}');
    expect(lines({ 'a.yaml': a, 'b.yaml': b })).toEqual([]);
  });

  it('warns about a selector that can never match', () => {
    const text = doc('NodeSettings', 'base', ['nodeSelector:', '  matchLabels: {role: worker}', '  matchExpressions: [{key: role, operator: DoesNotExist}]', 'sysctl: {net.core.somaxconn: "4096"}']);
    expect(lines({ 's.yaml': text })).toEqual(['s.yaml:6:3: warning: spec.nodeSelector: can never match a node (its requirements contradict each other); this document has no effect']);
  });
});

describe('totality', () => {
  it('reports every error of a revision, across documents and files', () => {
    const bad = [POLICY_SPEC[0]!, 'osVersion: missing', 'strategy: {batches: [], maxUnavailable: 0}'];
    const out = lines({ 'p.yaml': policy(bad), 'q.yaml': doc('NodeSettings', 'Bad', ['nodeSelector: {}', 'sysctl: {vm.swappiness: 300}']) });
    expect(out.filter((l) => l.includes(': error: '))).toHaveLength(5);
  });
});

describe('strict catalogue mode (an allow list)', () => {
  const enc = new TextEncoder();
  const settings = `apiVersion: osfleet.dev/v1alpha1
kind: NodeSettings
metadata:
  name: base
spec:
  nodeSelector: {}
  priority: 0
  sysctl:
    net.core.somaxconn: "4096"
    net.example.not_catalogued: "1"
  kernelArgs:
    add: [quiet, my_driver.option=1]
`;
  const run = (strict: boolean) => validate([{ path: 'settings.yaml', bytes: enc.encode(settings) }], { strict });

  it('by default warns about keys and arguments the catalogue does not know', () => {
    const v = run(false);
    expect(v.errors.map(formatDiagnostic)).toEqual([]);
    expect(v.warnings.map(formatDiagnostic).join('\n')).toContain('net.example.not_catalogued is not in osfleet\'s sysctl catalogue');
  });

  it('in strict mode refuses them, at their line, naming the catalogue file to extend', () => {
    const v = run(true);
    expect(v.errors.map(formatDiagnostic)).toEqual([
      'settings.yaml:10:5: error: spec.sysctl["net.example.not_catalogued"]: net.example.not_catalogued is not in osfleet\'s sysctl catalogue, and strict mode allows only catalogued keys: add it to policies/sysctl-catalogue.yaml or remove it',
      'settings.yaml:12:18: error: spec.kernelArgs.add[1]: kernel argument "my_driver.option=1" is not in osfleet\'s kernel-argument catalogue, and strict mode allows only catalogued arguments: add it to policies/kernel-arg-catalogue.yaml or remove it',
    ]);
  });
});
