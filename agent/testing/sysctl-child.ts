// Test-only child: apply sysctls in whatever network namespace it was started in,
// then print the report, the live values of `read` keys and the apply time as JSON.
import { applySysctls, readSysctl } from '../sysctl.js';

interface Request {
  procSysRoot: string;
  persistDir: string;
  desired: Record<string, string>;
  read?: string[];
}

const req = JSON.parse(process.argv[2] ?? '{}') as Request;
const live = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, readSysctl(req.procSysRoot, k)]));
const before = live(req.read ?? []);
const t0 = process.hrtime.bigint();
try {
  const report = await applySysctls({ procSysRoot: req.procSysRoot, persistDir: req.persistDir }, req.desired);
  const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(JSON.stringify({ report, before, after: live(req.read ?? []), elapsedMs }) + '\n');
} catch (err) {
  process.stdout.write(JSON.stringify({ error: (err as Error).message, before, after: live(req.read ?? []) }) + '\n');
}
