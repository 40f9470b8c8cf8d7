// The patient's phone page: two fingers zoom an image about their midpoint, one finger then
// pans it, a double tap resets it. Brightness and contrast apply to every image as a CSS
// filter (the images are rendered JPEGs: nothing to recompute).
(() => {
  const imgs = () => document.querySelectorAll('.share-images img');
  const b = document.getElementById('share-brightness');
  const c = document.getElementById('share-contrast');
  const apply = () => imgs().forEach((i) => { i.style.filter = `brightness(${b.value}%) contrast(${c.value}%)`; });
  b?.addEventListener('input', apply);
  c?.addEventListener('input', apply);

  const zooms = [];
  document.getElementById('share-reset')?.addEventListener('click', () => {
    b.value = 100; c.value = 100; apply();
    zooms.forEach((z) => z());
  });

  document.querySelectorAll('figure.zoom').forEach((fig) => {
    const img = fig.querySelector('img');
    const pts = new Map();
    let s = 1, x = 0, y = 0, start = null, lastTap = 0;
    const show = () => {
      img.style.transform = `translate(${x}px, ${y}px) scale(${s})`;
      img.dataset.scale = s.toFixed(2);
      fig.style.touchAction = s > 1 ? 'none' : 'pan-y'; // zoomed: the page no longer scrolls under the finger
    };
    const reset = () => { s = 1; x = 0; y = 0; show(); };
    zooms.push(reset);
    const at = (e) => { const r = fig.getBoundingClientRect(); return { x: e.clientX - r.left, y: e.clientY - r.top }; };
    const begin = () => {
      const p = [...pts.values()];
      if (p.length === 2) {
        const m = { x: (p[0].x + p[1].x) / 2, y: (p[0].y + p[1].y) / 2 };
        start = { m, d: Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y), s, x, y };
      } else if (p.length === 1) {
        start = { p: p[0], s, x, y };
      } else {
        start = null;
      }
    };
    fig.addEventListener('pointerdown', (e) => {
      pts.set(e.pointerId, at(e));
      fig.setPointerCapture(e.pointerId);
      if (pts.size === 1) {
        const now = Date.now();
        if (now - lastTap < 300) reset();
        lastTap = now;
      }
      begin();
    });
    fig.addEventListener('pointermove', (e) => {
      if (!pts.has(e.pointerId) || !start) return;
      pts.set(e.pointerId, at(e));
      const p = [...pts.values()];
      if (p.length === 2 && start.d) {
        const m = { x: (p[0].x + p[1].x) / 2, y: (p[0].y + p[1].y) / 2 };
        const ns = Math.min(8, Math.max(1, start.s * Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y) / start.d));
        // The image point under the fingers' first midpoint stays under their midpoint.
        x = m.x - ns * (start.m.x - start.x) / start.s;
        y = m.y - ns * (start.m.y - start.y) / start.s;
        s = ns;
        show();
      } else if (p.length === 1 && start.p && s > 1) {
        x = start.x + p[0].x - start.p.x;
        y = start.y + p[0].y - start.p.y;
        show();
      }
    });
    const up = (e) => { pts.delete(e.pointerId); begin(); };
    fig.addEventListener('pointerup', up);
    fig.addEventListener('pointercancel', up);
  });
})();
