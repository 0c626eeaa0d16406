import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { OSNode, OSNodeStatus } from '../api/resources.js';
import { readBootState, simulateGrubBoot } from './bootloader.js';
import { startAgent, type AgentHandle } from './daemon.js';
import { readGrubEnvFile, writeGrubEnvFile } from './grubenv.js';
import { commandSucceeds, type HealthCheck, httpGetOk, parseDuration, parseHealthCheckFlag, parseHealthConfig, runHealthChecks } from './health.js';
import { createHost, type Host } from './host.js';
import { runAgent, USAGE } from './main.js';
import type { OSNodeClient } from './osnode-client.js';
import { readSlots, writeSlots } from './slots.js';
import { memoryClient, until, upgradeOSNode } from './testing/memory-osnode.js';
import { cleanupTempDirs, createSandbox, type ImageServer, type Sandbox, startImageServer, tempDir } from './testing/sandbox.js';

afterAll(cleanupTempDirs);

const fast = { attempts: 1, intervalMs: 10, timeoutMs: 2000 };

describe('health check configuration', () => {
  it('parses durations operators write', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('7')).toBe(7000); // bare number: seconds
    for (const bad of ['', 's', '10 seconds', '5x', '0s', '-1s']) expect(() => parseDuration(bad), bad).toThrow(/duration/);
  });

  it('parses --health-check NAME[@TIMEOUT]=http(s)://… and =exec:…', () => {
    const h = parseHealthCheckFlag('kubelet@5s=http://127.0.0.1:10248/healthz');
    expect(h).toMatchObject({ name: 'kubelet', timeoutMs: 5000 });
    expect(parseHealthCheckFlag('api=https://10.0.0.1:6443/readyz')).toMatchObject({ name: 'api' });
    expect(parseHealthCheckFlag('api=https://10.0.0.1:6443/readyz').timeoutMs).toBeUndefined();
    expect(parseHealthCheckFlag('containerd@1m=exec:chroot /host systemctl is-active --quiet containerd')).toMatchObject({ name: 'containerd', timeoutMs: 60_000 });
  });

  it.each([
    ['kubelet', /expected NAME\[@TIMEOUT\]=http\(s\):\/\/URL or NAME\[@TIMEOUT\]=exec:COMMAND/],
    ['=http://x/', /expected NAME/],
    ['kube let=http://x/', /check name "kube let" must be letters/],
    ['kubelet@soon=http://x/', /timeout "soon" is not a duration/],
    ['kubelet=ftp://x/', /must start with http:\/\/, https:\/\/ or exec:/],
    ['kubelet=exec:   ', /exec: needs a command/],
    ['kubelet=http://[bad/', /is not a URL/],
    ['agent=http://x/', /"agent" is the name of a built-in check/],
  ])('rejects --health-check %j', (spec, why) => {
    expect(() => parseHealthCheckFlag(spec)).toThrow(why);
    expect(() => parseHealthCheckFlag(spec)).toThrow(`--health-check ${JSON.stringify(spec)}`);
  });

  it('reads a JSON file of checks and retry policy; flags add checks and override the policy', () => {
    const text = JSON.stringify({
      checks: [
        { name: 'kubelet', http: 'https://127.0.0.1:10250/healthz', caFile: '/etc/ca.pem', timeout: '5s' },
        { name: 'containerd', exec: ['chroot', '/host', 'crictl', 'info'] },
        { name: 'disk', exec: 'test -d /host/var/lib', timeout: 3 },
      ],
      attempts: 4,
      interval: '1s',
      timeout: '20s',
    });
    const readCa = vi.fn(() => Buffer.from('-----BEGIN CERTIFICATE-----'));
    const cfg = parseHealthConfig({ file: { text, source: 'checks.json' }, readCa });
    expect(cfg.checks.map((c) => [c.name, c.timeoutMs])).toEqual([
      ['kubelet', 5000],
      ['containerd', undefined],
      ['disk', 3000],
    ]);
    expect(readCa).toHaveBeenCalledWith('/etc/ca.pem');
    expect(cfg.options).toEqual({ attempts: 4, intervalMs: 1000, timeoutMs: 20_000 });

    const both = parseHealthConfig({ file: { text, source: 'checks.json' }, readCa, flags: ['extra=exec:true'], attempts: '2', interval: '250ms', timeout: '1s' });
    expect(both.checks.map((c) => c.name)).toEqual(['kubelet', 'containerd', 'disk', 'extra']);
    expect(both.options).toEqual({ attempts: 2, intervalMs: 250, timeoutMs: 1000 });

    expect(parseHealthConfig({ file: { text: '[{"name": "k", "http": "http://x/"}]', source: 'a.json' } }).checks).toHaveLength(1);
    expect(parseHealthConfig({}).options).toEqual({ attempts: 10, intervalMs: 3000, timeoutMs: 10_000 });
  });

  it.each([
    ['{"checks": [', /f\.json: not valid JSON/],
    ['"kubelet"', /f\.json: expected an object with "checks"/],
    ['{"check": []}', /f\.json: unknown field "check"/],
    ['{"checks": {}}', /"checks" must be an array/],
    ['{"checks": [{"name": "k", "url": "http://x/"}]}', /f\.json: checks\[0\]: unknown field "url"/],
    ['{"checks": [{"http": "http://x/"}]}', /checks\[0\]: "name" is required/],
    ['{"checks": [{"name": "k"}]}', /checks\[0\] \(k\): give exactly one of "http" \(a URL\) or "exec" \(a command\)/],
    ['{"checks": [{"name": "k", "http": "http://x/", "exec": ["true"]}]}', /give exactly one of/],
    ['{"checks": [{"name": "k", "exec": []}]}', /"exec" must be a non-empty array of strings/],
    ['{"checks": [{"name": "k", "exec": ["true"], "caFile": "/ca"}]}', /"caFile" applies to "http" checks only/],
    ['{"checks": [{"name": "k", "http": "file:///etc/passwd"}]}', /must be http:\/\/ or https:\/\//],
    ['{"checks": [{"name": "k", "http": "http://x/", "timeout": "later"}]}', /checks\[0\] \(k\): timeout: "later" is not a duration/],
    ['{"checks": [{"name": "k", "http": "http://x/"}, {"name": "k", "exec": ["true"]}]}', /health check "k" is configured twice/],
    ['{"attempts": 0}', /attempts: 0 is not a whole number of at least 1/],
    ['{"checks": [{"name": "kubernetes-api", "http": "http://x/"}]}', /"kubernetes-api" is the name of a built-in check/],
  ])('rejects the file %s', (text, why) => {
    expect(() => parseHealthConfig({ file: { text, source: 'f.json' } })).toThrow(why);
  });

  it('rejects a caFile it cannot read, naming the check', () => {
    const text = '{"checks": [{"name": "kubelet", "http": "https://x/", "caFile": "/nonexistent/ca.pem"}]}';
    expect(() => parseHealthConfig({ file: { text, source: 'f.json' } })).toThrow(/checks\[0\] \(kubelet\): cannot read caFile \/nonexistent\/ca\.pem/);
  });

  it('rejects bad retry flags', () => {
    expect(() => parseHealthConfig({ attempts: 'many' })).toThrow(/--health-check-attempts: "many" is not a whole number/);
    expect(() => parseHealthConfig({ attempts: '0' })).toThrow(/--health-check-attempts: 0/);
    expect(() => parseHealthConfig({ interval: '3' })).not.toThrow();
    expect(() => parseHealthConfig({ timeout: 'never' })).toThrow(/--health-check-timeout: "never" is not a duration/);
  });
});

