// Study page: the image viewer: series thumbnails, an image pane with window/level, zoom, pan, invert,
// next/previous and cine.
//
// Greyscale single-frame images are windowed here: the server sends the frame once as
// 16-bit values (Modality LUT applied, at most 2048 px a side) and every window change maps
// them through a lookup table into the canvas, with no round trip. Colour and multi-frame
// images come rendered as JPEG and play as cine.
(() => {
  const data = JSON.parse(document.getElementById('study-data').textContent);
  const M = data.messages || {};
  const t = (k) => M[k] || k;
  const study = data.study;
  const csrf = document.querySelector('input[name="csrf"]')?.value || '';
  const api = `/api/studies/${encodeURIComponent(study)}`;

  // ---------------- image pane ----------------
  const pane = document.getElementById('pane');
  const canvas = document.getElementById('image');
  const ctx = canvas.getContext('2d');
  const msg = document.getElementById('viewer-msg');
  const ovTL = document.getElementById('ov-tl');
  const ovBR = document.getElementById('ov-br');
  const readout = document.getElementById('wl-readout');
  const src = document.createElement('canvas'); // the windowed image at its own size
  const sctx = src.getContext('2d', { willReadFrequently: false });

  const state = {
    images: [], index: 0, frame: 0,
    cur: null, // {kind:'pixels', w, h, px, offset, scale, c0, w0, mono1} | {kind:'rendered', frames:[]}
    center: 0, width: 1, invert: false,
    zoom: 1, panX: 0, panY: 0,
    playing: null,
  };
  const timings = { window: [], paint: [], fetch: [] };
  const pixelCache = new Map(); // key -> prepared pixels (this page only)

  function show(text) { msg.textContent = text || ''; msg.hidden = !text; }

  function resize() {
    const r = pane.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(r.width * dpr));
    canvas.height = Math.max(1, Math.round(r.height * dpr));
    draw();
  }

  function fitScale() {
    if (!src.width) return 1;
    return Math.min(canvas.width / src.width, canvas.height / src.height);
  }

  function draw() {
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (!state.cur || !src.width) return;
    const s = fitScale() * state.zoom;
    const x = (canvas.width - src.width * s) / 2 + state.panX;
    const y = (canvas.height - src.height * s) / 2 + state.panY;
    ctx.imageSmoothingEnabled = s < 4;
    ctx.filter = state.cur.kind === 'rendered' && state.invert ? 'invert(1)' : 'none';
    ctx.drawImage(src, x, y, src.width * s, src.height * s);
    ctx.filter = 'none';
    overlay();
  }

  function overlay() {
    const im = state.images[state.index];
    if (!im) return;
    let tl = `${im.modality} #${im.seriesNumber}  ${t('viewer.image')} ${state.index + 1}/${state.images.length}`;
    if (im.frames > 1) tl += `\n${t('viewer.frame')} ${state.frame + 1}/${im.frames}`;
    ovTL.textContent = tl;
    const wl = state.cur && state.cur.kind === 'pixels' ? `W ${Math.round(state.width)}  L ${Math.round(state.center)}` : '';
    ovBR.textContent = `${wl}\n${Math.round(state.zoom * 100)}%`;
    readout.textContent = wl;
  }

  // applyWindow maps the 16-bit frame through the current window into src (PS3.3
  // C.11.2.1.2.1 linear function), then paints. Its cost is what a drag step costs.
  function applyWindow() {
    const cur = state.cur;
    if (!cur || cur.kind !== 'pixels') return;
    const t0 = performance.now();
    const c = state.center, w = Math.max(state.width, 1);
    const inv = state.invert !== cur.mono1;
    const n = cur.levels;
    const lut = cur.lut;
    for (let v = 0; v < n; v++) {
      const m = cur.offset + v * cur.scale;
      let y = ((m - (c - 0.5)) / (w - 1) + 0.5) * 255;
      y = y <= 0 ? 0 : y >= 255 ? 255 : y;
      lut[v] = inv ? 255 - y : y;
    }
    const px = cur.px, out = cur.out32, len = px.length;
    for (let i = 0; i < len; i++) {
      const g = lut[px[i]];
      out[i] = 0xff000000 | (g << 16) | (g << 8) | g;
    }
    sctx.putImageData(cur.imageData, 0, 0);
    draw();
    const t1 = performance.now();
    timings.window.push(t1 - t0);
    if (timings.window.length > 200) timings.window.shift();
    requestAnimationFrame(() => {
      timings.paint.push(performance.now() - t0);
      if (timings.paint.length > 200) timings.paint.shift();
    });
  }

  async function loadPixels(im, frame) {
    const key = `${im.sop}/${frame}`;
    if (pixelCache.has(key)) return pixelCache.get(key);
    const t0 = performance.now();
    const r = await fetch(`${api}/instances/${im.sop}/frames/${frame}/pixels`, { credentials: 'same-origin' });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const buf = await r.arrayBuffer();
    const h = (k) => Number(r.headers.get(k));
    const w = h('X-Pixel-Width'), hh = h('X-Pixel-Height');
    const px = new Uint16Array(buf, 0, w * hh);
    let maxV = 0;
    for (let i = 0; i < px.length; i++) if (px[i] > maxV) maxV = px[i];
    const imageData = new ImageData(w, hh);
    const cur = {
      kind: 'pixels', w, h: hh, px, imageData, out32: new Uint32Array(imageData.data.buffer),
      levels: maxV + 1, lut: new Uint8Array(maxV + 1),
      offset: h('X-Pixel-Offset'), scale: h('X-Pixel-Scale'), min: h('X-Pixel-Min'), max: h('X-Pixel-Max'),
      c0: h('X-Window-Center'), w0: h('X-Window-Width'), mono1: r.headers.get('X-Photometric') === 'MONOCHROME1',
    };
    timings.fetch.push(performance.now() - t0);
    if (pixelCache.size > 8) pixelCache.delete(pixelCache.keys().next().value);
    pixelCache.set(key, cur);
    return cur;
  }

  async function loadRendered(im) {
    const frames = [];
    for (let f = 0; f < im.frames; f++) {
      const img = new Image();
      img.src = `${api}/instances/${im.sop}/frames/${f}/rendered`;
      frames.push(img);
    }
    await frames[0].decode();
    return { kind: 'rendered', frames };
  }

  let loadSeq = 0;
  async function open(index, keepView) {
    if (!state.images.length) return;
    stop();
    state.index = (index + state.images.length) % state.images.length;
    state.frame = 0;
    const im = state.images[state.index];
    const seq = ++loadSeq;
    document.querySelectorAll('.thumb').forEach((b) => b.classList.toggle('active', b.dataset.series === im.series));
    document.getElementById('cine').hidden = im.frames <= 1;
    document.querySelectorAll('.dr-only').forEach((b) => { b.hidden = !!im.color || im.modality === 'US'; });
    show(t('viewer.loading'));
    try {
      const cur = im.color || im.frames > 1 ? await loadRendered(im) : await loadPixels(im, 0);
      if (seq !== loadSeq) return;
      state.cur = cur;
      if (!keepView) { state.zoom = 1; state.panX = 0; state.panY = 0; state.invert = false; }
      if (cur.kind === 'pixels') {
        src.width = cur.w; src.height = cur.h;
        state.center = cur.c0; state.width = cur.w0;
        show('');
        applyWindow();
      } else {
        showFrame(0);
        show('');
      }
    } catch (e) {
      if (seq === loadSeq) { state.cur = null; draw(); show(t('viewer.error')); }
    }
  }

  function showFrame(f) {
    const cur = state.cur;
    if (!cur || cur.kind !== 'rendered') return;
    state.frame = f;
    const img = cur.frames[f];
    const paint = () => {
      if (state.cur !== cur || state.frame !== f) return;
      src.width = img.naturalWidth; src.height = img.naturalHeight;
      sctx.drawImage(img, 0, 0);
      draw();
    };
    if (img.complete && img.naturalWidth) paint(); else img.decode().then(paint).catch(() => {});
  }

  function play() {
    const im = state.images[state.index];
    if (!state.cur || state.cur.kind !== 'rendered' || im.frames <= 1) return;
    const fps = Math.min(60, Math.max(1, Number(document.getElementById('fps').value) || 15));
    stop();
    document.getElementById('play').textContent = t('tool.pause');
    state.playing = setInterval(() => showFrame((state.frame + 1) % im.frames), 1000 / fps);
    window.__viewer.framesShown = 0;
  }
  function stop() {
    if (state.playing) clearInterval(state.playing);
    state.playing = null;
    const b = document.getElementById('play');
    if (b) b.textContent = t('tool.play');
  }

  // Presets. CT has Hounsfield units, so its windows are absolute; projection radiography
  // (DX, CR, DR, MG) has no standard units, so its presets are relative to the image's own
  // default window: lung lower and wider, bone higher and narrower, soft tissue narrower.
  function preset(name) {
    const cur = state.cur;
    if (!cur || cur.kind !== 'pixels') return;
    const im = state.images[state.index];
    const ct = { lung: [-600, 1500], bone: [300, 2000], soft: [40, 400] };
    if (name === 'default') { state.center = cur.c0; state.width = cur.w0; }
    else if (im.modality === 'CT') { [state.center, state.width] = ct[name]; }
    else {
      const sgn = cur.mono1 ? -1 : 1;
      const rel = { lung: [-0.2, 1.1], bone: [0.25, 0.7], soft: [0.05, 0.5] }[name];
      state.center = cur.c0 + sgn * rel[0] * cur.w0;
      state.width = cur.w0 * rel[1];
    }
    applyWindow();
  }

  // Pointer: drag = window/level (horizontal: width, vertical: level), right or shift drag
  // = pan, wheel = zoom around the pointer. Steps are coalesced to one per frame.
  let drag = null, pending = null;
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());
  canvas.addEventListener('pointerdown', (e) => {
    canvas.setPointerCapture(e.pointerId);
    drag = { x: e.clientX, y: e.clientY, pan: e.button === 2 || e.shiftKey || state.cur?.kind !== 'pixels',
      c: state.center, w: state.width, px: state.panX, py: state.panY };
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!drag) return;
    pending = { dx: e.clientX - drag.x, dy: e.clientY - drag.y };
    if (!pending.raf) requestAnimationFrame(step);
    pending.raf = true;
  });
  function step() {
    if (!drag || !pending) return;
    const { dx, dy } = pending;
    pending = null;
    const dpr = window.devicePixelRatio || 1;
    if (drag.pan) {
      state.panX = drag.px + dx * dpr; state.panY = drag.py + dy * dpr;
      draw();
    } else {
      const cur = state.cur;
      const sens = Math.max(cur.max - cur.min, 1) / 600;
      state.width = Math.max(1, drag.w + dx * sens);
      state.center = drag.c + dy * sens;
      applyWindow();
    }
  }
  const endDrag = () => { drag = null; };
  canvas.addEventListener('pointerup', endDrag);
  canvas.addEventListener('pointercancel', endDrag);
  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    const f = Math.exp(-e.deltaY * 0.0015);
    const r = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const mx = (e.clientX - r.left) * dpr - canvas.width / 2, my = (e.clientY - r.top) * dpr - canvas.height / 2;
    const z = Math.min(20, Math.max(0.1, state.zoom * f));
    const k = z / state.zoom;
    state.panX = mx - (mx - state.panX) * k; state.panY = my - (my - state.panY) * k;
    state.zoom = z;
    draw();
  }, { passive: false });

  document.getElementById('presets').addEventListener('click', (e) => {
    const p = e.target.closest('[data-preset]');
    if (p) preset(p.dataset.preset);
  });
  document.getElementById('invert').addEventListener('click', () => {
    state.invert = !state.invert;
    if (state.cur?.kind === 'pixels') applyWindow(); else draw();
  });
  document.getElementById('reset').addEventListener('click', () => {
    state.zoom = 1; state.panX = 0; state.panY = 0; state.invert = false;
    if (state.cur?.kind === 'pixels') preset('default'); else draw();
  });
  document.getElementById('prev').addEventListener('click', () => open(state.index - 1));
  document.getElementById('next').addEventListener('click', () => open(state.index + 1));
  document.getElementById('play').addEventListener('click', () => (state.playing ? stop() : play()));
  document.getElementById('fps').addEventListener('change', () => { if (state.playing) play(); });
  document.getElementById('series-strip').addEventListener('click', (e) => {
    const b = e.target.closest('[data-series]');
    if (!b) return;
    const i = state.images.findIndex((im) => im.series === b.dataset.series);
    if (i >= 0) open(i);
  });
  document.addEventListener('keydown', (e) => {
    if (e.target.closest('textarea, input, select')) return;
    if (e.key === 'ArrowLeft') open(state.index - 1);
    else if (e.key === 'ArrowRight') open(state.index + 1);
  });
  window.addEventListener('resize', resize);

  async function init() {
    resize();
    try {
      const r = await fetch(`${api}/images`, { credentials: 'same-origin' });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      state.images = await r.json();
    } catch (e) {
      show(t('viewer.error'));
      return;
    }
    if (!state.images.length) { show(t('viewer.noimage')); return; }
    const want = new URLSearchParams(location.hash.slice(1)).get('series');
    const start = Math.max(0, state.images.findIndex((im) => im.series === want));
    await open(start);
  }

  // Hooks for the browser test and for measuring: set a window, read timings.
  window.__viewer = {
    state, timings,
    setWindow(c, w) { state.center = c; state.width = w; applyWindow(); },
    open: (i) => open(i),
  };

  init();
})();
