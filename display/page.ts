// The dashboard page: one HTML file, one stylesheet, one script of plain DOM code (no framework, no
// CDN). The script keeps the state the server streams (/api/stream) and redraws what changed.

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>osfleet</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header><h1>osfleet</h1><span id="conn" class="conn">connecting…</span><span id="clock"></span></header>
<main>
<section id="sources"><h2>FleetSources</h2><table><thead><tr><th>name</th><th>repository</th><th>applied</th><th>Ready</th><th>message</th></tr></thead><tbody></tbody></table></section>
<section id="oses"></section>
<section id="events"><h2>Recent events</h2><table><thead><tr><th>time</th><th>type</th><th>reason</th><th>object</th><th>message</th></tr></thead><tbody></tbody></table></section>
</main>
</body>
</html>
`;

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

export const PAGE_JS = String.raw`'use strict';
(() => {
  const state = { sources: [], oses: [], events: [], timelines: [], nodes: new Map(), now: Date.now(), at: Date.now() };
  // Elements by name: a thousand rows must not each search the document.
  const cards = new Map();
  const rows = new Map();
  const $ = (sel, root = document) => root.querySelector(sel);
  const el = (tag, attrs = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      // style through the CSSOM: the page's CSP forbids style attributes.
      if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else if (k === 'style') e.style.cssText = v; else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k);
    return e;
  };
  const serverNow = () => state.now + (Date.now() - state.at);
  // main@sha1:<40 hex> → main@sha1:<12 hex>, as git abbreviates.
  const short = (rev) => (rev ? rev.replace(/([0-9a-f]{12})[0-9a-f]{28}$/, '$1') : '—');
  const span = (ms) => {
    if (ms < 0) ms = 0;
    const s = Math.floor(ms / 1000), d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d > 0) return d + 'd ' + h + 'h ' + m + 'm';
    if (h > 0) return h + 'h ' + m + 'm';
    return m + 'm ' + (s % 60) + 's';
  };

  function renderSources() {
    const body = $('#sources tbody');
    body.replaceChildren(...state.sources.map((s) => el('tr', { 'data-source': s.name },
      el('td', { text: s.name }),
      el('td', { text: s.url + ' @ ' + s.ref }),
      el('td', { text: short(s.appliedRevision) }),
      el('td', {}, el('span', { class: 'badge ' + (s.suspended ? 'Paused' : s.ready ? 'True' : 'False'), text: s.suspended ? 'Suspended' : s.ready ? 'Ready' : s.reason })),
      el('td', { class: 'message', text: s.message }))));
  }

  function osCard(name) {
    let card = cards.get(name);
    if (card) return card;
    card = el('div', { class: 'os', 'data-os': name },
      el('h2', {}, el('span', { class: 'title' }), ' ', el('span', { class: 'badge state' })),
      el('div', { class: 'why' }),
      el('div', { class: 'facts' },
        el('span', {}, el('span', { class: 'meter' }, el('span', { class: 'fill' })), ' ', el('span', { class: 'progress' })),
        el('span', { class: 'batch' }), el('span', { class: 'budget' }), el('span', { class: 'window' })),
      el('div', { class: 'timeline' }),
      el('div', { class: 'nodes' }, el('table', {},
        el('thead', {}, el('tr', {}, ...['node', 'phase', 'slot A', 'slot B', 'booted', 'download', 'message'].map((t) => el('th', { text: t })))),
        el('tbody'))));
    card.body = $('tbody', card);
    cards.set(name, card);
    $('#oses').append(card);
    return card;
  }

  function windowText(o) {
    const now = serverNow();
    if (o.windowOpen) return o.windowCloses ? 'window open, closes in ' + span(Date.parse(o.windowCloses) - now) : 'window open';
    if (o.nextWindow) return 'next window in ' + span(Date.parse(o.nextWindow) - now);
    return 'no window ahead';
  }

  function renderOses() {
    const names = new Set(state.oses.map((o) => o.name));
    for (const [name, card] of cards) if (!names.has(name) && name !== '') { card.remove(); cards.delete(name); }
    for (const o of state.oses) {
      const c = osCard(o.name);
      $('.title', c).textContent = o.name + ' → ' + o.version;
      const st = $('.state', c);
      st.textContent = o.state;
      st.className = 'badge state ' + o.state;
      const why = $('.why', c);
      why.textContent = o.reason ? o.reason + (o.message ? ': ' + o.message : '') : '';
      why.className = 'why' + (o.state === 'Halted' ? ' bad' : '');
      $('.fill', c).style.width = (o.total ? (100 * o.updated) / o.total : 0) + '%';
      $('.progress', c).textContent = o.updated + '/' + o.total + ' updated · ' + o.inProgress + ' in progress · ' + o.failed + ' failed';
      $('.batch', c).textContent = 'batch ' + o.batch + ' of ' + o.totalBatches;
      $('.budget', c).textContent = 'failure budget ' + o.failureBudgetLeft + ' of ' + o.failureBudget + ' left';
      $('.window', c).textContent = windowText(o);
    }
  }

  const CELLS = ['name', 'phase', 'slotA', 'slotB', 'booted', 'download', 'message'];
  function nodeRow(n, pending) {
    let tr = rows.get(n.name);
    if (!tr) {
      tr = el('tr', { 'data-node': n.name }, ...CELLS.map((k) => el('td', { class: k })));
      tr.cells[0].textContent = n.name;
      rows.set(n.name, tr);
    }
    const body = osCard(n.os || '').body;
    if (tr.parentNode !== body) {
      // New rows of one patch go in with one append per table.
      let frag = pending.get(body);
      if (!frag) pending.set(body, (frag = document.createDocumentFragment()));
      frag.append(tr);
    }
    const c = tr.cells;
    c[1].textContent = n.phase;
    c[1].className = 'phase phase-' + n.phase;
    c[2].textContent = (n.bootedSlot === 'A' ? '▶ ' : '') + (n.slotA || '—');
    c[3].textContent = (n.bootedSlot === 'B' ? '▶ ' : '') + (n.slotB || '—');
    c[4].textContent = n.bootedVersion || '—';
    if (n.download === null) c[5].textContent = '';
    else c[5].replaceChildren(el('span', { class: 'meter dl' }, el('span', { style: 'width:' + Math.round(n.download * 100) + '%' })), ' ' + Math.round(n.download * 100) + '%');
    c[6].textContent = n.message;
  }

  function renderTimelines() {
    const fmt = (zone, ms) => new Intl.DateTimeFormat('en-GB', { timeZone: zone, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }).format(new Date(ms));
    for (const t of state.timelines) {
      const box = $('.timeline', osCard(t.policy));
      const from = t.from - (t.to - t.from) * 0.05;
      const pos = (ms) => Math.max(0, Math.min(100, ((ms - from) / (t.to - from)) * 100));
      const rows = [['maintenance', 'windows'], ['deny', 'deny'], ['batch', 'batches'], ['soak', 'soak']].map(([row, label]) => {
        const r = el('div', { class: 'tl-row', 'data-label': label, 'data-row': row });
        for (const b of t.bars.filter((x) => x.row === row)) {
          r.append(el('div', { class: 'tl-bar tl-' + row, style: 'left:' + pos(b.start) + '%;width:' + Math.max(0.3, pos(b.end) - pos(b.start)) + '%', title: b.label + ': ' + fmt(t.timeZone, b.start) + ' – ' + fmt(t.timeZone, b.end) + ' (' + t.timeZone + ')' }));
        }
        return r;
      });
      const now = el('div', { class: 'tl-now', 'data-from': String(from), 'data-to': String(t.to) });
      box.replaceChildren(el('div', { class: 'tl-axis' }, el('span', { text: fmt(t.timeZone, from) }), el('span', { text: 'times in ' + t.timeZone }), el('span', { text: fmt(t.timeZone, t.to) })), el('div', { class: 'tl-body' }, ...rows, now));
    }
    tick();
  }

  function renderEvents() {
    $('#events tbody').replaceChildren(...state.events.map((e) => el('tr', { class: 'event' },
      el('td', { text: e.time.replace('T', ' ').replace(/\.\d+Z$|Z$/, '') }),
      el('td', {}, el('span', { class: 'badge ' + (e.type === 'Warning' ? 'False' : 'ok'), text: e.type })),
      el('td', { text: e.reason }), el('td', { text: e.object }), el('td', { text: e.message + (e.count > 1 ? ' (×' + e.count + ')' : '') }))));
  }

  function tick() {
    const now = serverNow();
    $('#clock').textContent = new Date(now).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
    for (const o of state.oses) {
      const c = cards.get(o.name);
      if (c) $('.window', c).textContent = windowText(o);
    }
    for (const n of document.querySelectorAll('.tl-now')) {
      const from = Number(n.dataset.from), to = Number(n.dataset.to);
      n.style.left = Math.max(0, Math.min(100, ((now - from) / (to - from)) * 100)) + '%';
    }
  }

  function apply(p) {
    state.now = p.now;
    state.at = Date.now();
    if (p.sources) { state.sources = p.sources; renderSources(); }
    if (p.oses) { state.oses = p.oses; renderOses(); }
    if (p.nodes) {
      for (const name of p.nodes.remove) {
        state.nodes.delete(name);
        rows.get(name)?.remove();
        rows.delete(name);
      }
      const pending = new Map();
      for (const n of p.nodes.set) { state.nodes.set(n.name, n); nodeRow(n, pending); }
      for (const [body, frag] of pending) body.append(frag);
    }
    if (p.timelines) { state.timelines = p.timelines; renderTimelines(); }
    if (p.events) { state.events = p.events; renderEvents(); }
    const orphans = cards.get('');
    if (orphans) { $('.title', orphans).textContent = 'nodes no OS selects'; orphans.hidden = $('tbody', orphans).children.length === 0; }
    window.osfleetUpdates = (window.osfleetUpdates || 0) + 1;
    if (!window.osfleetFirstRender) { window.osfleetFirstRender = performance.now(); performance.mark('osfleet-first-render'); }
  }

  const conn = $('#conn');
  const es = new EventSource('/api/stream');
  es.onopen = () => { conn.textContent = 'live'; conn.className = 'conn live'; };
  es.onerror = () => { conn.textContent = 'reconnecting…'; conn.className = 'conn down'; };
  es.onmessage = (m) => apply(JSON.parse(m.data));
  setInterval(tick, 1000);
})();
`;
