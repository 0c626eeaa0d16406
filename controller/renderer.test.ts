import { describe, expect, it } from 'vitest';
import { foundationRenderer } from './renderer.js';

const settings = `apiVersion: osfleet.dev/v1alpha1
kind: NodeSettings
metadata:
  name: base
spec:
  nodeSelector: {}
  priority: 0
  sysctl:
    net.example.not_catalogued: "1"
`;
const source = { files: [{ path: 'settings.yaml', bytes: new TextEncoder().encode(settings) }], errors: [] };

describe('the controller renderer and --strict-catalogue', () => {
  it('renders a key the catalogue does not know with a warning by default', async () => {
    const r = await foundationRenderer()(source, { revision: 'c1' });
    expect(r.errors).toEqual([]);
    expect(r.objects.map((o) => o.kind)).toEqual(['OSConfig']);
  });

  it('refuses the revision in strict mode, so nothing is applied', async () => {
    const r = await foundationRenderer(undefined, { strict: true })(source, { revision: 'c1' });
    expect(r.errors.map((e) => e.message)).toEqual([expect.stringContaining('strict mode allows only catalogued keys')]);
    expect(r.objects).toEqual([]);
  });
});