describe('osfleet agent flags', () => {
  it('documents the health check flags and partition-label lookup in --help', () => {
    for (const flag of ['--health-check NAME[@TIMEOUT]=TARGET', '--health-checks FILE', '--health-check-attempts N', '--health-check-interval DUR', '--health-check-timeout DUR', '--partlabel-dir DIR', 'exec:COMMAND', 'http://URL']) {
      expect(USAGE).toContain(flag);
    }
    expect(USAGE).toMatch(/"agent" \(a GET of this agent's own \/healthz answers 2xx/);
    expect(USAGE).toMatch(/"kubernetes-api"/);
  });

  it('refuses to start with a bad health check configuration, before touching the cluster', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runAgent(['--node-name', 'n1', '--health-check', 'kubelet=ftp://127.0.0.1/'])).toBe(2);
      expect(String(err.mock.calls.at(-1)?.[0])).toMatch(/osfleet agent: health check configuration: --health-check "kubelet=ftp:\/\/127\.0\.0\.1\/": the target must start with/);
      const bad = path.join(tempDir(), 'checks.json');
      writeFileSync(bad, '{"checks": [{"name": "k", "exec": "true", "http": "http://x/"}]}');
      expect(await runAgent(['--node-name', 'n1', '--health-checks', bad])).toBe(2);
      expect(String(err.mock.calls.at(-1)?.[0])).toContain(`${bad}: checks[0] (k): give exactly one of`);
      expect(await runAgent(['--node-name', 'n1', '--health-checks', '/nonexistent/checks.json'])).toBe(2);
      expect(String(err.mock.calls.at(-1)?.[0])).toMatch(/ENOENT/);
      expect(await runAgent(['--node-name', 'n1', '--health-addr', 'localhost'])).toBe(2);
      expect(String(err.mock.calls.at(-1)?.[0])).toContain('--health-addr localhost: expected host:port, :port or "off"');
    } finally {
      err.mockRestore();
    }
  });
});

