// The dashboard's script: plain DOM code, no framework, no CDN. It keeps the state the server streams
// (/api/stream, server-sent events), redraws what changed and moves countdowns and the "now" line.
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
