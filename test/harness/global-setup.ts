// Vitest globalSetup for the `integration` project: starts ONE cluster and ONE
// git server for the whole run and tears both down at the end.
//
// How workers get the handles: vitest's provide/inject. setup() calls
// `project.provide('osfleetTestbed', info)` with plain, serialisable data
// (server URLs, file paths, PIDs); test files call `testbed()` from
// test/harness/index.ts, which reads it with `inject('osfleetTestbed')` and
// builds clients from it. Kubeconfigs and certificates are files in the
// cluster's temp dir, so workers (separate processes) can use them directly.
//
// If the Kubernetes binaries are missing this runs hack/build-k8s.sh; if that
// cannot run (e.g. Go is not installed) the run fails with the script's
// message. It never skips.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureK8sBinaries, repoRoot } from './binaries.js';
import { ensureBuilt } from './build.js';
import { Cluster, type ClusterInfo } from './cluster.js';
import { GitServer, type GitServerInfo } from './git-server.js';
import { harnessLog } from './log.js';

export interface TestbedInfo {
  cluster: ClusterInfo;
  git: GitServerInfo;
  /** Milliseconds from cluster start to each milestone. */
  timings: Record<string, number>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    osfleetTestbed: TestbedInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const binDir = await ensureK8sBinaries();
  // Some tests run the compiled build, as production does (test/harness/build.ts).
  ensureBuilt((msg) => harnessLog.info(msg));
  let cluster: Cluster | undefined;
  let git: GitServer | undefined;
  const teardown = async () => {
    await Promise.allSettled([git?.stop(), cluster?.stop()]);
  };
  const [c, g] = await Promise.allSettled([
    Cluster.start({ binDir, crdDir: join(repoRoot, 'crds') }),
    GitServer.start({ auth: { username: 'osfleet', password: randomBytes(12).toString('hex') } }),
  ]);
  if (c.status === 'fulfilled') cluster = c.value;
  if (g.status === 'fulfilled') git = g.value;
  if (c.status === 'rejected' || g.status === 'rejected') {
    await teardown();
    throw c.status === 'rejected' ? c.reason : (g as PromiseRejectedResult).reason;
  }
  if (!cluster || !git) throw new Error('unreachable');
  harnessLog.info({ server: cluster.info.server, git: git.info.url, timings: cluster.timings }, 'test bed up');
  project.provide('osfleetTestbed', { cluster: cluster.info, git: git.info, timings: cluster.timings });
  return teardown;
}
