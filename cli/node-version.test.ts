import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { KUBE_CLIENT_MIN_NODE, kubeClientNodeProblem, olderThan } from './node-version.js';

describe('the Node the Kubernetes client needs', () => {
  it('is what the HTTP client under the installed @kubernetes/client-node (undici) declares', () => {
    const clientNode = createRequire(import.meta.url).resolve('@kubernetes/client-node/package.json');
    const pkgFile = createRequire(clientNode).resolve('undici/package.json');
    const engines = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { engines?: { node?: string } }).engines?.node;
    expect(engines).toBe(`>=${KUBE_CLIENT_MIN_NODE}`);
  });

  it('compares versions numerically, field by field', () => {
    expect(olderThan('20.20.2', '22.19.0')).toBe(true);
    expect(olderThan('22.9.0', '22.19.0')).toBe(true);
    expect(olderThan('22.19.0', '22.19.0')).toBe(false);
    expect(olderThan('24.22.3', '22.19.0')).toBe(false);
    expect(olderThan('100.0.0', '22.19.0')).toBe(false);
  });

  it('names the command, the Node it needs and the Node it found', () => {
    expect(kubeClientNodeProblem('osfleet agent', '20.20.2')).toBe(
      'osfleet: osfleet agent needs Node.js 22.19.0 or newer (the Kubernetes client requires it; osfleet is tested on Node 24), and this is v20.20.2\n',
    );
    expect(kubeClientNodeProblem('osfleet agent', '24.22.3')).toBeUndefined();
  });
});
