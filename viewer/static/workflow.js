// The reading room's workflow in the browser: critical findings (危急值) on the worklist's
// banner, the study page and the dashboard (aging, acknowledgement, live notice with a
// sound), the study's claim (heartbeat, release, who holds it) and the phrase library
// (常用词条) inserted at the report's cursor. Texts come from the page: the study page's data
// island, or the templates' own elements elsewhere.
(() => {
  const csrf = document.querySelector('input[name="csrf"]')?.value || '';
  const island = document.getElementById('study-data');
  const data = island ? JSON.parse(island.textContent) : {};
  const M = data.messages || {};
  const t = (k) => M[k] || k;

  async function send(method, url, body) {
    const r = await fetch(url, {
      method, credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf, 'X-Requested-With': 'fetch' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const j = r.status === 204 ? {} : await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = new Error(j?.error || `HTTP ${r.status}`);
      err.status = r.status; err.code = j?.code; err.body = j;
      throw err;
    }
    return j;
  }

  // ---------------- aging ----------------
  // Minutes since a finding was flagged, counted in the browser so that a page left open
  // keeps aging; the longer, the redder (classes of workflow.css).
  function age() {
    const now = Date.now();
    for (const el of document.querySelectorAll('.crit-minutes[data-since]')) {
      const min = Math.max(0, Math.floor((now - Date.parse(el.dataset.since)) / 60000));
      el.textContent = `${min} ${el.dataset.unit || document.body.dataset.critUnit || ''}`.trim();
      const row = el.closest('.crit, .crit-aging');
      if (row) {
        row.classList.toggle('late', min >= 10);
        row.classList.toggle('very-late', min >= 30);
      }
    }
  }
  age();
  setInterval(age, 20000);

  // ---------------- acknowledgement ----------------
  document.addEventListener('submit', async (e) => {
    const form = e.target.closest('form.crit-ack');
    if (!form) return;
    e.preventDefault();
    const input = form.querySelector('input[name="informed"]');
    const informed = input.value.trim();
    if (!informed) { input.focus(); return; }
    const btn = form.querySelector('button');
    btn.disabled = true;
    try {
      await send('POST', `/api/critical/${encodeURIComponent(form.dataset.id)}/ack`, { informed });
      const li = form.closest('li');
      if (document.getElementById('critical-banner')) {
        li.remove();
        known.delete(Number(form.dataset.id));
        banner.render();
      } else {
        location.reload(); // the study page shows who acknowledged, when, whom they informed
      }
    } catch (err) {
      btn.disabled = false;
      form.querySelector('.crit-error')?.remove();
      const p = document.createElement('p');
      p.className = 'error crit-error';
      p.textContent = err.message;
      form.append(p);
    }
  });

  // ---------------- the worklist's banner ----------------
  const bannerEl = document.getElementById('critical-banner');
  const known = new Set([...document.querySelectorAll('#critical-banner-list li[data-id]')].map((li) => Number(li.dataset.id)));
  const banner = {
    render() {
      if (!bannerEl) return;
      const n = bannerEl.querySelectorAll('#critical-banner-list li').length;
      bannerEl.hidden = n === 0;
      const c = document.getElementById('crit-count');
      if (c) c.textContent = String(n);
    },
    // refresh asks for the open findings again (the server scopes them to the user's
    // site) and adds the new ones on top, with a notice.
    async refresh() {
      if (!bannerEl) return;
      let j;
      try { j = await send('GET', '/api/critical?open=1'); } catch { return; }
      const list = document.getElementById('critical-banner-list');
      const tpl = document.getElementById('crit-item');
      const open = new Set(j.findings.map((f) => f.id));
      for (const li of [...list.children]) if (!open.has(Number(li.dataset.id))) li.remove();
      const fresh = [];
      for (const f of [...j.findings].reverse()) { // oldest first, each put on top
        if (list.querySelector(`li[data-id="${f.id}"]`)) continue;
        const li = tpl.content.firstElementChild.cloneNode(true);
        li.dataset.id = f.id;
        li.querySelector('.crit-cat').textContent = f.label;
        const a = li.querySelector('a.crit-patient');
        a.href = `/studies/${encodeURIComponent(f.study)}`;
        a.textContent = f.patient;
        li.querySelector('.crit-pid').textContent = f.patientId;
        li.querySelector('.crit-text').textContent = f.text;
        li.querySelector('.crit-by').textContent = f.flaggedBy;
        li.querySelector('.crit-minutes').dataset.since = f.flaggedAt;
        const form = li.querySelector('form.crit-ack');
        if (form) {
          if (bannerEl.dataset.ack === '1') form.dataset.id = f.id; else form.remove();
        }
        list.prepend(li);
        if (!known.has(f.id)) fresh.push(f);
        known.add(f.id);
      }
      this.render();
      age();
      if (fresh.length) notify(fresh);
    },
  };

  // notify tells of new findings three ways: an in-page notice that stays until clicked,
  // a short sound, and a desktop notification when the user allowed them.
  function notify(fresh) {
    const toast = document.getElementById('crit-toast');
    const title = toast?.dataset.title || 'critical';
    const body = fresh.map((f) => `${f.label} · ${f.patient} · ${f.text}`).join('\n');
    if (toast) {
      toast.textContent = '';
      const h = document.createElement('strong');
      h.textContent = `⚠ ${title}`;
      const p = document.createElement('span');
      p.textContent = body;
      toast.append(h, p);
      toast.hidden = false;
      toast.onclick = () => { toast.hidden = true; };
    }
    beep();
    if ('Notification' in window && Notification.permission === 'granted') {
      try { new Notification(title, { body, tag: 'pacs-critical', requireInteraction: true }); } catch { /* not from a page in some browsers */ }
    }
  }

  // beep: two short tones (browsers allow sound only after the user has touched the page).
  function beep() {
    try {
      const ctx = new (window.AudioContext || window.webkitAudioContext)();
      [0, 0.35].forEach((at) => {
        const o = ctx.createOscillator(), g = ctx.createGain();
        o.frequency.value = 880;
        g.gain.setValueAtTime(0.2, ctx.currentTime + at);
        g.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + at + 0.3);
        o.connect(g).connect(ctx.destination);
        o.start(ctx.currentTime + at);
        o.stop(ctx.currentTime + at + 0.3);
      });
      setTimeout(() => ctx.close(), 1000);
    } catch { /* no audio */ }
  }

  const notifyBtn = document.getElementById('crit-notify');
  if (notifyBtn && 'Notification' in window && Notification.permission === 'default') {
    notifyBtn.hidden = false;
    notifyBtn.addEventListener('click', async () => {
      await Notification.requestPermission();
      notifyBtn.hidden = true;
    });
  }

  if (bannerEl) {
    banner.render();
    // worklist.js relays the server's events: a finding flagged or acknowledged anywhere
    // ("critical"), or any change ("studies", which may stand in for a critical notice the
    // stream merged), makes the banner ask again.
    let timer = null;
    document.addEventListener('pacs:event', () => {
      clearTimeout(timer);
      timer = setTimeout(() => banner.refresh(), 300);
    });
    window.__critical = banner;
  }

  // The dashboard shows new findings and acknowledgements within a minute (its figures are
  // the server's; the minutes above age in between).
  if (document.getElementById('critical-open')) setInterval(() => { if (!document.hidden) location.reload(); }, 60000);

  // ---------------- the study page ----------------
  const study = data.study;
  if (!study) return;
  const api = `/api/studies/${encodeURIComponent(study)}`;
  const wf = data.workflow || {};

  const critForm = document.getElementById('crit-form');
  if (critForm) {
    critForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const text = document.getElementById('crit-text').value.trim();
      if (!text) { document.getElementById('crit-text').focus(); return; }
      if (!confirm(t('crit.confirm'))) return;
      const state = document.getElementById('crit-state');
      try {
        await send('POST', `${api}/critical`, { category: document.getElementById('crit-category').value, text });
        state.textContent = t('crit.flagged');
        location.reload();
      } catch (err) {
        state.textContent = `${t('crit.failed')}: ${err.message}`;
      }
    });
  }

  // The claim: renewed while the page is in use, released on request. A lapsed claim taken by somebody else makes the editor read-only.
  const claimBanner = document.getElementById('claim-banner');
  function showHolder(claim) {
    if (!claimBanner || !claim) return;
    claimBanner.className = 'claim ' + (claim.mine ? 'mine' : 'other');
    claimBanner.textContent = '';
    const b = document.createElement('strong');
    b.className = 'claim-holder';
    b.textContent = claim.userName;
    claimBanner.append(b, ' ' + t('claim.reading'));
  }
  document.getElementById('claim-release')?.addEventListener('click', async () => {
    try {
      await send('DELETE', `${api}/claim`);
      location.assign('/');
    } catch (err) {
      alert(err.message);
    }
  });
  document.addEventListener('pacs:claim-lost', async () => {
    try { await send('POST', `${api}/claim`); } catch (err) { showHolder(err.body?.claim); }
  });
  if (wf.on && wf.claim && wf.claim.mine) {
    // A study only looked at is let go on leaving, so that the worklist does not fill with
    // claims of studies a radiologist glanced through; one whose report was worked on stays
    // held until its time runs out.
    window.addEventListener('pagehide', () => {
      if (window.PacsReport?.typed()) return;
      fetch(`${api}/claim`, { method: 'DELETE', keepalive: true, credentials: 'same-origin',
        headers: { 'X-CSRF-Token': csrf, 'X-Requested-With': 'fetch' } }).catch(() => {});
    });
    // Renewed only while the radiologist is at work on the page (reading images counts):
    // a page left open and idle lets the claim run out after its 15 minutes.
    let active = false;
    for (const kind of ['input', 'keydown', 'pointerdown', 'wheel']) {
      document.addEventListener(kind, () => { active = true; }, { passive: true, capture: true });
    }
    setInterval(async () => {
      if (document.hidden || !active) return;
      active = false;
      try {
        await send('POST', `${api}/claim`);
      } catch (err) {
        if (err.code === 'claim.held') {
          showHolder(err.body?.claim);
          window.PacsReport?.lose('claim.held');
        }
      }
    }, 4 * 60 * 1000);
  }

  // ---------------- phrases ----------------
  const panel = document.getElementById('phrases');
  if (!panel) return;
  const list = document.getElementById('phrase-list');
  const search = document.getElementById('phrase-search');
  let phrases = [], shown = [], cursor = 0;

  async function loadPhrases() {
    try { phrases = (await send('GET', '/api/phrases')).phrases; } catch { phrases = []; }
    draw();
  }

  function draw() {
    const q = search.value.trim().toLowerCase();
    shown = phrases.filter((p) => !q || p.text.toLowerCase().includes(q) || p.group.toLowerCase().includes(q));
    cursor = Math.min(cursor, Math.max(0, shown.length - 1));
    list.textContent = '';
    if (!shown.length) {
      const p = document.createElement('p');
      p.className = 'empty';
      p.textContent = t('phrase.none');
      list.append(p);
      return;
    }
    let group = null;
    shown.forEach((p, i) => {
      if (p.group !== group) {
        group = p.group;
        const h = document.createElement('h4');
        h.textContent = group;
        list.append(h);
      }
      const row = document.createElement('div');
      row.className = 'phrase' + (i === cursor && q ? ' active' : '');
      row.setAttribute('role', 'option');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'phrase-insert';
      b.title = t('phrase.insert');
      b.textContent = p.text;
      // mousedown, not click: the report field keeps its focus and its cursor.
      b.addEventListener('mousedown', (e) => e.preventDefault());
      b.addEventListener('click', () => window.PacsReport?.insert(p.text));
      row.append(b);
      const tag = document.createElement('span');
      tag.className = 'phrase-tag';
      tag.textContent = p.shared ? '' : t('phrase.mine');
      row.append(tag);
      if (p.editable) {
        const d = document.createElement('button');
        d.type = 'button';
        d.className = 'link phrase-delete';
        d.title = t('phrase.delete');
        d.textContent = '×';
        d.addEventListener('click', async () => {
          if (!confirm(t('phrase.deleteconfirm'))) return;
          try { await send('DELETE', `/api/phrases/${p.id}`); } catch (err) { alert(err.message); }
          loadPhrases();
        });
        row.append(d);
      }
      list.append(row);
    });
  }

  search.addEventListener('input', () => { cursor = 0; draw(); });
  search.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      cursor = (cursor + (e.key === 'ArrowDown' ? 1 : shown.length - 1)) % Math.max(1, shown.length);
      draw();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      const p = shown[cursor];
      if (p && window.PacsReport?.insert(p.text)) { search.value = ''; cursor = 0; draw(); }
    } else if (e.key === 'Escape') {
      search.value = '';
      draw();
    }
  });
  // Alt+P finds a phrase from the report field; Enter puts it where the cursor was.
  document.addEventListener('keydown', (e) => {
    if (e.altKey && (e.key === 'p' || e.key === 'P')) {
      e.preventDefault();
      panel.open = true;
      search.focus();
    }
  });

  document.getElementById('phrase-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = e.target;
    try {
      await send('POST', '/api/phrases', { group: f.group.value, text: f.text.value, shared: !!f.shared?.checked });
      f.text.value = '';
      loadPhrases();
    } catch (err) {
      alert(err.message);
    }
  });
  loadPhrases();
})();
