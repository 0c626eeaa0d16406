// Test-only child: replace one file over and over (atomically) until killed.
// Mode "file" alternates two large contents; mode "slots" rewrites slot metadata.
import { atomicWriteFile } from '../atomic-file.js';
import { writeSlots } from '../slots.js';

const [mode, target] = process.argv.slice(2) as [string, string];
// Two large, different contents (the test builds the same two): a torn write would show.
const a = 'A'.repeat(1 << 20);
const b = 'B'.repeat(1 << 19) + 'b'.repeat(1 << 19) + 'tail';
process.stdout.write('ready\n');
for (let i = 0; ; i++) {
  if (mode === 'file') await atomicWriteFile(target, i % 2 === 0 ? a : b);
  else {
    await writeSlots(target, {
      version: 1,
      slots: { A: { version: `v${i}`, sha256: 'a'.repeat(64), size: i }, B: { version: `w${i}`, sha256: 'b'.repeat(64), size: i } },
      attempt: { slot: 'B', version: `w${i}`, sha256: 'b'.repeat(64), fromSlot: 'A' },
    });
  }
}
