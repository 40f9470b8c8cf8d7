// Study page: measurements and annotations on the viewer's panes (window.PacsViewer, viewer.js).
//
// Tools (radiologists and administrators): length, angle (three points, the vertex second),
// Cobb angle (two lines), ellipse and rectangle ROIs with mean, SD and area, arrow, text, and
// a select tool to pick a measurement, drag it elsewhere or delete it (Delete key). Lengths and
// areas are in mm and mm² when the image is calibrated, with the source of the calibration
// shown (Pixel Spacing, Imager Pixel Spacing at the detector, an ultrasound region), and in
// pixels marked as uncalibrated otherwise; ROI statistics are over the full-resolution frame's
// stored values (Pane.values). The list of the study's measurements is in the side panel
// (injected here); a click on one goes to its image. "保存测量" stores the set on the server
// (/api/studies/:study/measurements), which stores it into the study as a measurement SR;
// township users see the list and the drawings, read-only.
(() => {
  const PV = window.PacsViewer;
  const dataEl = document.getElementById('study-data');
  if (!PV || !dataEl) return;
  const data = JSON.parse(dataEl.textContent);
  const M = data.messages || {};
  const t = (k, vars) => (M[k] || k).replace(/\{(\w+)\}/g, (_, v) => (vars && v in vars ? vars[v] : ''));
  const study = data.study;
  const csrf = document.querySelector('input[name="csrf"]')?.value || '';
  const url = `/api/studies/${encodeURIComponent(study)}/measurements`;
  const dpr = () => window.devicePixelRatio || 1;

  const state = { items: [], version: 0, editable: false, dirty: false, selected: null, draft: null, saving: false };
  window.__measure = state; // for the browser tests

  // ---------------- geometry and values ----------------
  const spacingOf = (a) => a.spacing || null; // {row, col, source} when calibrated
  // phys turns an image vector into millimetres (or keeps pixels when uncalibrated).
  const phys = (sp, dx, dy) => (sp ? { x: dx * sp.col, y: dy * sp.row } : { x: dx, y: dy });
  const dist = (sp, a, b) => { const v = phys(sp, b.x - a.x, b.y - a.y); return Math.hypot(v.x, v.y); };
  const deg = (r) => (r * 180) / Math.PI;
  function angleAt(sp, a, v, c) {
    const u = phys(sp, a.x - v.x, a.y - v.y), w = phys(sp, c.x - v.x, c.y - v.y);
    const cos = (u.x * w.x + u.y * w.y) / (Math.hypot(u.x, u.y) * Math.hypot(w.x, w.y) || 1);
    return deg(Math.acos(Math.max(-1, Math.min(1, cos))));
  }
  function lineAngle(sp, a, b, c, d) {
    const u = phys(sp, b.x - a.x, b.y - a.y), w = phys(sp, d.x - c.x, d.y - c.y);
    let x = Math.abs(deg(Math.atan2(u.y, u.x) - Math.atan2(w.y, w.x))) % 180;
    if (x > 90) x = 180 - x;
    return x;
  }
  // measure fills in the values of a, from its points and its image's calibration; ROI
  // statistics come from the pane's stored values (async).
  async function measure(a, pane) {
    const sp = spacingOf(a), p = a.points;
    a.calibration = sp ? sp.source : '';
    if (a.kind === 'length') a.length = dist(sp, p[0], p[1]);
    if (a.kind === 'angle') a.angle = angleAt(sp, p[0], p[1], p[2]);
    if (a.kind === 'cobb') a.angle = lineAngle(sp, p[0], p[1], p[2], p[3]);
    if (a.kind !== 'ellipse' && a.kind !== 'rect') return;
    const x0 = Math.min(p[0].x, p[1].x), x1 = Math.max(p[0].x, p[1].x);
    const y0 = Math.min(p[0].y, p[1].y), y1 = Math.max(p[0].y, p[1].y);
    const unit = sp ? sp.col * sp.row : 1;
    a.area = (a.kind === 'ellipse' ? (Math.PI * (x1 - x0) * (y1 - y0)) / 4 : (x1 - x0) * (y1 - y0)) * unit;
    if (!pane) return;
    const v = await pane.values(x0, y0, x1, y1);
    const ox = Math.max(0, Math.floor(x0)), oy = Math.max(0, Math.floor(y0));
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2, rx = (x1 - x0) / 2 || 1, ry = (y1 - y0) / 2 || 1;
    let n = 0, sum = 0, sq = 0;
    for (let y = 0; y < v.height; y++) {
      for (let x = 0; x < v.width; x++) {
        // A pixel counts when its centre is inside the region.
        const px = ox + x + 0.5, py = oy + y + 0.5;
        if (px < x0 || px > x1 || py < y0 || py > y1) continue;
        if (a.kind === 'ellipse' && ((px - cx) / rx) ** 2 + ((py - cy) / ry) ** 2 > 1) continue;
        const s = v.data[y * v.width + x];
        n++; sum += s; sq += s * s;
      }
    }
    if (n) {
      a.mean = sum / n;
      a.sd = Math.sqrt(Math.max(0, sq / n - a.mean * a.mean));
    } else {
      delete a.mean; delete a.sd;
    }
  }

  const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '—');
  const calName = (a) => (a.calibration ? t('meas.cal.' + a.calibration) : t('meas.uncalshort'));
  // valueText is what a measurement says, in words: on the image and in the list.
  function valueText(a) {
    const mm = !!a.calibration;
    switch (a.kind) {
      case 'length': return mm ? `${fmt(a.length)} mm` : `${fmt(a.length, 1)} ${t('meas.uncal')}`;
      case 'angle': case 'cobb': return `${fmt(a.angle, 1)}°`;
      case 'ellipse': case 'rect': return roiLines(a).join(' ');
      default: return a.text || '';
    }
  }
  function roiLines(a) {
    return [`${t('meas.mean')} ${fmt(a.mean, 1)} ${t('meas.sd')} ${fmt(a.sd, 1)}`,
      `${t('meas.area')} ` + (a.calibration ? `${fmt(a.area)} mm²` : `${fmt(a.area, 0)} px²（${t('meas.uncalshort')}）`)];
  }
  const hasCalibration = (a) => a.kind === 'length' || a.kind === 'ellipse' || a.kind === 'rect';

  // ---------------- drawing ----------------
  const onPane = (a, pane) => {
    const im = pane.image;
    return im && im.studyUID === study && im.sopUID === a.sop && im.frame === (a.frame || 0);
  };
  PV.on('paint', (pane, ctx) => {
    const all = state.draft && state.draft.pane === pane ? state.items.concat([state.draft.a]) : state.items;
    for (const a of all) if (onPane(a, pane)) paint(pane, ctx, a);
  });
  function paint(pane, ctx, a) {
    const s = dpr();
    const P = a.points.map((p) => pane.toCanvas(p));
    const sel = state.selected === a.id;
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.lineWidth = (sel ? 2.5 : 1.5) * s;
    ctx.strokeStyle = ctx.fillStyle = sel ? '#00e5ff' : '#ffd400';
    ctx.shadowColor = 'rgba(0,0,0,.8)';
    ctx.shadowBlur = 2 * s;
    const line = (i, j) => { ctx.beginPath(); ctx.moveTo(P[i].x, P[i].y); ctx.lineTo(P[j].x, P[j].y); ctx.stroke(); };
    let at = P[P.length - 1];
    switch (a.kind) {
      case 'length': line(0, 1); break;
      case 'angle': if (P.length > 2) { line(0, 1); line(1, 2); at = P[1]; } else line(0, 1); break;
      case 'cobb': line(0, 1); if (P.length > 3) line(2, 3); break;
      case 'rect': case 'ellipse': {
        const x = Math.min(P[0].x, P[1].x), y = Math.min(P[0].y, P[1].y);
        const w = Math.abs(P[1].x - P[0].x), h = Math.abs(P[1].y - P[0].y);
        ctx.beginPath();
        if (a.kind === 'rect') ctx.rect(x, y, w, h);
        else ctx.ellipse(x + w / 2, y + h / 2, w / 2, h / 2, 0, 0, 2 * Math.PI);
        ctx.stroke();
        at = { x: x + w, y: y + h };
        break;
      }
      case 'arrow': {
        line(0, 1);
        const ang = Math.atan2(P[1].y - P[0].y, P[1].x - P[0].x), L = 12 * s;
        ctx.beginPath();
        ctx.moveTo(P[1].x, P[1].y);
        ctx.lineTo(P[1].x - L * Math.cos(ang - 0.4), P[1].y - L * Math.sin(ang - 0.4));
        ctx.lineTo(P[1].x - L * Math.cos(ang + 0.4), P[1].y - L * Math.sin(ang + 0.4));
        ctx.closePath();
        ctx.fill();
        at = P[0];
        break;
      }
      case 'text': break;
    }
    for (const p of P) if (sel && a.kind !== 'text') ctx.fillRect(p.x - 3 * s, p.y - 3 * s, 6 * s, 6 * s);
    const lines = a.kind === 'rect' || a.kind === 'ellipse' ? roiLines(a) : [valueText(a)];
    if (hasCalibration(a) && a.calibration) lines.push(calName(a));
    if (a.text && a.kind !== 'text') lines.push(a.text);
    ctx.font = `${(a.kind === 'text' ? 15 : 13) * s}px sans-serif`;
    lines.filter(Boolean).forEach((l, i) => {
      // Kept inside the pane: a label at the right edge moves left.
      const x = Math.max(2 * s, Math.min(at.x + 6 * s, ctx.canvas.width - ctx.measureText(l).width - 4 * s));
      ctx.fillText(l, x, at.y + (i * 16 + (a.kind === 'text' ? 0 : 14)) * s);
    });
    ctx.restore();
  }

  // ---------------- tools ----------------
  function newItem(kind, pane, pt) {
    const im = pane.image;
    return { id: '', kind, series: im.seriesUID, sop: im.sopUID, sopClass: '', frame: im.frame || 0, points: [pt],
      spacing: im.spacing || null };
  }
  function refuse(pane) {
    const im = pane.image;
    if (im && im.studyUID === study) return false;
    notice(t('meas.otherstudy'));
    return true;
  }
  // Each tool turns drags into points: how many drags (or clicks) make the measurement.
  const kinds = {
    length: { key: 'x', strokes: 1 },
    angle: { key: 'y', strokes: 2 },
    cobb: { key: 'j', strokes: 2 },
    ellipse: { key: 'e', strokes: 1 },
    rect: { key: 'u', strokes: 1 },
    arrow: { key: 'w', strokes: 1 },
    text: { key: 't', strokes: 0 },
  };
  function finishDraft(pane) {
    const d = state.draft;
    state.draft = null;
    if (!d) return;
    const a = d.a;
    if (a.kind === 'text' || a.kind === 'arrow') {
      const s = window.prompt(t(a.kind === 'text' ? 'meas.textprompt' : 'meas.arrowprompt'), '');
      if (a.kind === 'text' && !(s && s.trim())) { PV.redraw(pane); return; }
      if (s && s.trim()) a.text = s.trim().slice(0, 500);
    }
    add(a, pane);
  }
  async function add(a, pane) {
    await measure(a, pane);
    state.items.push(a);
    state.selected = null;
    changed();
  }
  const tiny = (pane, a, b) => Math.hypot(a.x - b.x, a.y - b.y) * pane.scale() < 3 * dpr();
  function drawTool(kind) {
    const spec = kinds[kind];
    return {
      label: t('meas.' + kind), title: t('meas.tool.' + kind), key: spec.key, cursor: 'crosshair',
      down(pane, pt) {
        if (refuse(pane)) return;
        const d = state.draft;
        if (kind === 'text') { state.draft = { pane, a: newItem(kind, pane, pt) }; finishDraft(pane); return; }
        if (d && d.pane === pane && d.a.kind === kind) {
          // The second stroke: angle's third point, Cobb's second line.
          d.a.points.push(pt);
          if (kind === 'cobb') d.a.points.push({ ...pt });
          d.stroke = 2;
        } else {
          state.draft = { pane, stroke: 1, a: newItem(kind, pane, pt) };
          state.draft.a.points.push({ ...pt });
        }
        PV.redraw(pane);
      },
      move(pane, pt) {
        const d = state.draft;
        if (!d || d.pane !== pane) return;
        d.a.points[d.a.points.length - 1] = pt;
        PV.redraw(pane);
      },
      up(pane, pt) {
        const d = state.draft;
        if (!d || d.pane !== pane) return;
        const P = d.a.points;
        P[P.length - 1] = pt;
        if (d.stroke === 1 && tiny(pane, P[0], P[1])) { state.draft = null; PV.redraw(pane); return; }
        if (d.stroke < spec.strokes) { PV.redraw(pane); return; }
        finishDraft(pane);
      },
      cancel() { const d = state.draft; state.draft = null; if (d) PV.redraw(d.pane); },
    };
  }

  // The select tool: a click picks the nearest measurement, a drag moves it.
  let moving = null;
  function near(pane, pt) {
    const s = pane.scale() / dpr(); // screen px per image px
    let best = null, bestD = 10;
    for (const a of state.items) {
      if (!onPane(a, pane)) continue;
      const P = a.points;
      let d = Infinity;
      const seg = (p, q) => {
        const vx = q.x - p.x, vy = q.y - p.y, L = vx * vx + vy * vy || 1;
        const u = Math.max(0, Math.min(1, ((pt.x - p.x) * vx + (pt.y - p.y) * vy) / L));
        return Math.hypot(p.x + u * vx - pt.x, p.y + u * vy - pt.y);
      };
      if (a.kind === 'rect' || a.kind === 'ellipse') {
        const x0 = Math.min(P[0].x, P[1].x), x1 = Math.max(P[0].x, P[1].x), y0 = Math.min(P[0].y, P[1].y), y1 = Math.max(P[0].y, P[1].y);
        d = pt.x >= x0 && pt.x <= x1 && pt.y >= y0 && pt.y <= y1 ? 0 : Infinity;
      } else if (P.length === 1) d = Math.hypot(P[0].x - pt.x, P[0].y - pt.y);
      else for (let i = 0; i + 1 < P.length; i++) if (!(a.kind === 'cobb' && i === 1)) d = Math.min(d, seg(P[i], P[i + 1]));
      d *= s;
      if (d < bestD) { best = a; bestD = d; }
    }
    return best;
  }
  const selectTool = {
    label: t('meas.select'), title: t('meas.tool.select'), key: 'o', cursor: 'pointer',
    down(pane, pt) {
      const a = near(pane, pt);
      state.selected = a ? a.id || (a.id = tempID()) : null;
      moving = a ? { a, pane, from: pt, orig: a.points.map((p) => ({ ...p })) } : null;
      renderList();
      PV.redraw(pane);
    },
    move(pane, pt) {
      if (!moving || moving.pane !== pane) return;
      const dx = pt.x - moving.from.x, dy = pt.y - moving.from.y;
      moving.a.points = moving.orig.map((p) => ({ x: p.x + dx, y: p.y + dy }));
      PV.redraw(pane);
    },
    async up(pane, pt) {
      const m = moving;
      if (!m) return;
      selectTool.move(pane, pt);
      moving = null;
      if (m.a.points.some((p, i) => p.x !== m.orig[i].x || p.y !== m.orig[i].y)) {
        await measure(m.a, pane);
        changed();
      }
    },
    cancel() { if (moving) { moving.a.points = moving.orig; PV.redraw(moving.pane); moving = null; } },
  };
  // Items drawn here get a temporary identifier until the server gives them a UID.
  let tempN = 0;
  const tempID = () => `tmp-${++tempN}`;

  function remove(a) {
    state.items = state.items.filter((x) => x !== a);
    if (state.selected === a.id) state.selected = null;
    changed();
  }
  document.addEventListener('keydown', (e) => {
    if (!state.editable || (e.key !== 'Delete' && e.key !== 'Backspace')) return;
    if (e.target.closest && e.target.closest('textarea, input, select, [contenteditable]')) return;
    const a = state.items.find((x) => x.id && x.id === state.selected);
    if (!a) return;
    e.preventDefault();
    remove(a);
  });

  // ---------------- the side panel ----------------
  const panel = document.createElement('section');
  panel.className = 'measure-panel';
  panel.id = 'measure-panel';
  panel.innerHTML = `<h2></h2><p class="meas-status" id="meas-status" role="status"></p><ol class="meas-list" id="meas-list"></ol>`;
  panel.querySelector('h2').textContent = t('meas.title');
  const list = panel.querySelector('ol');
  const status = panel.querySelector('#meas-status');
  const side = document.querySelector('main.study aside.side');
  if (side) side.insertBefore(panel, side.querySelector('.info') ? side.querySelector('.info').nextSibling : side.firstChild);
  let saveBtn = null;
  function notice(s) { status.textContent = s || ''; }

  function imageNumber(a) {
    const st = PV.study && PV.study(study);
    const i = st && st.images ? st.images.findIndex((im) => im.sop === a.sop) : -1;
    return i >= 0 ? i + 1 : 0;
  }
  function el(tag, cls, text, onClick) {
    const e = document.createElement(tag);
    if (tag === 'button') e.type = 'button';
    e.className = cls;
    if (text !== undefined) e.textContent = text;
    if (onClick) e.addEventListener('click', onClick);
    return e;
  }
  function renderList() {
    list.textContent = '';
    if (!state.items.length) list.appendChild(el('li', 'none', t('meas.none')));
    for (const a of state.items) {
      const li = el('li', 'meas-item' + (state.selected && state.selected === a.id ? ' selected' : ''));
      li.dataset.kind = a.kind;
      const n = imageNumber(a);
      const where = (n ? t('meas.image', { n }) : '') + (a.frame ? ' ' + t('meas.frame', { n: a.frame + 1 }) : '');
      const value = a.kind === 'text' || a.kind === 'arrow' ? a.text || '' : valueText(a) + (a.text ? ' ' + a.text : '');
      const go = el('button', 'link meas-go', undefined, () => goTo(a));
      go.append(el('b', '', t('meas.' + a.kind)), ' ', el('span', 'meas-value', value), ' ',
        // An uncalibrated value says so itself (px（未校准）).
        el('span', 'meas-cal', hasCalibration(a) && a.calibration ? `（${calName(a)}）` : ''), ' ', el('span', 'meas-where', where));
      li.appendChild(go);
      if (state.editable) li.appendChild(el('button', 'secondary meas-delete', t('meas.delete'), () => remove(a)));
      list.appendChild(li);
    }
    if (saveBtn) saveBtn.disabled = !state.dirty || state.saving;
  }
  // goTo shows a measurement's image in the active pane and selects it.
  async function goTo(a) {
    state.selected = a.id || (a.id = tempID());
    const p = PV.active();
    if (!onPane(a, p)) {
      if (typeof PV.show === 'function') await PV.show(a.sop, a.frame || 0);
      else if (window.__viewer && typeof window.__viewer.open === 'function') {
        const n = imageNumber(a);
        if (n) await window.__viewer.open(n - 1);
      }
    }
    renderList();
    PV.redraw();
  }

  function changed() {
    state.dirty = true;
    notice(t('meas.unsaved'));
    renderList();
    PV.redraw();
  }
  window.addEventListener('beforeunload', (e) => { if (state.dirty) { e.preventDefault(); e.returnValue = ''; } });

  // ---------------- server ----------------
  function adopt(r) {
    state.version = r.version;
    state.editable = !!r.editable;
    // The calibration an item was measured with is kept with it; the spacing itself is
    // the image's, found again when the item is edited.
    state.items = (r.items || []).map((a) => ({ ...a, spacing: spacingFor(a) }));
    state.dirty = false;
    notice(r.updatedBy && r.updatedAt ? t('meas.by', { name: r.updatedBy, time: r.updatedAt.slice(0, 16).replace('T', ' ') }) : '');
  }
  function spacingFor(a) {
    const st = PV.study && PV.study(study);
    const im = st && st.images && st.images.find((x) => x.sop === a.sop);
    return im && im.spacing && a.calibration ? im.spacing : null;
  }
  async function load() {
    const r = await fetch(url, { headers: { Accept: 'application/json' } });
    if (!r.ok) return;
    adopt(await r.json());
    renderList();
    PV.redraw();
  }
  async function save() {
    if (state.saving) return;
    state.saving = true;
    notice(t('meas.saving'));
    renderList();
    const body = {
      version: state.version,
      items: state.items.map(({ spacing, ...a }) => ({ ...a, id: a.id && !a.id.startsWith('tmp-') ? a.id : '' })),
    };
    try {
      const r = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify(body) });
      if (r.status === 409) {
        // Someone saved meanwhile: their set, plus what was drawn here and not yet saved.
        const mine = state.items.filter((a) => !a.id || a.id.startsWith('tmp-'));
        await load();
        if (mine.length) { state.items.push(...mine); state.dirty = true; }
        notice(t('meas.conflict'));
        return;
      }
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      adopt(await r.json());
      notice(t('meas.saved'));
    } catch (e) {
      notice(t('meas.failed'));
    } finally {
      state.saving = false;
      renderList();
      PV.redraw();
    }
  }

  async function init() {
    await load();
    if (!state.editable) { renderList(); return; }
    for (const kind of Object.keys(kinds)) PV.addTool('meas-' + kind, drawTool(kind));
    PV.addTool('meas-select', selectTool);
    saveBtn = PV.addButton({ id: 'meas-save', label: t('meas.save'), title: t('meas.save'), onClick: save });
    renderList();
  }
  // The list names images by number: it waits for the viewer's study to be known.
  if (PV.study && PV.study(study)) init();
  else document.addEventListener('pacs:ready', init, { once: true });
})();
