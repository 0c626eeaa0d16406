// `npm run bench -- <name>`: runs one benchmark group and prints each figure as a JSON line {name, value, unit}.
export interface Figure {
  name: string;
  value: number;
  unit: string;
}

const GROUPS: Record<string, string[]> = {
  render: ['./render.js'],
  sync: ['./sync.js'],
  rollout: ['./rollout-planner.js', './rollout-fleet.js'],
  agent: ['./agent.js'],
  vm: ['./vm.js'],
  display: ['./display.js'],
};

async function main(): Promise<number> {
  const names = process.argv.slice(2);
  if (names.length === 0 || names.some((n) => !(n in GROUPS))) {
    process.stderr.write(`usage: npm run bench -- <${Object.keys(GROUPS).join('|')}> [...]\n`);
    return 2;
  }
  for (const name of names) {
    for (const mod of GROUPS[name] ?? []) {
      const { run } = (await import(mod)) as { run: () => Promise<Figure[]> };
      for (const figure of await run()) process.stdout.write(`${JSON.stringify(figure)}\n`);
    }
  }
  return 0;
}

main().then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`); process.exitCode = 1; },
);