describe('health checks against real servers and commands', () => {
  let server: http.Server;
  let base = '';
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/ok') res.writeHead(200).end('ok');
      else if (req.url === '/empty') res.writeHead(204).end();
      else if (req.url === '/moved') res.writeHead(302, { location: '/ok' }).end();
      else if (req.url === '/forbidden') res.writeHead(403).end();
      else if (req.url === '/down') res.writeHead(503).end('starting');
      // '/hang': never answers
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('an HTTP check passes only on 2xx, and says what it got otherwise', async () => {
    const r = await runHealthChecks(
      [httpGetOk('ok', `${base}/ok`), httpGetOk('empty', `${base}/empty`), httpGetOk('moved', `${base}/moved`), httpGetOk('forbidden', `${base}/forbidden`), httpGetOk('down', `${base}/down`), httpGetOk('gone', 'http://127.0.0.1:1/x')],
      fast,
    );
    expect(r.ok).toBe(false);
    expect(r.failures).toEqual([
      `moved: GET ${base}/moved answered 302 (a redirect to /ok; redirects are not followed, give the final URL)`,
      `forbidden: GET ${base}/forbidden answered 403, expected 2xx`,
      `down: GET ${base}/down answered 503, expected 2xx`,
      expect.stringMatching(/^gone: http:\/\/127\.0\.0\.1:1\/x unreachable: .*ECONNREFUSED/),
    ]);
    expect(await runHealthChecks([parseHealthCheckFlag(`ok=${base}/ok`), parseHealthCheckFlag(`empty=${base}/empty`)], fast)).toEqual({ ok: true, failures: [] });
  });

  it('an HTTP check that gets no answer fails at its own timeout', async () => {
    const t0 = Date.now();
    const r = await runHealthChecks([parseHealthCheckFlag(`slow@300ms=${base}/hang`)], { ...fast, timeoutMs: 10_000 });
    expect(r).toEqual({ ok: false, failures: ['slow: no answer within 300 ms'] });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('a command check passes on exit 0, fails with the exit code and its last output line', async () => {
    const r = await runHealthChecks(
      [
        parseHealthCheckFlag('yes=exec:true'),
        commandSucceeds('kubelet', ['sh', '-c', 'echo checking; echo "kubelet is not running" >&2; exit 3']),
        parseHealthCheckFlag('missing=exec:/nonexistent/check'),
      ],
      fast,
    );
    expect(r.failures).toEqual([
      'kubelet: "sh -c echo checking; echo "kubelet is not running" >&2; exit 3" exited with code 3: kubelet is not running',
      expect.stringMatching(/^missing: cannot run "\/nonexistent\/check": spawn \/nonexistent\/check ENOENT/),
    ]);
  });

  it('a command that overruns its timeout is killed and reported', async () => {
    const pidFile = path.join(tempDir(), 'pid');
    const t0 = Date.now();
    const r = await runHealthChecks([commandSucceeds('hung', ['sh', '-c', `echo $$ > ${pidFile}; exec sleep 30`], { timeoutMs: 400 })], fast);
    expect(r).toEqual({ ok: false, failures: ['hung: no answer within 400 ms'] });
    expect(Date.now() - t0).toBeLessThan(3000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    // The sleep is gone: waited for, not assumed after a pause.
    const gone = () => {
      try {
        process.kill(pid, 0);
        return undefined;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code;
      }
    };
    expect(await until('the overrunning command to be gone', gone, 10_000)).toBe('ESRCH');
  });

  it('repeats a failing check until it passes within the attempts', async () => {
    const marker = path.join(tempDir(), 'kubelet-up');
    let round = 0;
    const counting: HealthCheck = { name: 'count', check: async () => void round++ };
    const p = runHealthChecks([counting, parseHealthCheckFlag(`kubelet=exec:test -e ${marker}`)], { attempts: 20, intervalMs: 50, timeoutMs: 2000 });
    setTimeout(() => writeFileSync(marker, ''), 250);
    expect(await p).toEqual({ ok: true, failures: [] });
    expect(round).toBe(1); // a passing check is not run again
    rmSync(marker);
    expect(await runHealthChecks([parseHealthCheckFlag(`kubelet=exec:test -e ${marker}`)], { attempts: 3, intervalMs: 10 })).toEqual({
      ok: false,
      failures: [`kubelet: "test -e ${marker}" exited with code 1`],
    });
  });
});

// ---------------------------------------------------------------------------
// The reconcile loop with configured checks: an in-memory OSNode instead of the apiserver (the
// integration test runs the same with the real one), the real host code on a sandbox.

describe('the agent with configured health checks across simulated reboots', () => {
  let images: ImageServer;
  const v1 = randomBytes(1 << 20);
  const v2 = randomBytes(2 << 20);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const logger = pino({ level: 'silent' });

  beforeAll(async () => {
    const www = tempDir();
    writeFileSync(path.join(www, 'v2.img'), v2);
    images = await startImageServer(www);
  });
  afterAll(() => images.close());

  interface Machine {
    sb: Sandbox;
    host: Host;
    client: ReturnType<typeof memoryClient>;
    reboots: number;
    agent?: AgentHandle;
    flags: string[];
  }

  async function machine(flags: string[]): Promise<Machine> {
    const sb = createSandbox({ booted: 'A' });
    writeFileSync(await createHost(sb.config).slotDevicePath('A'), v1);
    await writeSlots(sb.config.persistDir, { version: 1, slots: { A: { version: '1.0', sha256: sha(v1), size: v1.length } } });
    const m: Machine = {
      sb,
      host: createHost(sb.config),
      client: memoryClient(upgradeOSNode({ version: '2.0', url: `${images.url}/v2.img`, sha256: sha(v2), size: v2.length })),
      reboots: 0,
      flags,
    };
    m.host = { ...createHost(sb.config), reboot: async () => void m.reboots++ };
    return m;
  }

  /** A boot of the machine: the agent process starts with the operator's flags. */
  function boot(m: Machine): void {
    const health = parseHealthConfig({ flags: m.flags, attempts: '2', interval: '50ms', timeout: '2s' });
    m.agent = startAgent({ nodeName: 'n1', host: m.host, client: m.client, logger, healthChecks: health.checks, healthOptions: health.options, resyncMs: 3_600_000 });
  }

  /** The machine goes down and GRUB picks the slot from the env block. */
  async function reboot(m: Machine): Promise<string> {
    await m.agent!.stop();
    const r = simulateGrubBoot(await readGrubEnvFile(m.sb.config.grubenvPath));
    await writeGrubEnvFile(m.sb.config.grubenvPath, r.newEnv);
    m.sb.boot(r.cmdline);
    boot(m);
    return r.bootedSlot;
  }

  it('a failing command check keeps the new slot from becoming permanent: fallback reboot, RolledBack with the reason', async () => {
    const dir = tempDir();
    const check = path.join(dir, 'kubelet-check.sh');
    writeFileSync(check, `#!/bin/sh\ntest -e ${dir}/kubelet-up || { echo "kubelet is not running on this slot" >&2; exit 1; }\n`);
    writeFileSync(path.join(dir, 'kubelet-up'), '');
    const m = await machine([`kubelet@2s=exec:/bin/sh ${check}`]);
    boot(m);
    await until('the reboot into slot B', () => m.reboots === 1);
    expect(await readBootState(m.sb.config.grubenvPath)).toMatchObject({ saved: 'A', next: 'B' });

    rmSync(path.join(dir, 'kubelet-up')); // the new slot's kubelet does not come up
    expect(await reboot(m)).toBe('B');
    await until('the fallback reboot', () => m.reboots === 2);
    // Never made permanent, and disarmed: whatever happens next, GRUB boots A.
    expect(await readBootState(m.sb.config.grubenvPath)).toMatchObject({ saved: 'A', next: undefined });
    const onB = m.client.statuses.filter((s) => s.bootedSlot === 'B');
    expect(onB.map((s) => s.phase)).toEqual(['Verifying', 'Rebooting']);
    expect(onB[1]!.message).toContain(`failed its health checks (kubelet: "/bin/sh ${check}" exited with code 1: kubelet is not running on this slot)`);

    expect(await reboot(m)).toBe('A');
    await until('RolledBack', () => m.client.node.status?.phase === 'RolledBack');
    await m.agent!.settled();
    const why = `The node was set to boot slot B (version 2.0) once; it booted but failed its health checks (kubelet: "/bin/sh ${check}" exited with code 1: kubelet is not running on this slot), so GRUB fell back to slot A (version 1.0).`;
    expect(m.client.statuses.find((x) => x.phase === 'RolledBack')!.message).toBe(why);
    const s = m.client.node.status!;
    expect(s).toMatchObject({ phase: 'RolledBack', bootedSlot: 'A', message: `${why} Set a different target version to try again.` });
    expect(s.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'FellBack' });
    expect((await readSlots(m.sb.config.persistDir)).lastFailure).toMatchObject({ kind: 'RolledBack', version: '2.0' });
    await m.agent!.stop();
    expect(m.reboots).toBe(2);
  });

  it('passing checks (HTTP 2xx and a command) make the new slot permanent: Verifying, then Done', async () => {
    const ok = http.createServer((_req, res) => res.writeHead(200).end('ok'));
    await new Promise<void>((r) => ok.listen(0, '127.0.0.1', r));
    try {
      const m = await machine([`kubelet=http://127.0.0.1:${(ok.address() as AddressInfo).port}/healthz`, 'runtime=exec:true']);
      boot(m);
      await until('the reboot into slot B', () => m.reboots === 1);
      expect(await reboot(m)).toBe('B');
      const s = await until('Done', () => (m.client.node.status?.phase === 'Done' ? m.client.node.status : undefined));
      expect(s.bootedSlot).toBe('B');
      expect(m.client.statuses.filter((x) => x.bootedSlot === 'B').map((x) => x.phase)).toEqual(['Verifying', 'Verifying', 'Done']);
      expect(await readBootState(m.sb.config.grubenvPath)).toMatchObject({ saved: 'B', next: undefined });
      await m.agent!.stop();
      expect(m.reboots).toBe(1);
    } finally {
      ok.closeAllConnections();
      await new Promise((r) => ok.close(r));
    }
  });

  it('an unhealthy HTTP check also falls back', async () => {
    const down = http.createServer((_req, res) => res.writeHead(503).end());
    await new Promise<void>((r) => down.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(down.address() as AddressInfo).port}/healthz`;
    try {
      const m = await machine([`kubelet=${url}`]);
      // Healthy for the first boot: the check only runs on the new slot anyway.
      boot(m);
      await until('the reboot into slot B', () => m.reboots === 1);
      expect(await reboot(m)).toBe('B');
      await until('the fallback reboot', () => m.reboots === 2);
      expect(await reboot(m)).toBe('A');
      const s = await until('RolledBack', () => (m.client.node.status?.phase === 'RolledBack' ? m.client.node.status : undefined));
      expect(s.message).toContain(`failed its health checks (kubelet: GET ${url} answered 503, expected 2xx)`);
      expect(await readBootState(m.sb.config.grubenvPath)).toMatchObject({ saved: 'A' });
      await m.agent!.stop();
      expect(m.reboots).toBe(2);
    } finally {
      down.closeAllConnections();
      await new Promise((r) => down.close(r));
    }
  });
});
