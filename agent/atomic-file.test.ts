import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { atomicWriteFile } from './atomic-file.js';
import { readSlots } from './slots.js';
import { cleanupTempDirs, spawnTs, tempDir } from './testing/sandbox.js';

afterAll(cleanupTempDirs);

/** Start the writer child, let it run a random while, SIGKILL it. */
async function killMidWrite(args: string[]): Promise<void> {
  const child = spawnTs('agent/testing/atomic-child.ts', args);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`writer exited early (${code})`)));
  });
  await new Promise((r) => setTimeout(r, 5 + Math.random() * 120));
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

const ROUNDS = 24;
const PARALLEL = 4;

async function rounds(run: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < ROUNDS; i += PARALLEL) {
    await Promise.all(Array.from({ length: Math.min(PARALLEL, ROUNDS - i) }, (_, k) => run(i + k)));
  }
}

describe('atomic replacement under SIGKILL', () => {
  it('a file killed mid-rewrite is always exactly the old or the new content', async () => {
    const a = 'A'.repeat(1 << 20);
    const b = 'B'.repeat(1 << 19) + 'b'.repeat(1 << 19) + 'tail';
    await rounds(async (i) => {
      const dir = tempDir();
      const file = path.join(dir, 'etc/sysctl.d/90-osfleet.conf');
      await atomicWriteFile(file, a);
      await killMidWrite(['file', file]);
      const got = readFileSync(file, 'utf8');
      expect(got === a || got === b, `round ${i}: torn file of ${got.length} bytes`).toBe(true);
      // The next write clears temp files left by the killed writer.
      await atomicWriteFile(file, a);
      expect(readdirSync(path.dirname(file))).toEqual(['90-osfleet.conf']);
    });
  });

  it('slot metadata killed mid-rewrite always parses to a consistent state', async () => {
    await rounds(async (i) => {
      const persist = tempDir();
      await killMidWrite(['slots', persist]);
      const s = await readSlots(persist).catch((err: Error) => {
        throw new Error(`round ${i}: ${err.message}`);
      });
      if (s.slots.A) {
        // Every write pairs vN in A with wN in B and the attempt: never a mix.
        const n = s.slots.A.version.slice(1);
        expect(s.slots.B?.version).toBe(`w${n}`);
        expect(s.attempt?.version).toBe(`w${n}`);
      } else {
        expect(s).toEqual({ version: 1, slots: {} });
      }
    });
  });

  it('a corrupt metadata file is reported with what to do', async () => {
    const persist = tempDir();
    const file = path.join(persist, 'var/lib/osfleet/slots.json');
    await atomicWriteFile(file, '{"version":1,');
    await expect(readSlots(persist)).rejects.toThrow(/not valid JSON .* restore it or delete it/);
    writeFileSync(file, JSON.stringify({ version: 1, slots: { C: {} } }));
    await expect(readSlots(persist)).rejects.toThrow(/unknown slot "C"/);
  });
});
