// The settings the agent last applied (hash, sysctls, kernel args) and the permit token it last
// rebooted for, in one atomic JSON file on persist: a restarted agent knows what it did.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { atomicWriteFile } from './atomic-file.js';

export const AGENT_STATE_FILE = 'var/lib/osfleet/agent-state.json';

export interface AppliedConfig {
  hash: string;
  sysctl: Record<string, string>;
  kernelArgs: { add: string[]; remove: string[] };
}

export interface AgentState {
  version: 1;
  applied?: AppliedConfig;
  /** Token of the permit the agent last asked for a reboot under; never reboot twice for one grant. */
  rebootedForToken?: string;
  /**
   * The boot id when that reboot was asked for. The token counts as used only once the boot id
   * differs: a reboot command that failed, or a shutdown that was cancelled, leaves it usable.
   */
  rebootBootId?: string;
}

export async function readAgentState(persistDir: string): Promise<AgentState> {
  const file = path.join(persistDir, AGENT_STATE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1 };
    throw err;
  }
  try {
    const s = JSON.parse(text) as AgentState;
    if (s.version !== 1) throw new Error(`unknown version ${String(s.version)}`);
    return s;
  } catch (err) {
    throw new Error(`the agent state file ${file} is unreadable (${(err as Error).message}); inspect it, then delete it to let the agent re-apply settings`);
  }
}

export async function writeAgentState(persistDir: string, state: AgentState): Promise<void> {
  await atomicWriteFile(path.join(persistDir, AGENT_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}
