// Where a command writes: injectable so commands can be tested in-process as well as through a child process.
export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processIO: CliIO = {
  stdout: (t) => {
    process.stdout.write(t);
  },
  stderr: (t) => {
    process.stderr.write(t);
  },
};

/** What every subcommand module exports. */
export interface Command {
  run(argv: string[], io: CliIO): Promise<number>;
}
