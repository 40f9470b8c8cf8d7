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
    // A critical finding flagged or acknowledged: workflow.js refreshes the banner (and a
    // change of any kind too, since the stream keeps one pending notice per browser).
    es.addEventListener('critical', schedule);
    for (const kind of ['studies', 'critical']) {
      es.addEventListener(kind, () => document.dispatchEvent(new CustomEvent('pacs:event', { detail: kind })));
    }
    window.addEventListener('pagehide', () => es.close());
  }
  // A row opens its study wherever it is clicked, and with Enter when it has the focus;
  // links and controls inside it keep their own behaviour. Ctrl/⌘-click and the middle
  // button open the study in a new tab, as they would on a link.
  function rowOf(e) {
    if (e.target.closest('a, button, input, select, textarea, label')) return null;
    const tr = e.target.closest('tr[data-href]');
    return tr && table.contains(tr) ? tr : null;
  }
  table.addEventListener('click', (e) => {
    const tr = rowOf(e);
    if (!tr || e.button !== 0) return;
    // A click that ends a text selection (copying a patient ID) is not a request to open.
    if (String(window.getSelection ? window.getSelection() : '') !== '') return;
    if (e.ctrlKey || e.metaKey || e.shiftKey) window.open(tr.dataset.href, '_blank', 'noopener');
    else location.assign(tr.dataset.href);
  });
  table.addEventListener('auxclick', (e) => {
    const tr = rowOf(e);
    if (tr && e.button === 1) {
      e.preventDefault();
      window.open(tr.dataset.href, '_blank', 'noopener');
    }
  });
  table.addEventListener('mousedown', (e) => {
    // Without this the middle button starts autoscrolling instead of opening the tab.
    if (e.button === 1 && rowOf(e)) e.preventDefault();
  });
  table.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.target.tagName !== 'TR' || !e.target.dataset.href) return;
    e.preventDefault();
    if (e.ctrlKey || e.metaKey) window.open(e.target.dataset.href, '_blank', 'noopener');
    else location.assign(e.target.dataset.href);
  });

  window.__worklist = { refresh };
})();
