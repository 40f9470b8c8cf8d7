// Live worklist: the server says "something changed" over server-sent events and the
// table body is fetched again for the same filter (the server applies the user's scope).
// Only the first page refreshes itself; a later page stays still while it is read.
(() => {
  const table = document.getElementById('worklist');
  const dot = document.getElementById('live-dot');
  if (!table) return;
  let timer = null;
  let inflight = false;

  async function refresh() {
    if (inflight) return;
    inflight = true;
    try {
      const r = await fetch('/api/worklist' + location.search, { headers: { Accept: 'text/html', 'X-Requested-With': 'fetch' }, credentials: 'same-origin' });
      if (r.status === 401) { location.reload(); return; }
      if (!r.ok) return;
      const html = await r.text();
      const tmp = document.createElement('table');
      tmp.innerHTML = html;
      const body = tmp.querySelector('tbody');
      const old = document.getElementById('worklist-body');
      if (body && old) old.replaceWith(body);
    } finally {
      inflight = false;
    }
  }

  function schedule() {
    clearTimeout(timer);
    // Objects of one study arrive in a burst: one refresh after it settles.
    timer = setTimeout(refresh, 700);
  }

  if (table.dataset.live === '1' && 'EventSource' in window) {
    const es = new EventSource('/api/events');
    es.addEventListener('open', () => dot && dot.classList.add('on'));
    es.addEventListener('error', () => dot && dot.classList.remove('on'));
    es.addEventListener('studies', schedule);
    window.addEventListener('pagehide', () => es.close());
  }
  window.__worklist = { refresh };
})();
