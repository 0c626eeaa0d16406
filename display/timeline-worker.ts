// Runs the timeline simulation off the dashboard's event loop: with a thousand nodes and serial
// batches it takes seconds, and watch events must not wait for it.
import { parentPort } from 'node:worker_threads';
import type { OS, OSConfig, OSNode } from '../api/resources.js';
import { defaultCatalogue, sysctlNeedsReboot } from '../render/index.js';
import { fleetTimelines, type NodeLabels } from './fleet-timeline.js';

export interface TimelineJob {
  oses: OS[];
  configs: OSConfig[];
  nodes: NodeLabels[];
  osnodes: OSNode[];
  now: number;
}

const catalogue = defaultCatalogue();
parentPort?.on('message', (job: TimelineJob) => {
  try {
    const timelines = fleetTimelines(
      { oses: job.oses, configs: job.configs, nodes: job.nodes, osnodes: new Map(job.osnodes.map((o) => [o.metadata.name, o])) },
      job.now,
      (k) => sysctlNeedsReboot(catalogue, k),
    );
    parentPort!.postMessage({ ok: true, timelines });
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
});
