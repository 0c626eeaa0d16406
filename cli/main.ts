// The osfleet command line: dispatches to subcommands. Returns the process exit code.
export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write('usage: osfleet <validate|render|diff|plan|controller|agent> [options]\n');
    return 0;
  }
  process.stderr.write(`osfleet: unknown command "${argv[0]}"\n`);
  return 2;
}
