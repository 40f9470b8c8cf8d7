// Study page: the image viewer. Panes in layouts 1x1, 1x2 and 2x2, each showing one image of
// this study or of a prior of the same patient (compare, with zoom/pan/window linked); an
// overlay (patient, study, series, image n/N, window, zoom), orientation markers, a scale bar;
// rotate, flip, magnifier, 1:1, invert; cine at the file's rate; keyboard and touch.
//
// Greyscale single-frame images are windowed here: the server sends the frame as 16-bit
// values (Modality LUT applied), first a quick preview (at most 1024 px a side) and then the
// full-resolution frame, and every window change maps the level the screen needs through a
// lookup table, with no round trip. Image coordinates are always the full frame's (columns x
// rows), so the swap from preview to full resolution moves nothing. Colour and multi-frame
// images come rendered as JPEG and play as cine.
//
// window.PacsViewer is the contract the other scripts of the page build on (measure.js,
// keyimages.js, report.js, workflow.js): see /tmp/issue18-contract.md's copy in
// viewer/doc.go's neighbourhood, and the comments below.
(() => {
  const data = JSON.parse(document.getElementById('study-data').textContent);
  const M = data.messages || {};
  const t = (k) => M[k] || k;
  const mainStudy = data.study;
  const apiOf = (uid) => `/api/studies/${encodeURIComponent(uid)}`;
  const dpr = () => window.devicePixelRatio || 1;
  const $ = (id) => document.getElementById(id);

  // ---------------- the contract's registry (defined before anything loads) ----------------
  const hooks = { image: [], paint: [], layout: [] };
  const tools = new Map(); // name -> {spec, button}
  const keyActions = new Map(); // key -> fn (extension buttons and tools)
  let activeTool = null;
  const emit = (name, ...args) => {
    for (const fn of hooks[name] || []) {
      try { fn(...args); } catch (e) { console.error(`PacsViewer ${name} hook`, e); }
    }
  };

  const viewerEl = $('viewer');
  const panesEl = $('panes');
  const strip = $('series-strip');
  const readout = $('wl-readout');
  const toolExt = $('tool-ext');

  const studies = new Map(); // uid -> {uid, info, images, prior}
  const panes = [];
  let layoutName = '1x1';
  let activeIndex = 0;
  let linked = false;
  let readyFired = false;
  const timings = { window: [], paint: [], fetch: [], firstImage: null, fullRes: null, opened: [] };
  const push = (a, v) => { a.push(v); if (a.length > 200) a.shift(); };

  // ---------------- pixel data (shared by the panes) ----------------
  const levelCache = new Map(); // `${sop}/${frame}/${preview|full}` -> Promise<level>
  const CACHE_FULL = 6;
  const previewsPending = new Set();
  let fullChain = Promise.resolve(), previewChain = Promise.resolve();

  // fetchLevel gets one frame's 16-bit values: {w, h, px, offset, scale, maxV, c0, w0, min, max, mono1}.
  function fetchLevel(uid, sop, frame, preview) {
    const key = `${sop}/${frame}/${preview ? 'p' : 'f'}`;
    if (levelCache.has(key)) {
      const p = levelCache.get(key);
      levelCache.delete(key); levelCache.set(key, p); // most recently used last
      return p;
    }
    // Frames come one after another in the order asked (the first pane's first: on a
    // server's few cores, at once is no sooner), previews before any full-resolution frame
    // (the first look at every pane comes before the detail of any).
    const before = preview ? [previewChain] : [...previewsPending, fullChain];
    const p = (async () => {
      if (before.length) await Promise.allSettled(before);
      const t0 = performance.now();
      const r = await fetch(`${apiOf(uid)}/instances/${sop}/frames/${frame}/pixels${preview ? '?preview=1' : ''}`, { credentials: 'same-origin' });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const buf = await r.arrayBuffer();
      const h = (k) => Number(r.headers.get(k));
      const w = h('X-Pixel-Width'), hh = h('X-Pixel-Height');
      const px = new Uint16Array(buf, 0, w * hh);
      let maxV = 0;
      for (let i = 0; i < px.length; i++) if (px[i] > maxV) maxV = px[i];
      push(timings.fetch, performance.now() - t0);
      return {
        w, h: hh, px, maxV, preview,
        offset: h('X-Pixel-Offset'), scale: h('X-Pixel-Scale'), min: h('X-Pixel-Min'), max: h('X-Pixel-Max'),
        c0: h('X-Window-Center'), w0: h('X-Window-Width'), mono1: r.headers.get('X-Photometric') === 'MONOCHROME1',
      };
    })();
    levelCache.set(key, p);
    p.catch(() => levelCache.delete(key));
    if (preview) {
      previewChain = p.catch(() => {});
      previewsPending.add(p);
      p.finally(() => previewsPending.delete(p)).catch(() => {});
    } else {
      fullChain = p.catch(() => {});
    }
    let full = 0;
    for (const k of [...levelCache.keys()].reverse()) {
      if (k.endsWith('/f') && ++full > CACHE_FULL) levelCache.delete(k);
    }
    return p;
  }

  const renderedURL = (uid, sop, f) => `${apiOf(uid)}/instances/${sop}/frames/${f}/rendered`;

  // ---------------- studies ----------------
  async function loadStudy(uid, prior) {
    if (studies.has(uid)) return studies.get(uid);
    // The page carries its own study's images (the first frame is asked for at once).
    let j = uid === data.study && !prior ? data.images : null;
    if (!j) {
      const r = await fetch(`${apiOf(uid)}/images`, { credentials: 'same-origin' });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      j = await r.json();
    }
    const images = j.images || [];
    images.sort((a, b) => a.seriesNumber - b.seriesNumber || a.series.localeCompare(b.series) || a.number - b.number);
    const st = { uid, info: j.study || {}, images, prior: !!prior };
    studies.set(uid, st);
    return st;
  }

  // ---------------- panes ----------------
  function makePane(index) {
    const el = document.createElement('div');
    el.className = 'pane';
    el.dataset.pane = String(index);
    el.innerHTML = `<canvas class="image" tabindex="0"></canvas>
      <div class="overlay tl"></div><div class="overlay tr"></div>
      <div class="overlay bl"></div><div class="overlay br"></div>
      <div class="marker mk-top"></div><div class="marker mk-bottom"></div><div class="marker mk-left"></div><div class="marker mk-right"></div>
      <div class="scalebar" hidden><span class="bar"></span><span class="label"></span></div>
      <canvas class="loupe" width="220" height="220" hidden></canvas>
      <div class="message" hidden></div>`;
    const canvas = el.querySelector('canvas');
    if (index === 0) canvas.id = 'image';
    canvas.setAttribute('aria-label', t('viewer.image'));
    panesEl.appendChild(el);
    const q = (s) => el.querySelector(s);
    const p = {
      index, element: el, canvas, ctx: canvas.getContext('2d'),
      ov: { tl: q('.tl'), tr: q('.tr'), bl: q('.bl'), br: q('.br') },
      mk: { top: q('.mk-top'), bottom: q('.mk-bottom'), left: q('.mk-left'), right: q('.mk-right') },
      scalebar: q('.scalebar'), loupe: q('canvas.loupe'), msg: q('.message'),
      src: document.createElement('canvas'), srcLevel: null, buf: null,
      st: null, idx: 0, frame: 0, cur: null, seq: 0,
      center: 0, width: 1, invert: false, zoom: 1, panX: 0, panY: 0, rot: 0, flipH: false, flipV: false,
      playing: null,
      get image() { return imageOf(p); },
      toCanvas: (pt) => matrix(p).transformPoint(new DOMPoint(pt.x, pt.y)),
      toImage: (pt) => {
        const q2 = matrix(p).inverse().transformPoint(new DOMPoint(pt.x * dpr(), pt.y * dpr()));
        return { x: q2.x, y: q2.y };
      },
      scale: () => fitScale(p) * p.zoom,
      values: (x0, y0, x1, y1) => values(p, x0, y0, x1, y1),
    };
    p.sctx = p.src.getContext('2d');
    bindPointer(p);
    panes.push(p);
    return p;
  }

  // imageOf is the contract's Pane.image: what the pane shows now (null when empty).
  function imageOf(p) {
    const im = p.st && p.st.images[p.idx];
    if (!im) return null;
    return {
      studyUID: p.st.uid, seriesUID: im.series, sopUID: im.sop, frame: p.frame, frames: im.frames,
      columns: im.columns, rows: im.rows, modality: im.modality, spacing: im.spacing || null,
      orientation: im.orientation || null, laterality: im.laterality || '', prior: p.st.prior,
      full: !!(p.cur && p.cur.full),
    };
  }

  const visible = () => panes.slice(0, paneCount(layoutName));
  function paneCount(name) { return { '1x1': 1, '1x2': 2, '2x2': 4 }[name] || 1; }
  const active = () => panes[activeIndex] || panes[0];

  function setActive(i) {
    activeIndex = i;
    panes.forEach((p) => p.element.classList.toggle('active', p.index === i && paneCount(layoutName) > 1));
    syncToolbar();
  }

  function resizePane(p) {
    const r = p.element.getBoundingClientRect();
    const w = Math.max(1, Math.round(r.width * dpr())), h = Math.max(1, Math.round(r.height * dpr()));
    if (p.canvas.width !== w || p.canvas.height !== h) { p.canvas.width = w; p.canvas.height = h; }
    draw(p);
  }
  function resizeAll() { visible().forEach(resizePane); }

  // ---------------- geometry ----------------
  // The image's own size in image pixels (columns x rows of the full frame).
  function dims(p) {
    const im = p.st && p.st.images[p.idx];
    return im ? { W: im.columns || p.src.width, H: im.rows || p.src.height } : { W: 1, H: 1 };
  }
  function fitScale(p) {
    const { W, H } = dims(p);
    const odd = p.rot % 2 === 1;
    const w = odd ? H : W, h = odd ? W : H;
    return Math.min(p.canvas.width / w, p.canvas.height / h);
  }
  // matrix maps image coordinates (x: column, y: row, continuous) to canvas device pixels:
  // centre of the image at the canvas centre plus pan, then flips on the screen's axes, the
  // rotation, and the scale.
  function matrix(p, s = fitScale(p) * p.zoom, cx = p.canvas.width / 2 + p.panX, cy = p.canvas.height / 2 + p.panY) {
    const { W, H } = dims(p);
    return new DOMMatrix().translate(cx, cy).scale(p.flipH ? -1 : 1, p.flipV ? -1 : 1).rotate(p.rot * 90)
      .scale(s).translate(-W / 2, -H / 2);
  }

  // ---------------- drawing ----------------
  function draw(p) {
    const ctx = p.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, p.canvas.width, p.canvas.height);
    if (p.cur) {
      if (p.cur.kind === 'pixels') ensureLevel(p);
      if (p.src.width) {
        const { W, H } = dims(p);
        const s = fitScale(p) * p.zoom;
        ctx.setTransform(matrix(p, s));
        ctx.imageSmoothingEnabled = s * (W / p.src.width) < 3;
        ctx.filter = p.cur.kind === 'rendered' && p.invert ? 'invert(1)' : 'none';
        ctx.drawImage(p.src, 0, 0, W, H);
        ctx.filter = 'none';
        ctx.setTransform(1, 0, 0, 1, 0, 0);
        emit('paint', p, ctx);
        ctx.setTransform(1, 0, 0, 1, 0, 0);
      }
    }
    overlay(p);
  }
  const drawAll = () => visible().forEach(draw);

  // ensureLevel picks the smallest loaded level that still has a pixel for every screen
  // pixel at the current scale (the full frame when zoomed in), and windows it if it is not
  // the one already in the pane's source canvas.
  function ensureLevel(p) {
    const cur = p.cur;
    const { W, H } = dims(p);
    const need = Math.max(W, H) * fitScale(p) * p.zoom * 0.98;
    const lv = cur.levels.find((l) => Math.max(l.w, l.h) >= need) || cur.levels[cur.levels.length - 1];
    if (lv !== p.srcLevel) { windowInto(p, lv); return; }
    // Panned or zoomed out beyond the part windowed: window what is shown now.
    const r = visibleRect(p, lv, 0), w = p.winRect;
    if (r.x0 < w.x0 || r.y0 < w.y0 || r.x1 > w.x1 || r.y1 > w.y1) windowInto(p, lv);
  }

  // visibleRect is the part of level lv the pane shows, in lv's pixels, widened by margin
  // (a fraction of it each side) so that a pan does not re-window at every step; the whole
  // level when that is most of it (zoomed to fit).
  function visibleRect(p, lv, margin = 0.25) {
    const { W, H } = dims(p);
    const inv = matrix(p).inverse();
    const kx = lv.w / W, ky = lv.h / H;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const [cx, cy] of [[0, 0], [p.canvas.width, 0], [0, p.canvas.height], [p.canvas.width, p.canvas.height]]) {
      const q = inv.transformPoint(new DOMPoint(cx, cy));
      x0 = Math.min(x0, q.x * kx); x1 = Math.max(x1, q.x * kx);
      y0 = Math.min(y0, q.y * ky); y1 = Math.max(y1, q.y * ky);
    }
    const mx = (x1 - x0) * margin, my = (y1 - y0) * margin;
    const r = { x0: Math.max(0, Math.floor(x0 - mx)), y0: Math.max(0, Math.floor(y0 - my)),
      x1: Math.min(lv.w, Math.ceil(x1 + mx)), y1: Math.min(lv.h, Math.ceil(y1 + my)) };
    if (r.x1 <= r.x0 || r.y1 <= r.y0 || (r.x1 - r.x0) * (r.y1 - r.y0) > 0.6 * lv.w * lv.h) {
      return { x0: 0, y0: 0, x1: lv.w, y1: lv.h };
    }
    return r;
  }

  // windowInto maps a level through the pane's window into its source canvas (PS3.3
  // C.11.2.1.2.1, the linear VOI function): the part the pane shows (all of it at fit, the
  // visible part zoomed in, so that a window step on a full 3000x3000 frame costs what the
  // screen shows). Its cost is what a window/level step costs.
  function windowInto(p, lv) {
    if (!p.buf || p.buf.w !== lv.w || p.buf.h !== lv.h) {
      const imageData = new ImageData(lv.w, lv.h);
      p.buf = { w: lv.w, h: lv.h, imageData, out32: new Uint32Array(imageData.data.buffer) };
    }
    if (!lv.lut) lv.lut = new Uint8Array(lv.maxV + 1);
    const c = p.center, w = Math.max(p.width, 1);
    const inv = p.invert !== lv.mono1;
    const lut = lv.lut;
    for (let v = 0; v <= lv.maxV; v++) {
      const m = lv.offset + v * lv.scale;
      let y = ((m - (c - 0.5)) / (w - 1) + 0.5) * 255;
      y = y <= 0 ? 0 : y >= 255 ? 255 : y;
      lut[v] = inv ? 255 - y : y;
    }
    const r = visibleRect(p, lv);
    const px = lv.px, out = p.buf.out32;
    for (let y = r.y0; y < r.y1; y++) {
      for (let i = y * lv.w + r.x0, end = y * lv.w + r.x1; i < end; i++) {
        const g = lut[px[i]];
        out[i] = 0xff000000 | (g << 16) | (g << 8) | g;
      }
    }
    if (p.src.width !== lv.w || p.src.height !== lv.h) { p.src.width = lv.w; p.src.height = lv.h; }
    p.sctx.putImageData(p.buf.imageData, 0, 0, r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0);
    p.srcLevel = lv;
    p.winRect = r;
  }

  // applyWindow re-windows and repaints; timed for the benchmark.
  function applyWindow(p) {
    if (!p.cur || p.cur.kind !== 'pixels') { draw(p); return; }
    const t0 = performance.now();
    p.srcLevel = null;
    draw(p);
    const t1 = performance.now();
    push(timings.window, t1 - t0);
    requestAnimationFrame(() => push(timings.paint, performance.now() - t0));
  }

  const fmt = (x) => (Math.abs(x) >= 100 ? Math.round(x) : Math.round(x * 10) / 10);

  function overlay(p) {
    const im = p.st && p.st.images[p.idx];
    const ov = p.ov;
    if (!im) {
      ov.tl.textContent = ov.tr.textContent = ov.bl.textContent = ov.br.textContent = '';
      Object.values(p.mk).forEach((m) => { m.textContent = ''; });
      p.scalebar.hidden = true;
      return;
    }
    const info = p.st.info;
    ov.tl.textContent = [info.name, info.patientId, [info.age, info.sex].filter(Boolean).join(' ')].filter(Boolean).join('\n');
    const tr = [info.institution, info.date, info.description].filter(Boolean);
    if (p.st.prior) tr.unshift(t('view.prior'));
    ov.tr.textContent = tr.join('\n');
    const series = p.st.images.filter((x) => x.series === im.series);
    let bl = `${im.modality} #${im.seriesNumber}${im.seriesDescription ? ' ' + im.seriesDescription : ''}`;
    bl += `\n${t('viewer.image')} ${p.idx + 1}/${p.st.images.length}`;
    if (series.length > 1 && series.length !== p.st.images.length) bl += `  (${series.indexOf(im) + 1}/${series.length})`;
    if (im.frames > 1) bl += `\n${t('view.frame')} ${p.frame + 1}/${im.frames}`;
    if (im.laterality) bl += `\n${t('view.laterality')} ${im.laterality} ${t('view.lat.' + im.laterality)}`;
    ov.bl.textContent = bl;
    const lines = [];
    if (p.cur && p.cur.kind === 'pixels') lines.push(wlText(p));
    lines.push(`${t('view.zoom')} ${Math.round(fitScale(p) * p.zoom * 100 / dpr())}%`);
    if (p.cur && p.cur.kind === 'pixels' && !p.cur.full) lines.push(t('view.preview'));
    lines.push(im.spacing ? `${t('view.source.' + im.spacing.source)} ${fmt(im.spacing.col * 1000) / 1000}mm` : t('view.uncalibrated'));
    ov.br.textContent = lines.join('\n');
    markers(p, im);
    scaleBar(p, im);
    if (p.index === activeIndex) readout.textContent = p.cur && p.cur.kind === 'pixels' ? wlText(p) : '';
  }
  const wlText = (p) => `${t('view.ww')} ${Math.round(p.width)}  ${t('view.wc')} ${Math.round(p.center)}`;

  const opposite = { A: 'P', P: 'A', R: 'L', L: 'R', H: 'F', F: 'H' };
  const flipDir = (s) => [...s].map((ch) => opposite[ch] || ch).join('');
  // markers puts Patient Orientation's letters (PS3.3 C.7.6.1.1.1: the direction of the rows,
  // towards the right of the stored image, then of the columns, towards its bottom) on the
  // screen's edges, following rotation and flips.
  function markers(p, im) {
    const o = im.orientation;
    if (!o || o.length !== 2) { Object.values(p.mk).forEach((m) => { m.textContent = ''; }); return; }
    const m = matrix(p, 1, 0, 0);
    const dirs = [
      { v: m.transformPoint(new DOMPoint(1, 0)), o0: m.transformPoint(new DOMPoint(0, 0)), label: o[0] },
      { v: m.transformPoint(new DOMPoint(0, 1)), o0: m.transformPoint(new DOMPoint(0, 0)), label: o[1] },
    ].map((d) => ({ x: Math.round(d.v.x - d.o0.x), y: Math.round(d.v.y - d.o0.y), label: d.label }));
    const at = (sx, sy) => {
      for (const d of dirs) {
        if (d.x === sx && d.y === sy) return d.label;
        if (d.x === -sx && d.y === -sy) return flipDir(d.label);
      }
      return '';
    };
    p.mk.right.textContent = at(1, 0); p.mk.left.textContent = at(-1, 0);
    p.mk.bottom.textContent = at(0, 1); p.mk.top.textContent = at(0, -1);
  }

  // scaleBar shows a bar of a round length across about a fifth of the pane, in millimetres
  // or centimetres, when the image is calibrated; the overlay says 未校准 otherwise.
  function scaleBar(p, im) {
    const sp = im.spacing;
    if (!sp || !p.cur) { p.scalebar.hidden = true; return; }
    const perPx = (p.rot % 2 ? sp.row : sp.col); // mm per image pixel across the screen
    const cssPerMM = fitScale(p) * p.zoom / dpr() / perPx;
    const target = p.canvas.width / dpr() / 5 / cssPerMM;
    const nice = [1, 2, 5, 10, 20, 50, 100, 200, 500].find((n) => n >= target) || 500;
    p.scalebar.hidden = false;
    p.scalebar.querySelector('.bar').style.width = `${nice * cssPerMM}px`;
    p.scalebar.querySelector('.label').textContent = nice >= 10 ? `${nice / 10} cm` : `${nice} mm`;
    p.scalebar.dataset.mm = String(nice);
    p.scalebar.dataset.px = String(nice * cssPerMM);
  }

  // ---------------- loading images ----------------
  // show loads image idx of study st into pane p. The preview comes first when the frame is
  // larger than it; the full frame replaces it as soon as it arrives, at the same place.
  async function show(p, st, idx, opts = {}) {
    if (!st || !st.images.length) return;
    stop(p);
    const seq = ++p.seq;
    const keep = opts.keepView && p.st === st;
    p.st = st;
    p.idx = (idx + st.images.length) % st.images.length;
    p.frame = 0;
    const im = st.images[p.idx];
    const t0 = performance.now();
    message(p, t('viewer.loading'));
    syncStrip();
    try {
      if (im.color || im.frames > 1) {
        const frames = [];
        for (let f = 0; f < im.frames; f++) {
          const img = new Image();
          img.src = renderedURL(st.uid, im.sop, f);
          frames.push(img);
        }
        await frames[0].decode();
        if (seq !== p.seq) return;
        p.cur = { kind: 'rendered', frames };
        if (!keep) resetView(p);
        showFrame(p, 0);
      } else {
        const big = Math.max(im.columns, im.rows) > 1024;
        // The preview is asked for first, so that the full frame waits for it (fetchLevel):
        // made at once, the two would share the server's cores and the first look come later.
        const previewP = big ? fetchLevel(st.uid, im.sop, 0, true) : null;
        const fullP = fetchLevel(st.uid, im.sop, 0, false);
        const first = await Promise.race([previewP || fullP, fullP]);
        if (seq !== p.seq) return;
        const cur = { kind: 'pixels', levels: [first], full: first.preview ? null : first, c0: first.c0, w0: first.w0,
          min: first.min, max: first.max, mono1: first.mono1 };
        // The contract's __viewer hook reads w/h: the largest level loaded.
        Object.defineProperty(cur, 'w', { get: () => cur.levels[cur.levels.length - 1].w });
        Object.defineProperty(cur, 'h', { get: () => cur.levels[cur.levels.length - 1].h });
        p.cur = cur;
        if (!keep) { resetView(p); p.center = cur.c0; p.width = cur.w0; }
        applyWindow(p);
        if (!cur.full) {
          fullP.then((lv) => {
            if (p.cur !== cur) return;
            cur.levels = [first, lv].sort((a, b) => a.w - b.w);
            cur.full = lv;
            cur.min = lv.min; cur.max = lv.max;
            p.srcLevel = null;
            draw(p);
            if (p.st === st && !timings.fullRes) timings.fullRes = performance.now();
            emit('image', p);
            prefetch(st, p.idx);
          }).catch(() => {});
        } else {
          prefetch(st, p.idx);
        }
      }
      message(p, '');
      timings.opened.push({ pane: p.index, sop: im.sop, ms: performance.now() - t0 });
      if (!timings.firstImage) timings.firstImage = performance.now();
      if (im.frames > 1 && p.index === activeIndex) $('fps').value = String(Math.round(im.cineRate || 15));
      syncToolbar();
      emit('image', p);
      if (!readyFired) { readyFired = true; document.dispatchEvent(new CustomEvent('pacs:ready')); }
    } catch (e) {
      if (seq === p.seq) { p.cur = null; draw(p); message(p, t('viewer.error')); }
    }
  }

  // prefetch asks for the neighbours' frames once this one is shown, so that the next image
  // is at hand when asked for.
  function prefetch(st, idx) {
    for (const d of [1, -1]) {
      const im = st.images[(idx + d + st.images.length) % st.images.length];
      if (!im || im.color || im.frames > 1) continue;
      if (Math.max(im.columns, im.rows) > 1024) fetchLevel(st.uid, im.sop, 0, true).catch(() => {});
      fetchLevel(st.uid, im.sop, 0, false).catch(() => {});
    }
  }

  function message(p, text) { p.msg.textContent = text || ''; p.msg.hidden = !text; }

  function resetView(p) {
    p.zoom = 1; p.panX = 0; p.panY = 0; p.invert = false; p.rot = 0; p.flipH = false; p.flipV = false;
  }

  function showFrame(p, f) {
    const cur = p.cur;
    if (!cur || cur.kind !== 'rendered') return;
    p.frame = f;
    const img = cur.frames[f];
    const paint = () => {
      if (p.cur !== cur || p.frame !== f) return;
      if (p.src.width !== img.naturalWidth || p.src.height !== img.naturalHeight) {
        p.src.width = img.naturalWidth; p.src.height = img.naturalHeight;
      }
      p.sctx.drawImage(img, 0, 0);
      draw(p);
      if (window.__viewer) window.__viewer.framesShown = (window.__viewer.framesShown || 0) + 1;
      emit('image', p);
    };
    if (img.complete && img.naturalWidth) paint(); else img.decode().then(paint).catch(() => {});
  }

  function stepFrame(p, d) {
    const im = p.st && p.st.images[p.idx];
    if (!im || im.frames <= 1 || !p.cur || p.cur.kind !== 'rendered') return false;
    stop(p);
    showFrame(p, (p.frame + d + im.frames) % im.frames);
    return true;
  }

  function play(p) {
    const im = p.st && p.st.images[p.idx];
    if (!p.cur || p.cur.kind !== 'rendered' || !im || im.frames <= 1) return;
    const fps = Math.min(120, Math.max(1, Number($('fps').value) || im.cineRate || 15));
    stop(p);
    $('play').textContent = t('tool.pause');
    p.playing = setInterval(() => showFrame(p, (p.frame + 1) % im.frames), 1000 / fps);
    p.fps = fps;
    window.__viewer.framesShown = 0;
  }
  function stop(p) {
    if (p.playing) clearInterval(p.playing);
    p.playing = null;
    if (p.index === activeIndex) $('play').textContent = t('tool.play');
  }

  // values is the contract's Pane.values: the full-resolution frame's modality values (or
  // the luminance of a colour frame) in the rectangle, for ROI statistics.
  async function values(p, x0, y0, x1, y1) {
    const im = p.st && p.st.images[p.idx];
    if (!im) throw new Error('no image');
    const xa = Math.max(0, Math.floor(Math.min(x0, x1))), ya = Math.max(0, Math.floor(Math.min(y0, y1)));
    const xb = Math.min(im.columns, Math.ceil(Math.max(x0, x1))), yb = Math.min(im.rows, Math.ceil(Math.max(y0, y1)));
    const width = Math.max(0, xb - xa), height = Math.max(0, yb - ya);
    const out = new Float32Array(width * height);
    if (!width || !height) return { width, height, data: out };
    if (p.cur && p.cur.kind === 'pixels') {
      const lv = await fetchLevel(p.st.uid, im.sop, p.frame, false);
      for (let y = 0; y < height; y++) {
        const row = (ya + y) * lv.w;
        for (let x = 0; x < width; x++) out[y * width + x] = lv.offset + lv.px[row + xa + x] * lv.scale;
      }
      return { width, height, data: out };
    }
    const img = p.cur.frames[p.frame];
    await img.decode();
    const c = document.createElement('canvas');
    c.width = width; c.height = height;
    const cx = c.getContext('2d');
    const sx = img.naturalWidth / im.columns, sy = img.naturalHeight / im.rows;
    cx.drawImage(img, xa * sx, ya * sy, width * sx, height * sy, 0, 0, width, height);
    const d = cx.getImageData(0, 0, width, height).data;
    for (let i = 0; i < out.length; i++) out[i] = 0.299 * d[4 * i] + 0.587 * d[4 * i + 1] + 0.114 * d[4 * i + 2];
    return { width, height, data: out };
  }

  async function showSOP(sop, frame, opts) {
    for (const st of studies.values()) {
      const j = st.images.findIndex((im) => im.sop === sop);
      if (j < 0) continue;
      const p = panes[opts.pane ?? activeIndex] || active();
      if (!(p.st === st && p.idx === j)) await show(p, st, j);
      if (frame > 0) stepFrame(p, frame - p.frame);
      return p;
    }
    throw new Error(`${sop}: not an image of a study shown`);
  }

  // ---------------- layouts and hanging ----------------
  function layout(name, fill = true) {
    if (!{ '1x1': 1, '1x2': 1, '2x2': 1 }[name]) return layoutName;
    layoutName = name;
    const n = paneCount(name);
    while (panes.length < n) makePane(panes.length);
    panesEl.className = `panes l${name}`;
    panes.forEach((p, i) => { p.element.hidden = i >= n; if (i >= n) stop(p); });
    if (activeIndex >= n) activeIndex = 0;
    // Empty panes get the next series of the first pane's study (then the next images).
    const st = fill && panes[0].st;
    for (let i = 0; i < n; i++) {
      if (panes[i].st || !st) continue;
      const used = new Set(panes.filter((p) => p.st === st).map((p) => p.idx));
      const firsts = st.images.map((im, j) => j).filter((j) => j === 0 || st.images[j - 1].series !== st.images[j].series);
      const j = firsts.find((k) => !used.has(k)) ?? st.images.findIndex((_, k) => !used.has(k));
      if (j >= 0) show(panes[i], st, j);
    }
    document.querySelectorAll('[data-layout]').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.layout === name)));
    setActive(activeIndex);
    requestAnimationFrame(resizeAll);
    resizeAll();
    emit('layout');
    return layoutName;
  }

  // hang chooses the first layout: a radiograph study with two or more images (PA and
  // lateral) side by side, the frontal view first; anything else one image.
  function hang(st) {
    // A phone's screen is one pane wide.
    const projection = window.innerWidth >= 600 && st.images.length >= 2 && st.images.every((im) => ['DX', 'CR', 'DR'].includes(im.modality) && !im.color);
    if (!projection) return { layout: '1x1', order: [0] };
    const lateral = (im) => /LAT|LL|RL|^L$|^R$/.test(im.viewPosition || '');
    let a = st.images.findIndex((im) => !lateral(im));
    if (a < 0) a = 0;
    let b = st.images.findIndex((im, j) => j !== a && lateral(im));
    if (b < 0) b = a === 0 ? 1 : 0;
    return { layout: '1x2', order: [a, b] };
  }

  // ---------------- compare with a prior ----------------
  async function openStudy(uid, opts = {}) {
    const st = await loadStudy(uid, uid !== mainStudy);
    if (!st.images.length) throw new Error(t('viewer.noimage'));
    const want = opts.pane ?? 1;
    if (want >= paneCount(layoutName)) layout(want >= 2 ? '2x2' : '1x2');
    const p = panes[want];
    // The prior's image most like what the first pane shows: the same view position, else
    // the same modality, else its first.
    const ref = panes[0].st && panes[0].st.images[panes[0].idx];
    let j = ref ? st.images.findIndex((im) => im.viewPosition && im.viewPosition === ref.viewPosition) : -1;
    if (j < 0 && ref) j = st.images.findIndex((im) => im.modality === ref.modality);
    if (st.prior) { addStripGroup(st); setLinked(true); }
    await show(p, st, Math.max(0, j));
    setActive(want);
    return p;
  }

  function setLinked(on) {
    linked = on;
    const b = $('link');
    if (b) b.setAttribute('aria-pressed', String(on));
  }

  // The panes that follow a change made in p: the other visible panes when linked.
  const followers = (p) => (linked ? visible().filter((q) => q !== p && q.cur) : []);

  function syncView(p) {
    for (const q of followers(p)) { q.zoom = p.zoom; q.panX = p.panX; q.panY = p.panY; draw(q); }
  }

  // ---------------- series strip ----------------
  function addStripGroup(st) {
    if (strip.querySelector(`.strip-group[data-study="${CSS.escape(st.uid)}"]`)) return;
    if (!strip.querySelector('.strip-head')) {
      const main = studies.get(mainStudy);
      const h = document.createElement('div');
      h.className = 'strip-head';
      h.textContent = `${t('view.current')} ${main ? (main.info.date || '').slice(0, 10) : ''}`;
      strip.prepend(h);
    }
    const g = document.createElement('div');
    g.className = 'strip-group';
    g.dataset.study = st.uid;
    const h = document.createElement('div');
    h.className = 'strip-head prior';
    h.textContent = `${t('view.prior')} ${(st.info.date || '').slice(0, 10)}`;
    g.appendChild(h);
    const seen = new Map();
    for (const im of st.images) {
      if (!seen.has(im.series)) seen.set(im.series, { im, n: 0 });
      seen.get(im.series).n++;
    }
    for (const { im, n } of seen.values()) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'thumb';
      b.draggable = true;
      b.dataset.series = im.series;
      b.dataset.study = st.uid;
      b.title = im.seriesDescription || '';
      const img = document.createElement('img');
      img.width = 96; img.height = 96;
      img.alt = `${im.modality} ${im.seriesNumber}`;
      img.src = `/studies/${encodeURIComponent(st.uid)}/series/${encodeURIComponent(im.series)}/thumbnail`;
      const s = document.createElement('span');
      s.textContent = `${im.modality} #${im.seriesNumber} · ${n}`;
      b.append(img, s);
      g.appendChild(b);
    }
    strip.appendChild(g);
  }

  function syncStrip() {
    const shown = new Set(visible().filter((p) => p.st).map((p) => `${p.st.uid}/${p.st.images[p.idx].series}`));
    const a = active();
    const act = a.st ? `${a.st.uid}/${a.st.images[a.idx].series}` : '';
    strip.querySelectorAll('.thumb').forEach((b) => {
      const k = `${b.dataset.study || mainStudy}/${b.dataset.series}`;
      b.classList.toggle('shown', shown.has(k));
      b.classList.toggle('active', k === act);
    });
  }

  // A thumbnail goes into a pane: dropped on it, or (touch, or more than one pane) chosen
  // then the pane tapped; a plain click with one pane opens it there.
  let armed = null;
  async function openSeries(p, studyUID, series) {
    const st = await loadStudy(studyUID, studyUID !== mainStudy);
    const j = st.images.findIndex((im) => im.series === series);
    if (j >= 0) { setActive(p.index); await show(p, st, j); }
  }
  function arm(b) {
    strip.querySelectorAll('.thumb.armed').forEach((x) => x.classList.remove('armed'));
    armed = b;
    if (b) b.classList.add('armed');
    panesEl.classList.toggle('armed', !!b);
  }
  // A finger taps a series, then the pane it goes into (with one pane: straight there); a
  // mouse clicks a series into the active pane, or drags it into any. The tap is read from
  // the pointer events themselves, not from the click a browser may or may not make of it.
  let tapStart = null, tappedAt = 0;
  strip.addEventListener('pointerdown', (e) => {
    tapStart = e.pointerType === 'touch' ? { x: e.clientX, y: e.clientY, b: e.target.closest('.thumb[data-series]') } : null;
  });
  strip.addEventListener('pointerup', (e) => {
    const s = tapStart;
    tapStart = null;
    if (!s || !s.b || Math.hypot(e.clientX - s.x, e.clientY - s.y) > 12) return;
    tappedAt = performance.now();
    if (paneCount(layoutName) > 1 && armed !== s.b) { arm(s.b); return; }
    arm(null);
    openSeries(active(), s.b.dataset.study || mainStudy, s.b.dataset.series);
  });
  strip.addEventListener('click', (e) => {
    const b = e.target.closest('.thumb[data-series]');
    if (!b || performance.now() - tappedAt < 800) return; // the tap was handled
    arm(null);
    openSeries(active(), b.dataset.study || mainStudy, b.dataset.series);
  });
  strip.addEventListener('dragstart', (e) => {
    const b = e.target.closest('.thumb[data-series]');
    if (!b) return;
    e.dataTransfer.setData('application/x-pacs-series', JSON.stringify({ study: b.dataset.study || mainStudy, series: b.dataset.series }));
    e.dataTransfer.effectAllowed = 'copy';
  });
  panesEl.addEventListener('dragover', (e) => {
    if (e.dataTransfer.types.includes('application/x-pacs-series')) { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; }
  });
  panesEl.addEventListener('drop', (e) => {
    const el = e.target.closest('.pane');
    const raw = e.dataTransfer.getData('application/x-pacs-series');
    if (!el || !raw) return;
    e.preventDefault();
    const d = JSON.parse(raw);
    openSeries(panes[Number(el.dataset.pane)], d.study, d.series);
  });

  // ---------------- pointer and touch ----------------
  function bindPointer(p) {
    const c = p.canvas;
    const touches = new Map();
    let drag = null, pending = null, gesture = null;
    c.addEventListener('contextmenu', (e) => e.preventDefault());
    c.addEventListener('pointerdown', (e) => {
      if (armed) { const b = armed; arm(null); openSeries(p, b.dataset.study || mainStudy, b.dataset.series); return; }
      if (p.index !== activeIndex) setActive(p.index);
      c.focus({ preventScroll: true });
      c.setPointerCapture(e.pointerId);
      if (e.pointerType === 'touch') {
        touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
        if (touches.size === 2) {
          if (drag && drag.tool) drag.tool.cancel && drag.tool.cancel();
          if (drag && !drag.tool && !drag.pan) { p.center = drag.c; p.width = drag.w; applyWindow(p); }
          drag = null;
          gesture = startGesture();
          return;
        }
        if (touches.size > 2) return;
      }
      const tool = activeTool && tools.get(activeTool);
      if (tool && e.button === 0 && !e.shiftKey) {
        drag = { tool: tool.spec };
        call(tool.spec.down, p, e);
        return;
      }
      drag = {
        x: e.clientX, y: e.clientY, t: performance.now(), touch: e.pointerType === 'touch',
        pan: e.button === 2 || e.shiftKey || p.cur?.kind !== 'pixels',
        c: p.center, w: p.width, px: p.panX, py: p.panY,
        others: followers(p).map((q) => ({ q, c: q.center, w: q.width })),
      };
    });
    c.addEventListener('pointermove', (e) => {
      if (e.pointerType === 'touch' && touches.has(e.pointerId)) touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (gesture) { stepGesture(); return; }
      if (p.loupeOn && !drag) loupe(p, e);
      if (!drag) return;
      if (drag.tool) { call(drag.tool.move, p, e); return; }
      pending = { dx: e.clientX - drag.x, dy: e.clientY - drag.y };
      if (!pending.raf) requestAnimationFrame(step);
      pending.raf = true;
      if (p.loupeOn) loupe(p, e);
    });
    function call(fn, pane, e) {
      if (!fn) return;
      const r = c.getBoundingClientRect();
      try { fn(pane, pane.toImage({ x: e.clientX - r.left, y: e.clientY - r.top }), e); } catch (err) { console.error(err); }
    }
    function step() {
      if (!drag || !pending || drag.tool) return;
      const { dx, dy } = pending;
      pending = null;
      if (drag.pan) {
        p.panX = drag.px + dx * dpr(); p.panY = drag.py + dy * dpr();
        draw(p);
        syncView(p);
        return;
      }
      const cur = p.cur;
      const sens = Math.max(cur.max - cur.min, 1) / 600;
      p.width = Math.max(1, drag.w + dx * sens);
      p.center = drag.c + dy * sens;
      applyWindow(p);
      for (const o of drag.others) {
        if (o.q.cur?.kind !== 'pixels') continue;
        o.q.width = Math.max(1, o.w + dx * sens); o.q.center = o.c + dy * sens;
        applyWindow(o.q);
      }
    }
    const end = (e) => {
      touches.delete(e.pointerId);
      if (gesture) { if (touches.size < 2) gesture = null; drag = null; return; }
      if (!drag) return;
      if (drag.tool) { if (e.type === 'pointercancel') drag.tool.cancel && drag.tool.cancel(); else call(drag.tool.up, p, e); drag = null; return; }
      // A quick horizontal one-finger flick at zoom 1 turns the page: next/previous image;
      // the window it may have started to change goes back.
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y, dt = performance.now() - drag.t;
      if (drag.touch && p.zoom === 1 && dt < 500 && Math.abs(dx) > 50 && Math.abs(dy) < Math.abs(dx) / 2) {
        if (!drag.pan) { p.center = drag.c; p.width = drag.w; for (const o of drag.others) { o.q.center = o.c; o.q.width = o.w; } }
        drag = null; pending = null;
        step1(p, dx < 0 ? 1 : -1);
        return;
      }
      drag = null;
    };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', end);
    c.addEventListener('pointerleave', () => { if (p.loupeOn) p.loupe.hidden = true; });
    // Two fingers: pinch = zoom around their midpoint, moving together = pan.
    function startGesture() {
      const [a, b] = [...touches.values()];
      return { d: Math.hypot(a.x - b.x, a.y - b.y) || 1, mx: (a.x + b.x) / 2, my: (a.y + b.y) / 2, zoom: p.zoom, px: p.panX, py: p.panY };
    }
    function stepGesture() {
      if (touches.size < 2) return;
      const [a, b] = [...touches.values()];
      const d = Math.hypot(a.x - b.x, a.y - b.y) || 1;
      const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
      const r = c.getBoundingClientRect();
      const ox = (gesture.mx - r.left) * dpr() - c.width / 2, oy = (gesture.my - r.top) * dpr() - c.height / 2;
      const z = Math.min(40, Math.max(0.1, gesture.zoom * d / gesture.d));
      const k = z / gesture.zoom;
      p.zoom = z;
      p.panX = ox - (ox - gesture.px) * k + (mx - gesture.mx) * dpr();
      p.panY = oy - (oy - gesture.py) * k + (my - gesture.my) * dpr();
      draw(p);
      syncView(p);
    }
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      const r = c.getBoundingClientRect();
      zoomAt(p, Math.exp(-e.deltaY * 0.0015), (e.clientX - r.left) * dpr(), (e.clientY - r.top) * dpr());
    }, { passive: false });
  }

  // zoomAt multiplies the zoom by f keeping canvas point (mx, my) still.
  function zoomAt(p, f, mx = p.canvas.width / 2, my = p.canvas.height / 2) {
    const ox = mx - p.canvas.width / 2, oy = my - p.canvas.height / 2;
    const z = Math.min(40, Math.max(0.1, p.zoom * f));
    const k = z / p.zoom;
    p.panX = ox - (ox - p.panX) * k; p.panY = oy - (oy - p.panY) * k;
    p.zoom = z;
    draw(p);
    syncView(p);
  }

  // actualPixels shows one image pixel per screen pixel (device pixels), centred.
  function actualPixels(p) {
    p.zoom = 1 / fitScale(p); p.panX = 0; p.panY = 0;
    draw(p);
    syncView(p);
  }

  // loupe magnifies (x2 over the pane's scale, at least 1:1) around the pointer.
  function loupe(p, e) {
    const L = p.loupe;
    if (!p.cur || !p.src.width) { L.hidden = true; return; }
    const r = p.canvas.getBoundingClientRect();
    const ox = e.clientX - r.left, oy = e.clientY - r.top;
    const pt = p.toImage({ x: ox, y: oy });
    L.hidden = false;
    L.style.left = `${ox - L.width / 2}px`; L.style.top = `${oy - L.height / 2}px`;
    if (p.cur.kind === 'pixels' && p.cur.full && p.srcLevel !== p.cur.full) windowInto(p, p.cur.full);
    const s = Math.max(fitScale(p) * p.zoom * 2 / dpr(), 1);
    const lc = L.getContext('2d');
    lc.setTransform(1, 0, 0, 1, 0, 0);
    lc.fillStyle = '#000'; lc.fillRect(0, 0, L.width, L.height);
    const { W, H } = dims(p);
    const m = new DOMMatrix().translate(L.width / 2, L.height / 2).scale(p.flipH ? -1 : 1, p.flipV ? -1 : 1).rotate(p.rot * 90).scale(s).translate(-pt.x, -pt.y);
    lc.setTransform(m);
    lc.imageSmoothingEnabled = false;
    lc.filter = p.cur.kind === 'rendered' && p.invert ? 'invert(1)' : 'none';
    lc.drawImage(p.src, 0, 0, W, H);
  }

  // ---------------- commands (toolbar, keys) ----------------
  function step1(p, d) {
    if (!p.st) return;
    show(p, p.st, p.idx + d);
  }
  function preset(name, p = active()) {
    for (const q of [p, ...followers(p)]) {
      const cur = q.cur;
      if (!cur || cur.kind !== 'pixels') continue;
      const im = q.st.images[q.idx];
      const ct = { lung: [-600, 1500], bone: [300, 2000], soft: [40, 400] };
      if (name === 'default') { q.center = cur.c0; q.width = cur.w0; } else if (im.modality === 'CT') { [q.center, q.width] = ct[name]; } else {
        // Projection radiography (DX, CR, DR, MG) has no standard units, so its presets are
        // relative to the image's own default window: lung lower and wider, bone higher and
        // narrower, soft tissue narrower.
        const sgn = cur.mono1 ? -1 : 1;
        const rel = { lung: [-0.2, 1.1], bone: [0.25, 0.7], soft: [0.05, 0.5] }[name];
        q.center = cur.c0 + sgn * rel[0] * cur.w0;
        q.width = cur.w0 * rel[1];
      }
      applyWindow(q);
    }
  }
  const commands = {
    rotate: (p) => { p.rot = (p.rot + 1) % 4; draw(p); },
    fliph: (p) => { p.flipH = !p.flipH; draw(p); },
    flipv: (p) => { p.flipV = !p.flipV; draw(p); },
    invert: (p) => { for (const q of [p, ...followers(p)]) { q.invert = !q.invert; applyWindow(q); } },
    reset: (p) => {
      for (const q of [p, ...followers(p)]) {
        resetView(q);
        if (q.cur?.kind === 'pixels') { q.center = q.cur.c0; q.width = q.cur.w0; applyWindow(q); } else draw(q);
      }
    },
    actual: (p) => actualPixels(p),
    loupe: (p) => {
      const on = !p.loupeOn;
      panes.forEach((q) => { q.loupeOn = on; if (!on) q.loupe.hidden = true; });
      $('loupe').setAttribute('aria-pressed', String(on));
    },
    link: () => { setLinked(!linked); },
    prev: (p) => step1(p, -1),
    next: (p) => step1(p, 1),
    play: (p) => (p.playing ? stop(p) : play(p)),
    help: () => toggleHelp(),
  };
  const run = (name) => commands[name] && commands[name](active());

  viewerEl.querySelector('.toolbar').addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (!b) return;
    if (b.dataset.layout) layout(b.dataset.layout);
    else if (b.dataset.preset) preset(b.dataset.preset);
    else if (b.dataset.cmd) run(b.dataset.cmd);
  });
  $('fps').addEventListener('change', () => { const p = active(); if (p.playing) play(p); });

  const keys = {
    ArrowLeft: 'prev', ArrowRight: 'next', ' ': 'play', r: 'rotate', h: 'fliph', v: 'flipv', i: 'invert',
    m: 'loupe', a: 'actual', 0: 'reset', l: 'link', '?': 'help',
  };
  document.addEventListener('keydown', (e) => {
    if (e.target.closest && e.target.closest('textarea, input, select, [contenteditable]')) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const p = active();
    const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    let done = true;
    if (keyActions.has(k) && e.key !== 'Escape') keyActions.get(k)(); // an extension's own key wins
    else if (e.key === 'Escape') {
      if (!$('view-help').hidden) toggleHelp(false);
      else if (activeTool) setTool(null);
      else if (armed) arm(null);
      else done = false;
    } else if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
      const d = e.key === 'ArrowUp' ? -1 : 1;
      if (!stepFrame(p, d)) step1(p, d);
    } else if (k === ',' || k === '.') stepFrame(p, k === ',' ? -1 : 1);
    else if (k === '1') layout('1x1');
    else if (k === '2') layout('1x2');
    else if (k === '4') layout('2x2');
    else if (e.key === 'Tab' && e.target.tagName === 'CANVAS' && paneCount(layoutName) > 1) {
      setActive((activeIndex + (e.shiftKey ? -1 : 1) + paneCount(layoutName)) % paneCount(layoutName));
      active().canvas.focus();
    } else if (k === '+' || k === '=') zoomAt(p, 1.25);
    else if (k === '-') zoomAt(p, 0.8);
    else if (k === 'd' || k === 'g' || k === 'b' || k === 's') preset({ d: 'default', g: 'lung', b: 'bone', s: 'soft' }[k]);
    else if (keys[k] || keys[e.key]) run(keys[k] || keys[e.key]);
    else done = false;
    if (done) e.preventDefault();
  });

  function toggleHelp(show) {
    const h = $('view-help');
    const on = show ?? h.hidden;
    if (on) fillExtHelp();
    h.hidden = !on;
  }
  // The help lists the extension tools' and buttons' keys too (the rest is in the template).
  function fillExtHelp() {
    const tb = $('view-help-ext');
    if (!tb) return;
    tb.textContent = '';
    for (const [key, spec] of [...tools.values()].map((x) => [x.spec.key, x.spec]).concat(extButtons.map((s) => [s.key, s]))) {
      if (!key) continue;
      const tr = document.createElement('tr');
      const a = document.createElement('td'), b = document.createElement('td');
      const kbd = document.createElement('kbd');
      kbd.textContent = key.toUpperCase();
      a.appendChild(kbd);
      b.textContent = spec.title || spec.label || '';
      tr.append(a, b);
      tb.appendChild(tr);
    }
  }
  $('view-help').addEventListener('click', (e) => { if (e.target.closest('[data-close]') || e.target.id === 'view-help') toggleHelp(false); });

  function syncToolbar() {
    const p = active();
    const im = p.st && p.st.images[p.idx];
    $('cine').hidden = !im || im.frames <= 1;
    document.querySelectorAll('.dr-only').forEach((b) => { b.hidden = !im || !!im.color || im.modality === 'US'; });
    $('link').hidden = paneCount(layoutName) < 2;
    if (im && im.frames > 1 && !p.playing) $('fps').value = String(Math.round(im.cineRate || 15));
    $('play').textContent = p.playing ? t('tool.pause') : t('tool.play');
    syncStrip();
    if (p.cur && p.cur.kind === 'pixels') readout.textContent = wlText(p); else readout.textContent = '';
  }

  // ---------------- the contract ----------------
  const extButtons = [];
  function setTool(name) {
    if (activeTool && activeTool !== name) {
      const old = tools.get(activeTool);
      if (old) { old.button.setAttribute('aria-pressed', 'false'); old.spec.cancel && old.spec.cancel(); }
    }
    activeTool = name && tools.has(name) ? name : null;
    if (activeTool) tools.get(activeTool).button.setAttribute('aria-pressed', 'true');
    panes.forEach((p) => { p.canvas.style.cursor = activeTool ? (tools.get(activeTool).spec.cursor || 'crosshair') : ''; });
    return activeTool;
  }
  function extButton(id, label, title) {
    const b = document.createElement('button');
    b.type = 'button';
    if (id) b.id = id;
    b.textContent = label || id || '';
    if (title) b.title = title;
    toolExt.appendChild(b);
    return b;
  }

  window.PacsViewer = {
    panes: () => visible(),
    active: () => active(),
    layout: (name) => (name ? layout(name) : layoutName),
    openStudy: (uid, opts) => openStudy(uid, opts),
    on(name, fn) { if (hooks[name] && typeof fn === 'function') hooks[name].push(fn); },
    addTool(name, spec) {
      if (tools.has(name)) return;
      const b = extButton(`tool-${name}`, spec.label, spec.title && spec.key ? `${spec.title} (${spec.key.toUpperCase()})` : spec.title);
      b.className = 'tool';
      b.dataset.tool = name;
      b.setAttribute('aria-pressed', 'false');
      b.addEventListener('click', () => setTool(activeTool === name ? null : name));
      tools.set(name, { spec, button: b });
      if (spec.key) keyActions.set(spec.key.toLowerCase(), () => setTool(activeTool === name ? null : name));
    },
    setTool: (name) => setTool(name),
    tool: () => activeTool,
    addButton(spec) {
      const b = extButton(spec.id, spec.label, spec.title && spec.key ? `${spec.title} (${spec.key.toUpperCase()})` : spec.title);
      b.addEventListener('click', () => spec.onClick && spec.onClick(active()));
      extButtons.push(spec);
      if (spec.key) keyActions.set(spec.key.toLowerCase(), () => spec.onClick && spec.onClick(active()));
      return b;
    },
    redraw(p) { if (p) draw(p); else drawAll(); },
    // Additions beyond the contract: show an image (and frame) of a loaded study in the
    // active pane or opts.pane; the study's overlay data and images; whether panes are linked.
    show: (sop, frame = 0, opts = {}) => showSOP(sop, frame, opts),
    study: (uid) => studies.get(uid || mainStudy) || null,
    linked: (on) => { if (typeof on === 'boolean') setLinked(on); return linked; },
  };

  // Hooks for the browser tests and the benchmark: set a window, read timings.
  window.__viewer = {
    get state() { const p = active(); return { cur: p.cur, get center() { return p.center; }, get width() { return p.width; }, zoom: p.zoom }; },
    timings,
    setWindow(c, w) { const p = active(); p.center = c; p.width = w; applyWindow(p); },
    open: (i) => { const p = active(); return show(p, p.st, i); },
    pane: (i) => panes[i],
    framesShown: 0,
  };

  window.addEventListener('resize', resizeAll);

  async function init() {
    layout('1x1');
    resizeAll();
    let st;
    try {
      st = await loadStudy(mainStudy, false);
    } catch (e) {
      message(panes[0], t('viewer.error'));
      return;
    }
    if (!st.images.length) { message(panes[0], t('viewer.noimage')); return; }
    const want = new URLSearchParams(location.hash.slice(1)).get('series');
    const wanted = st.images.findIndex((im) => im.series === want);
    if (wanted >= 0) { await show(panes[0], st, wanted); return; }
    const h = hang(st);
    if (h.layout !== '1x1') {
      layout(h.layout, false);
      await Promise.all([show(panes[0], st, h.order[0]), show(panes[1], st, h.order[1])]);
    } else {
      await show(panes[0], st, h.order[0]);
    }
  }
  init();
})();
