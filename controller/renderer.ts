// Owns the bridge from the controller to the foundation renderer (render/index.ts): the files
// of one fetched commit, with their loading errors, → validated and rendered objects.
import type { KubernetesObject } from '@kubernetes/client-node';
import { validateAndRender } from '../render/index.js';
import type { Renderer } from './fleetsource-reconciler.js';

export function foundationRenderer(fleetSource?: string, opts: { strict?: boolean } = {}): Renderer {
  return (source, { revision }) => {
    const r = validateAndRender(source.files, {
      revision,
      ...(opts.strict ? { strict: true } : {}),
      loadErrors: source.errors,
      ...(source.commit ? { commit: source.commit } : {}),
      ...(fleetSource ? { fleetSource } : {}),
    });
    return { objects: r.objects as unknown as KubernetesObject[], errors: r.errors, warnings: r.warnings };
  };
}
