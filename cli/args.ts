// The subcommands' options, parsed by node:util parseArgs (as the controller and agent entry points
// do): known options only, plus allowed values and a positional count, with usage errors as exceptions.
import { parseArgs as parseNodeArgs } from 'node:util';

/** Wrong usage: the CLI prints the message and the command's usage, and exits with status 2. */
export class UsageError extends Error {}

export interface OptionSpec {
  /** Takes a value (`--from REV`, `--from=REV`). */
  value?: boolean;
  /** Short alias, e.g. `-o`. */
  short?: string;
  /** Allowed values. */
  choices?: readonly string[];
}

export interface ParsedArgs {
  options: Record<string, string | boolean>;
  positionals: string[];
}

export function parseArgs(argv: readonly string[], spec: Record<string, OptionSpec>, maxPositionals: number): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, s] of Object.entries(spec)) options[name] = { type: s.value ? 'string' : 'boolean', ...(s.short ? { short: s.short } : {}) };
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseNodeArgs({ args: [...argv], options, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (err) {
    // node:util's messages go on to explain `--`; the first sentence is what the user got wrong.
    const message = err instanceof Error ? err.message.split(/\.\s/)[0]!.replace(/\.$/, '') : String(err);
    throw new UsageError(message.charAt(0).toLowerCase() + message.slice(1));
  }
  const values: Record<string, string | boolean> = {};
  for (const [name, v] of Object.entries(parsed.values)) {
    if (v === undefined) continue;
    const choices = spec[name]?.choices;
    if (choices && typeof v === 'string' && !choices.includes(v)) throw new UsageError(`option --${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(v)}`);
    values[name] = v;
  }
  if (parsed.positionals.length > maxPositionals) throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[maxPositionals])}`);
  return { options: values, positionals: parsed.positionals };
}
