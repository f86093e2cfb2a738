// viewer/web/pages.hpp: the HTML of shmframe-web's index and stream pages. Plain pages with a
// little JavaScript: the stream page's picture is an <img> on /stream (multipart MJPEG, which
// browsers show natively), the index's thumbnails are snapshots refreshed in turn, the text
// comes from /api/streams. No external resources: the machine may be
// offline.
#pragma once

namespace shmframe::web {

inline constexpr const char* kIndexPage = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><title>shmframe streams</title>
<style>
body{font:14px system-ui,sans-serif;margin:1em;background:#111;color:#ddd}
a{color:#9cf} .grid{display:flex;flex-wrap:wrap;gap:1em}
.card{background:#222;padding:.5em;border-radius:6px;width:330px}
.card img{width:320px;background:#000;display:block}
.stats{font:12px monospace;white-space:pre}
</style></head><body>
<h1>shmframe streams on this host</h1>
<p id="none">No streams yet: start a producer (<code>shmframe-producer --name cam0</code>).</p>
<div class="grid" id="grid"></div>
<script>
const cards = new Map();
function text(s) {
  if (s.error) return s.error;
  const w = s.web || {};
  return `${s.width}x${s.height} ${s.format}  ${(w.fps||0).toFixed(1)} fps\n` +
         `consumers ${(s.consumers||[]).length}  drops ${w.drops||0}  ${w.state||s.state}`;
}
// Thumbnails are snapshots, each fetched when the previous one has arrived (about 2 a second):
// one MJPEG connection per card would use up the browser's 6 connections to this host.
function thumbnail(img, name) {
  const next = () => { if (img.isConnected) setTimeout(load, 500); };
  const load = () => { img.src = `/snapshot/${name}?width=320&quality=70&_=${Date.now()}`; };
  img.onload = next; img.onerror = next; load();
}
async function refresh() {
  let streams = [];
  try { streams = await (await fetch('/api/streams')).json(); } catch (e) { return; }
  const names = new Set(streams.map(s => s.name));
  for (const [n, c] of cards) if (!names.has(n)) { c.remove(); cards.delete(n); }
  for (const s of streams) {
    let c = cards.get(s.name);
    if (!c) {
      c = document.createElement('div'); c.className = 'card';
      const name = encodeURIComponent(s.name);
      c.innerHTML = `<a href="/view/${name}"><img alt="${name}"></a>` +
                    `<div><a href="/view/${name}">${name}</a></div><div class="stats"></div>`;
      document.getElementById('grid').appendChild(c); cards.set(s.name, c);
      thumbnail(c.querySelector('img'), name);
    }
    c.querySelector('.stats').textContent = text(s);
  }
  document.getElementById('none').style.display = streams.length ? 'none' : '';
}
refresh(); setInterval(refresh, 1000);
</script></body></html>
)HTML";

// %NAME% is replaced by the stream's name (checked: letters, digits, '.', '_', '-').
inline constexpr const char* kViewPage = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><title>%NAME% - shmframe</title>
<style>
body{font:14px system-ui,sans-serif;margin:1em;background:#111;color:#ddd}
a{color:#9cf} img{max-width:100%;background:#000;display:block}
#stats{font:13px monospace;margin:.5em 0}
</style></head><body>
<div><a href="/">all streams</a> / <b>%NAME%</b> &middot; <a href="/snapshot/%NAME%?format=png">snapshot (PNG)</a></div>
<div id="stats">connecting...</div>
<img id="picture" alt="%NAME%" src="/stream/%NAME%">
<script>
async function refresh() {
  try {
    const s = await (await fetch('/api/streams/%NAME%')).json();
    const w = s.web || {};
    document.getElementById('stats').textContent = s.error ? s.error :
      `${w.state||s.state}  ${s.width}x${s.height} ${s.format}  ${(w.fps||0).toFixed(1)} fps  ` +
      `hand-off ${(w.handoff_ms||0).toFixed(3)} ms  end-to-end ${(w.e2e_ms||0).toFixed(2)} ms  ` +
      `drops ${w.drops||0}  seq ${w.last_seq||0}  consumers ${(s.consumers||[]).length}`;
  } catch (e) { document.getElementById('stats').textContent = 'server unreachable'; }
}
refresh(); setInterval(refresh, 500);
</script></body></html>
)HTML";

}  // namespace shmframe::web
