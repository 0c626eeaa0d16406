// Keeps long streaming runs flat in memory. Every socket read hands us a fresh 64 KiB
// ArrayBuffer; V8 frees dead ones only after ~64 MiB of external garbage has piled up,
// because the tiny JS wrappers never fill the young generation. A young-generation
// collection every few MiB frees them early (cost: well under a millisecond each).
import v8 from 'node:v8';
import vm from 'node:vm';

type Gc = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;
let gc: Gc | undefined | null = null;

export function collectYoungGarbage(): void {
  if (gc === null) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc') as Gc;
    } catch {
      gc = undefined; // not available here: memory still bounded by V8's own limits
    }
  }
  gc?.({ type: 'minor' });
}
