// `npm run sandbox [-- --fast N] [--port N] [--start ISO8601] [--agent-delay MS]`: see sandbox.ts.
// Prints where the dashboard is, which kubectl to use and how to push; Ctrl-C stops everything.
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { startSandbox } from './sandbox.js';

const USAGE = `usage: npm run sandbox -- [--fast N] [--port N] [--start ISO8601] [--agent-delay MS]

  --fast N          run the rollout clock N times faster than real time (e.g. 600: ten minutes a second)
  --start ISO8601   where the clock starts (default: now)
  --port N          dashboard port on 127.0.0.1 (default 8765; 0 = any free port)
  --agent-delay MS  how long a simulated agent takes per step (default 1500)
  --no-open         do not try to open a browser
`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      fast: { type: 'string' },
      start: { type: 'string' },
      port: { type: 'string' },
      'agent-delay': { type: 'string' },
      'no-open': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const speed = values.fast === undefined ? 1 : Number(values.fast);
  const start = values.start === undefined ? Date.now() : Date.parse(values.start);
  const port = values.port === undefined ? 8765 : Number(values.port);
  const agentDelayMs = values['agent-delay'] === undefined ? 1500 : Number(values['agent-delay']);
  if (!(speed >= 1) || Number.isNaN(start) || !Number.isInteger(port) || !(agentDelayMs >= 0)) {
    process.stderr.write(USAGE);
    return 2;
  }
  const say = (l: string) => process.stdout.write(`${l}\n`);
  const sb = await startSandbox({ speed, start, port, agentDelayMs }, say);
  say('');
  say(`osfleet sandbox is up${speed > 1 ? ` (clock ×${speed}, now ${new Date(sb.clock.now()).toISOString()})` : ''}.`);
  say(`  dashboard: ${sb.dashboardUrl}`);
  say(`  kubectl:   ${sb.kubectl} --kubeconfig ${sb.kubeconfig} get fleetsources,os,osnodes`);
  say(`             (or: export KUBECONFIG=${sb.kubeconfig})`);
  say(`  status:    npx tsx test/harness/osfleet-cli.ts status --kubeconfig ${sb.kubeconfig} --clock-file ${sb.clock.file} --watch`);
  say(`  git:       cd ${sb.workDir}  # a clone of examples/gitrepo; edit, then`);
  say(`             git commit -am 'bump' && git push origin HEAD:main   # polled every 10 s`);
  say(`             (or: git clone ${sb.cloneUrl})`);
  say('Ctrl-C stops everything.');
  if (!values['no-open'] && (process.env.DISPLAY || process.env.WAYLAND_DISPLAY)) {
    spawn('xdg-open', [sb.dashboardUrl], { stdio: 'ignore', detached: true }).on('error', () => undefined).unref();
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  say('stopping …');
  await sb.stop();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sandbox failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  },
);
