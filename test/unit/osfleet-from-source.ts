// Test helper: runs the CLI from the TypeScript sources (via `node --import tsx`), exactly as
// bin/osfleet.js runs the compiled one, so CLI tests need no prior build.
import { main } from '../../cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`osfleet: internal error: ${err instanceof Error ? err.stack : String(err)}`);
    process.exitCode = 70;
  },
);
