// The dashboard's HTML: a shell the script fills; the stylesheet and script are its own files on the same origin.
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
