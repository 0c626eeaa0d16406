// A small, strict argument parser for the subcommands: known options only, usage errors as exceptions.

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
  const options: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(spec).filter(([, s]) => s.short).map(([name, s]) => [s.short!, name]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      options.help = true;
      continue;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    } else if (arg.startsWith('-') && arg.length > 1) {
      name = byShort.get(arg.slice(1, 2));
      if (name === undefined) throw new UsageError(`unknown option ${arg}`);
      inline = arg.length > 2 ? arg.slice(2).replace(/^=/, '') : undefined;
    } else {
      positionals.push(arg);
      continue;
    }
    const s = spec[name];
    if (!s) throw new UsageError(`unknown option --${name}`);
    if (s.value) {
      const v = inline ?? argv[++i];
      if (v === undefined || (inline === undefined && v.startsWith('-') && v !== '-')) throw new UsageError(`option --${name} needs a value`);
      if (s.choices && !s.choices.includes(v)) throw new UsageError(`option --${name} must be one of ${s.choices.join(', ')}, got ${JSON.stringify(v)}`);
      options[name] = v;
    } else {
      if (inline !== undefined) throw new UsageError(`option --${name} takes no value`);
      options[name] = true;
    }
  }
  if (positionals.length > maxPositionals) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[maxPositionals])}`);
  return { options, positionals };
}
