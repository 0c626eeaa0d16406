import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { GRUBENV_SIZE, parseGrubEnv, renderGrubEnv, readGrubEnvFile, updateGrubEnvFile, writeGrubEnvFile } from './grubenv.js';
import { cleanupTempDirs, commandUnavailable, tempDir } from './testing/sandbox.js';
import { skipUnlessRequired } from './testing/host-capabilities.js';

afterAll(cleanupTempDirs);

const noEditenv = skipUnlessRequired('grub-editenv compatibility tests', commandUnavailable('grub-editenv', 'grub-common'));

function editenv(file: string, ...args: string[]): string {
  return execFileSync('grub-editenv', [file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('grubenv format', () => {
  it('round-trips names and values, escaping backslash and newline like GRUB', () => {
    const env = new Map([
      ['a', 'b'],
      ['kargs', 'console=ttyS0 x=y=z'],
      ['weird', 'back\\slash\nnewline'],
      ['empty', ''],
    ]);
    const block = renderGrubEnv(env);
    expect(block.length).toBe(GRUBENV_SIZE);
    expect(parseGrubEnv(block)).toEqual(env);
  });

  it('property: any representable env survives render → parse at exactly 1024 bytes', () => {
    const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/);
    const value = fc.string({ maxLength: 40 }).filter((v) => !v.includes('\0'));
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(name, value), { maxLength: 12, selector: (t) => t[0] }), (pairs) => {
        const env = new Map(pairs);
        let block: Buffer;
        try {
          block = renderGrubEnv(env);
        } catch (err) {
          expect((err as Error).message).toMatch(/holds only 1024/);
          return;
        }
        expect(block.length).toBe(1024);
        expect(parseGrubEnv(block)).toEqual(env);
      }),
    );
  });

  it('refuses content that does not fit, with what to do', () => {
    expect(() => renderGrubEnv(new Map([['osfleet_kargs_A', 'x'.repeat(1000)]]))).toThrow(
      /would need 1\d{3} bytes but holds only 1024; nothing was written\. Shorten the values \(largest: osfleet_kargs_A, 1000 characters\)/,
    );
  });

  it('refuses a file that is not an env block', () => {
    expect(() => parseGrubEnv(Buffer.from('hello'), '/boot/grub/grubenv')).toThrow(/\/boot\/grub\/grubenv is not a GRUB environment block/);
  });

  it('a failed write leaves the old file', async () => {
    const file = path.join(tempDir(), 'grubenv');
    await writeGrubEnvFile(file, new Map([['a', '1']]));
    await expect(updateGrubEnvFile(file, { big: 'x'.repeat(2000) })).rejects.toThrow(/holds only 1024/);
    expect((await readGrubEnvFile(file)).get('a')).toBe('1');
    expect(statSync(file).size).toBe(1024);
  });
});

describe.skipIf(noEditenv !== undefined)('grubenv compatibility with grub-editenv', () => {
  it('an empty block is byte-identical to grub-editenv create', () => {
    const file = path.join(tempDir(), 'grubenv');
    editenv(file, 'create');
    expect(renderGrubEnv(new Map()).equals(readFileSync(file))).toBe(true);
  });

  it('grub-editenv lists what we write, and sets on our block give the bytes we would write', async () => {
    const file = path.join(tempDir(), 'grubenv');
    const env = new Map([
      ['saved_entry', 'osfleet-A'],
      ['next_entry', 'osfleet-B'],
      ['osfleet_kargs_B', 'console=ttyS0,115200 quiet a=b=c'],
      ['odd', 'x\\y\nz'],
    ]);
    await writeGrubEnvFile(file, env);
    expect(editenv(file, 'list')).toBe('saved_entry=osfleet-A\nnext_entry=osfleet-B\nosfleet_kargs_B=console=ttyS0,115200 quiet a=b=c\nodd=x\\y\nz\n');
    editenv(file, 'set', 'osfleet_boot_tries=1', 'next_entry=');
    env.set('osfleet_boot_tries', '1');
    env.set('next_entry', '');
    expect(readFileSync(file).equals(renderGrubEnv(env))).toBe(true);
  });

  it('parses a block made by grub-editenv set / unset', async () => {
    const file = path.join(tempDir(), 'grubenv');
    editenv(file, 'create');
    editenv(file, 'set', 'a=1', 'kargs=x y=z', 'nl=line\ntwo', 'bs=c:\\dir');
    editenv(file, 'unset', 'a');
    const env = await readGrubEnvFile(file);
    expect([...env]).toEqual([
      ['kargs', 'x y=z'],
      ['nl', 'line\ntwo'],
      ['bs', 'c:\\dir'],
    ]);
  });

  it('a block filled to the last byte stays 1024 bytes and readable by both', async () => {
    const file = path.join(tempDir(), 'grubenv');
    const header = renderGrubEnv(new Map()).indexOf('#'.repeat(8));
    const room = GRUBENV_SIZE - header - 'v=\n'.length;
    const full = new Map([['v', 'x'.repeat(room)]]);
    await writeGrubEnvFile(file, full);
    expect(statSync(file).size).toBe(1024);
    expect(readFileSync(file).at(-1)).toBe('\n'.charCodeAt(0));
    expect(editenv(file, 'list')).toBe(`v=${'x'.repeat(room)}\n`);
    expect(() => renderGrubEnv(new Map([['v', 'x'.repeat(room + 1)]]))).toThrow(/holds only 1024/);
    // grub-editenv refuses to grow it too, and leaves it 1024 bytes.
    expect(() => editenv(file, 'set', 'more=1')).toThrow();
    expect(statSync(file).size).toBe(1024);
    writeFileSync(file, readFileSync(file)); // still a valid file for us
    expect((await readGrubEnvFile(file)).get('v')).toHaveLength(room);
  });
});
