// The dashboard's stylesheet (no framework, no web fonts).
export const PAGE_CSS = `
:root { --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #57606a; --line: #d0d7de; --bar: #0969da; font-family: system-ui, sans-serif; font-size: 14px; }
body { margin: 0; color: #1f2328; background: #f6f8fa; }
header { display: flex; gap: 1em; align-items: baseline; padding: .5em 1em; background: #24292f; color: #fff; }
header h1 { font-size: 1.2em; margin: 0; }
.conn.live { color: #4ac26b; } .conn.down { color: #ff8182; }
#clock { margin-left: auto; color: #d0d7de; font-variant-numeric: tabular-nums; }
main { padding: 1em; display: grid; gap: 1em; }
section, .os { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .5em 1em; }
#oses { background: none; border: 0; padding: 0; display: grid; gap: 1em; }
h2 { font-size: 1.1em; margin: .3em 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 2px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
.badge { display: inline-block; padding: 0 .5em; border-radius: 1em; color: #fff; background: var(--muted); }
.badge.Done, .badge.True, .badge.ok { background: var(--ok); }
.badge.Progressing { background: var(--bar); }
.badge.Paused, .badge.Waiting { background: var(--warn); }
.badge.Halted, .badge.False, .badge.Failed { background: var(--bad); }
.facts { display: flex; flex-wrap: wrap; gap: .3em 1.5em; margin: .3em 0; }
.why { margin: .3em 0; }
.why.bad { color: var(--bad); font-weight: 600; }
.meter { display: inline-block; width: 12em; height: .8em; background: #eaeef2; border-radius: .4em; overflow: hidden; vertical-align: middle; }
.meter > span { display: block; height: 100%; background: var(--ok); }
.meter.dl { width: 6em; } .meter.dl > span { background: var(--bar); }
.phase-Failed, .phase-RolledBack { color: var(--bad); font-weight: 600; }
.phase-Done { color: var(--ok); }
.timeline { position: relative; margin: .5em 0; }
.tl-body { position: relative; margin-left: 9em; }
.tl-row { position: relative; height: 14px; margin: 2px 0; background: #f6f8fa; }
.tl-row::before { content: attr(data-label); position: absolute; right: 100%; width: 8.5em; padding-right: .5em; text-align: right; font-size: 11px; color: var(--muted); }
.tl-bar { position: absolute; top: 1px; height: 12px; border-radius: 2px; min-width: 2px; }
.tl-maintenance { background: #8ddb8c; } .tl-deny { background: #ff8182; } .tl-batch { background: var(--bar); } .tl-soak { background: #afb8c1; }
.tl-now { position: absolute; top: 0; bottom: 0; width: 2px; background: #cf222e; }
.tl-now::after { content: 'now'; position: absolute; top: -1.1em; left: 3px; font-size: 10px; color: #cf222e; }
.tl-axis { display: flex; justify-content: space-between; margin-left: 9em; font-size: 11px; color: var(--muted); }
.nodes { max-height: 30em; overflow: auto; }
.muted { color: var(--muted); }
`;
