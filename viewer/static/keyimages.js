// Study page: key images and prior studies (viewer/keyimages.go has the API and the why).
//
// Key images: a radiologist marks or unmarks the active pane's image (frame) with the
// toolbar's 关键图像 button or K; each change is stored by the server as a Key Object
// Selection document. Key images are marked on the series thumbnails and in the pane, and
// listed in the side panel's 关键图像 gallery (pictures rendered by the server), for every
// reader of the study, the township included.
//
// Priors: the patient's other studies, each with a 对比 button that opens it beside this one
// (PacsViewer.layout('1x2'), PacsViewer.openStudy(uid, {pane: 1})). Another site's study that
// is only possibly the same patient says so, with whom it names.
(() => {
  'use strict';
  const island = document.getElementById('study-data');
  if (!island) return;
  const data = JSON.parse(island.textContent);
  const M = data.messages || {};
  const t = (k, vars) => (M[k] || k).replace(/\{(\w+)\}/g, (_, n) => (vars && n in vars ? vars[n] : ''));
  const study = data.study;
  const api = `/api/studies/${encodeURIComponent(study)}`;
  const csrf = document.querySelector('input[name="csrf"]')?.value || '';
  const PV = window.PacsViewer;
  const $ = (id) => document.getElementById(id);
  const el = (tag, props, ...kids) => {
    const e = Object.assign(document.createElement(tag), props || {});
    for (const k of kids) if (k != null) e.append(k);
    return e;
  };

  // ---------------- key images ----------------
  let keys = { revision: 0, images: [], editable: false };
  let busy = false;
  const isKey = (sop, frame) => keys.images.some((k) => k.sop === sop && k.frame === frame);
  const shownImage = (pane) => {
    const im = pane && pane.image;
    return im && im.studyUID === study ? im : null;
  };

  async function loadKeys() {
    try {
      const r = await fetch(`${api}/keyimages`, { headers: { Accept: 'application/json' } });
      if (r.ok) keys = await r.json();
    } catch (e) {
      console.error('key images', e);
    }
    renderKeys();
  }

  function renderKeys() {
    const gallery = $('key-gallery');
    if (gallery) {
      gallery.replaceChildren(...keys.images.map((k, i) => {
        const frame = k.frames > 1 ? ` · ${t('key.frame', { n: k.frame + 1 })}` : '';
        const img = el('img', { src: k.url, alt: `${t('key.title')} ${i + 1}`, loading: 'lazy', decoding: 'async' });
        const b = el('button', { type: 'button', className: 'key-thumb', title: t('key.open') }, img);
        b.dataset.sop = k.sop;
        b.dataset.frame = k.frame;
        b.addEventListener('click', () => showKey(k));
        return el('li', { className: 'key-item' }, b,
          el('span', { className: 'key-caption' }, `${i + 1}${frame}`),
          el('span', { className: 'key-by' }, t('key.by', { name: k.markedByName, time: k.markedAt })));
      }));
    }
    const none = $('key-none');
    if (none) none.hidden = keys.images.length > 0;
    const count = $('key-count');
    if (count) count.textContent = keys.images.length ? `(${keys.images.length})` : '';
    markStrip();
    updateButton();
    if (PV) PV.redraw();
  }

  // markStrip puts a badge on every series of the strip with a key image (again whenever the
  // viewer redraws the strip, e.g. when a prior's series join it).
  function markStrip() {
    const series = new Set(keys.images.map((k) => k.series));
    document.querySelectorAll('#series-strip .thumb[data-series]').forEach((th) => {
      const on = series.has(th.dataset.series);
      th.classList.toggle('has-key', on);
      let badge = th.querySelector('.key-badge');
      if (on && !badge) th.append(badge = el('span', { className: 'key-badge', textContent: `★${t('key.badge')}` }));
      if (!on && badge) badge.remove();
    });
  }

  // showKey brings a key image into the active pane (PacsViewer.show, beyond the contract)
  // and the viewer into sight; without a viewer the server's rendering opens on its own.
  function showKey(k) {
    const fallback = () => window.open(k.url, '_blank', 'noopener');
    if (!PV || typeof PV.show !== 'function') { fallback(); return; }
    Promise.resolve(PV.show(k.sop, k.frame)).catch(fallback);
    document.getElementById('viewer')?.scrollIntoView({ block: 'start', behavior: 'smooth' });
  }

  function updateButton() {
    const b = $('key-toggle');
    if (!b || !PV) return;
    const im = shownImage(PV.active());
    const on = !!im && isKey(im.sopUID, im.frame);
    b.setAttribute('aria-pressed', on ? 'true' : 'false');
    b.classList.toggle('key-on', on);
    b.textContent = on ? `★${t('key.button')}` : t('key.button');
    b.title = `${on ? t('key.unmark') : t('key.mark')} · ${t('key.tip')}`;
    b.disabled = !im || busy;
  }

  function notice(text, bad) {
    const n = $('key-notice') || document.body.appendChild(el('div', { id: 'key-notice', role: 'status' }));
    n.textContent = text;
    n.className = bad ? 'key-notice bad' : 'key-notice';
    clearTimeout(notice.timer);
    notice.timer = setTimeout(() => { n.textContent = ''; n.className = 'key-notice'; }, 2500);
  }

  async function toggleKey(pane) {
    const im = shownImage(pane || PV.active());
    if (!im) { notice(t('key.otherstudy'), true); return; }
    if (busy) return;
    const mark = !isKey(im.sopUID, im.frame);
    busy = true;
    updateButton();
    try {
      const r = await fetch(`${api}/keyimages`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify({ sop: im.sopUID, frame: im.frame, key: mark }),
      });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      keys = await r.json();
      notice(mark ? t('key.marked') : t('key.unmarked'));
    } catch (e) {
      console.error('key image', e);
      notice(t('key.failed'), true);
    } finally {
      busy = false;
      renderKeys();
    }
  }

  // The pane's mark: a star and 关键 at the top, right of the centre (the corners hold the
  // overlay's text, the centre the orientation marker), drawn after each paint.
  function paintMark(pane, ctx) {
    const im = shownImage(pane);
    if (!im || !isKey(im.sopUID, im.frame)) return;
    const s = window.devicePixelRatio || 1;
    const text = `★ ${t('key.badge')}`;
    ctx.save();
    ctx.font = `bold ${Math.round(14 * s)}px sans-serif`;
    const w = ctx.measureText(text).width + 12 * s;
    const x = ctx.canvas.width / 2 + 28 * s;
    const y = 8 * s;
    ctx.fillStyle = 'rgba(0, 0, 0, 0.55)';
    ctx.fillRect(x, y, w, 22 * s);
    ctx.fillStyle = '#ffd54f';
    ctx.textBaseline = 'middle';
    ctx.fillText(text, x + 6 * s, y + 11 * s);
    ctx.restore();
  }

  if (PV) {
    if (data.canEdit) {
      PV.addButton({ id: 'key-toggle', label: t('key.button'), title: t('key.tip'), key: 'k', onClick: toggleKey });
    }
    PV.on('image', () => { updateButton(); markStrip(); });
    PV.on('layout', () => { updateButton(); markStrip(); });
    PV.on('paint', paintMark);
    document.addEventListener('pacs:ready', updateButton);
    // The active pane changes with a click or a tap on another one.
    document.addEventListener('pointerup', () => setTimeout(updateButton), true);
  }

  // ---------------- priors ----------------
  async function loadPriors() {
    const list = $('prior-list');
    const msg = $('priors-msg');
    if (!list) return;
    let priors;
    try {
      const r = await fetch(`${api}/priors`, { headers: { Accept: 'application/json' } });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      priors = (await r.json()).priors || [];
    } catch (e) {
      console.error('priors', e);
      msg.textContent = t('prior.failed');
      return;
    }
    msg.textContent = priors.length ? '' : t('prior.none');
    msg.hidden = priors.length > 0;
    list.replaceChildren(...priors.map(priorItem));
  }

  function priorItem(p) {
    const li = el('li', { className: p.possible ? 'prior possible' : 'prior' });
    li.dataset.study = p.study;
    const head = el('div', { className: 'prior-head' },
      el('span', { className: 'prior-date' }, p.date),
      el('span', { className: 'prior-kind' }, [p.modality, p.bodyPart].filter(Boolean).join(' ')),
      el('span', { className: `status ${p.status}` }, p.statusText));
    const desc = el('div', { className: 'prior-desc' }, p.description || '',
      el('span', { className: 'prior-count' }, t('prior.images', { n: p.images })),
      p.site ? el('span', { className: 'prior-site' }, p.site) : null);
    li.append(head, desc);
    if (p.possible) {
      li.append(el('div', { className: 'prior-possible', title: t('prior.possible.tip') },
        el('strong', {}, t('prior.possible')), ` · ${p.patientName || ''} · ${p.patientId || ''}`));
    }
    const actions = el('div', { className: 'prior-actions' });
    if (PV && p.images > 0) {
      const cmp = el('button', { type: 'button', className: 'secondary prior-compare', textContent: t('prior.compare') });
      cmp.addEventListener('click', async () => {
        cmp.disabled = true;
        try {
          PV.layout('1x2');
          await PV.openStudy(p.study, { pane: 1 });
          document.querySelectorAll('#prior-list .prior.comparing').forEach((x) => x.classList.remove('comparing'));
          li.classList.add('comparing');
          cmp.textContent = t('prior.comparing');
        } catch (e) {
          console.error('compare', e);
          cmp.textContent = t('prior.compare');
        } finally {
          cmp.disabled = false;
        }
      });
      actions.append(cmp);
    }
    actions.append(el('a', { className: 'button secondary prior-open', href: p.url, textContent: t('prior.open') }));
    li.append(actions);
    return li;
  }

  loadKeys();
  loadPriors();
})();
