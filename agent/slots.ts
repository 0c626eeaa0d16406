// What each root slot holds (version, sha256) and the upgrade attempt in flight,
// kept in one atomically replaced JSON file on the persist partition.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { atomicWriteFile } from './atomic-file.js';
import { type Slot, isSlot } from './host.js';

export const SLOTS_FILE = 'var/lib/osfleet/slots.json';

export interface SlotContent {
  version: string;
  /** The pinned digest: over the bytes the server sent (compressed, for a .zst or .gz image). */
  sha256: string;
  /** Bytes on the device. */
  size: number;
  /** sha256 of the `size` bytes on the device, where it differs from `sha256` (a compressed image). */
  deviceSha256?: string;
}

/** What the slot's device must hold for this content: checked before the slot is armed. */
export function deviceContent(c: SlotContent): { sha256: string; size: number } {
  return { sha256: c.deviceSha256 ?? c.sha256, size: c.size };
}

/** A slot whose bytes no longer matched what was written, and was forgotten (so it is written again). */
export interface DiscardedSlot {
  slot: Slot;
  version: string;
  reason: string;
  at: string;
}

export interface Attempt {
  /** The slot armed for a one-shot boot. */
  slot: Slot;
  version: string;
  sha256: string;
  /** Slot that was booted (and permanent) when the attempt was armed. */
  fromSlot: Slot;
  /** Set when the agent on the new slot found it unhealthy, before falling back. */
  healthFailure?: string;
  /** Set when the agent asked for the reboot into `slot`. */
  rebootRequestedAt?: string;
}

export interface Outcome {
  kind: 'RolledBack' | 'Failed';
  version: string;
  sha256: string;
  reason: string;
  at: string;
}

export interface SlotsState {
  version: 1;
  /** Known content per slot; absent while a slot is being written or unknown. */
  slots: Partial<Record<Slot, SlotContent>>;
  attempt?: Attempt;
  /** The last upgrade that did not succeed; sticky for that target so it is not retried in a loop. */
  lastFailure?: Outcome;
  /** The last slot found changed on its device before arming; cleared when that slot is written again. */
  discarded?: DiscardedSlot;
}

export function emptySlotsState(): SlotsState {
  return { version: 1, slots: {} };
}

export function slotsFile(persistDir: string): string {
  return path.join(persistDir, SLOTS_FILE);
}

export async function readSlots(persistDir: string): Promise<SlotsState> {
  const file = slotsFile(persistDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptySlotsState();
    throw new Error(`cannot read slot metadata ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`slot metadata ${file} is not valid JSON (${(err as Error).message}); it is written atomically, so this means outside damage: restore it or delete it (the agent then re-downloads)`);
  }
  const problem = slotsStateProblem(parsed);
  if (problem) throw new Error(`slot metadata ${file} is malformed: ${problem}; restore it or delete it (the agent then re-downloads)`);
  return parsed as SlotsState;
}

function slotsStateProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return 'not an object';
  const s = v as Record<string, unknown>;
  if (s.version !== 1) return `unknown version ${JSON.stringify(s.version)}`;
  if (typeof s.slots !== 'object' || s.slots === null) return 'no "slots" object';
  for (const [k, c] of Object.entries(s.slots as Record<string, unknown>)) {
    if (!isSlot(k)) return `unknown slot "${k}"`;
    const content = c as Partial<SlotContent> | null;
    if (!content || typeof content.version !== 'string' || typeof content.sha256 !== 'string' || typeof content.size !== 'number') {
      return `slot ${k} needs version, sha256 and size`;
    }
    if (content.deviceSha256 !== undefined && !/^[0-9a-f]{64}$/.test(content.deviceSha256)) return `slot ${k} has a deviceSha256 that is not 64 lowercase hex characters`;
  }
  if (s.attempt !== undefined) {
    const a = s.attempt as Partial<Attempt> | null;
    if (!a || !isSlot(a.slot) || !isSlot(a.fromSlot) || typeof a.version !== 'string') return 'attempt needs slot, fromSlot and version';
  }
  return undefined;
}

export async function writeSlots(persistDir: string, state: SlotsState): Promise<void> {
  await atomicWriteFile(slotsFile(persistDir), JSON.stringify(state, null, 2) + '\n');
}

/** Read, change, write back. */
export async function updateSlots(persistDir: string, change: (s: SlotsState) => SlotsState): Promise<SlotsState> {
  const next = change(await readSlots(persistDir));
  await writeSlots(persistDir, next);
  return next;
}
