import { describe, expect, it } from 'vitest';
import { changesPlan } from './plan-inputs.js';

const osnode = (status: Record<string, unknown>) => ({ metadata: { name: 'n' }, spec: { nodeName: 'n' }, status });

describe('which watched changes re-run the timeline simulation', () => {
  it('an agent message or download progress does not; a phase or booted version does', () => {
    const before = osnode({ phase: 'Downloading', bootedVersion: '1.0', message: 'a', download: { bytesDone: 1 } });
    expect(changesPlan('osnodes', osnode({ phase: 'Downloading', bootedVersion: '1.0', message: 'b', download: { bytesDone: 2 } }), before)).toBe(false);
    expect(changesPlan('osnodes', osnode({ phase: 'Staged', bootedVersion: '1.0' }), before)).toBe(true);
    expect(changesPlan('osnodes', osnode({ phase: 'Downloading', bootedVersion: '2.0' }), before)).toBe(true);
  });

  it('Events and FleetSources never do; new or deleted objects and label changes do', () => {
    expect(changesPlan('events', {}, undefined)).toBe(false);
    expect(changesPlan('sources', {}, undefined)).toBe(false);
    expect(changesPlan('nodes', { metadata: { name: 'n', labels: { a: '1' } } }, undefined)).toBe(true);
    expect(changesPlan('nodes', { metadata: { name: 'n', labels: { a: '2' } } }, { metadata: { name: 'n', labels: { a: '1' } } })).toBe(true);
    expect(changesPlan('nodes', { metadata: { name: 'n', labels: { a: '1' } } }, { metadata: { name: 'n', labels: { a: '1' } } })).toBe(false);
  });
});
