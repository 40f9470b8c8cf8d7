// The print view's button; the page itself is plain HTML so any browser prints it.
document.getElementById('print-now')?.addEventListener('click', () => window.print());

// The study's key images (viewer/keyimages.go), as pictures the server renders, under the
// report's text; the section stays hidden when there are none. data-ready tells a waiting
// reader (and the browser test) that every picture has loaded.
(async () => {
  const sec = document.getElementById('print-keyimages');
  if (!sec) return;
  try {
    const r = await fetch(`/api/studies/${encodeURIComponent(sec.dataset.study)}/keyimages`, { headers: { Accept: 'application/json' } });
    const images = r.ok ? (await r.json()).images || [] : [];
    const grid = sec.querySelector('.key-grid');
    await Promise.all(images.map((k, i) => new Promise((done) => {
      const img = new Image();
      img.onload = img.onerror = done;
      img.alt = `${sec.querySelector('h2').textContent} ${i + 1}`;
      img.src = k.url;
      const cap = document.createElement('figcaption');
      cap.textContent = `${i + 1}` + (k.frames > 1 ? ` · ${sec.dataset.frame.replace('{n}', k.frame + 1)}` : '');
      const fig = document.createElement('figure');
      fig.append(img, cap);
      grid.append(fig);
    })));
    sec.hidden = images.length === 0;
  } catch (e) {
    console.error('key images', e);
  } finally {
    sec.dataset.ready = 'true';
  }
})();

// The study's report link as a QR code (viewer/share.go): made when the report was signed
// (or at its first print), the same link on every print. Without share links (204) the
// section stays hidden; data-ready says the code is drawn (or will not be).
(async () => {
  const sec = document.getElementById('print-share');
  if (!sec) return;
  try {
    const r = await fetch(`/api/studies/${encodeURIComponent(sec.dataset.study)}/shares/report`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': sec.dataset.csrf },
    });
    if (r.status === 200) { // 204: share links are off, no QR code
      const link = await r.json();
      const img = document.getElementById('print-qr');
      await new Promise((done) => { img.onload = img.onerror = done; img.src = link.qr; });
      img.dataset.url = link.url;
      sec.querySelector('.expires').textContent = sec.dataset.expires.replace('{date}', link.expiresAt);
      sec.hidden = false;
    }
  } catch (e) {
    console.error('share link', e);
  } finally {
    sec.dataset.ready = 'true';
  }
})();
