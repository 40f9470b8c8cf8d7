// Times the image viewer in Chromium (viewer/static/viewer.js) on 3000x3000 DR studies, each
// opened once, its previews made after ingest and its full-resolution frames not yet
// prepared: navigation to the first image shown (the preview), to the full-resolution frame ready, the next image (arrow key, its
// frames prefetched while the first was read), window/level redraws, and a prior of the
// same patient opened side by side. Prints the figures; asserts nothing about time. Run by
// viewer/bench_test.go (BenchmarkViewerInBrowser); by hand:
//
//   PACSD_BASE_URL=http://127.0.0.1:8080 VIEWER_BENCH='{...}' node viewer_bench.mjs
//
// VIEWER_BENCH (JSON):
//   doc: {username, password}
//   studies: [{uid, prior}]   studies with a 3000x3000 PA and a lateral, each with a prior
//   windowSteps               window changes timed per study

import { Run, poll, signIn } from './lib.mjs';

const sc = JSON.parse(process.env.VIEWER_BENCH || '{}');
const run = new Run('viewer-bench');
const q = (a, p) => {
  const s = a.filter((x) => typeof x === 'number').sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : null;
};

let page;
try {
  page = await run.launch();
  await signIn(run, page, sc.doc.username, sc.doc.password);
  const m = { firstImageMs: [], fullResMs: [], nextImageMs: [], windowMs: [], windowFullResMs: [], windowToPaintMs: [], compareMs: [] };
  await run.step('time the viewer on 3000x3000 DR studies', async () => {
    for (const s of sc.studies) {
      await page.goto(`${run.baseURL}/studies/${s.uid}`);
      const t = await poll('full resolution', async () => {
        const r = await page.evaluate(() => {
          const v = window.__viewer;
          const p = v && v.pane(0);
          return p && p.cur && p.cur.full && v.timings.fullRes ? { ok: true, first: v.timings.firstImage, full: v.timings.fullRes } : { ok: false };
        });
        return r;
      }, 60000, 20);
      m.firstImageMs.push(t.first);
      // Where the first image's time went: the page, the image list, the preview's request.
      const parts = await page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const res = performance.getEntriesByType('resource');
        const one = (re) => res.find((e) => re.test(e.name));
        const list = one(/\/images$/), prev = one(/pixels\?preview=1$/);
        return { domContentLoaded: nav.domContentLoadedEventEnd, imagesStart: list && list.startTime, imagesEnd: list && list.responseEnd,
          previewStart: prev && prev.startTime, previewFirstByte: prev && prev.responseStart, previewEnd: prev && prev.responseEnd };
      });
      for (const [k, v] of Object.entries(parts)) (m[k] = m[k] || []).push(v);
      m.fullResMs.push(t.full);
      // Window/level on the full frame (the level the screen needs of it).
      const wl = await page.evaluate(async (n) => {
        const v = window.__viewer;
        const cur = v.pane(0).cur;
        v.timings.window.length = 0;
        v.timings.paint.length = 0;
        for (let i = 0; i < n; i++) {
          v.setWindow(cur.c0 + (i % 20 - 10) * 30, Math.max(50, cur.w0 * (0.3 + (i % 7) / 10)));
          await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
        }
        return { window: [...v.timings.window], paint: [...v.timings.paint] };
      }, sc.windowSteps || 40);
      m.windowMs.push(...wl.window);
      m.windowToPaintMs.push(...wl.paint);
      // The same at 1:1, on the full-resolution frame (the part of it on the screen).
      await page.locator('#image').click();
      await page.keyboard.press('a');
      const wl1 = await page.evaluate(async (n) => {
        const v = window.__viewer;
        const p = v.pane(0);
        const cur = p.cur;
        v.timings.window.length = 0;
        for (let i = 0; i < n; i++) {
          v.setWindow(cur.c0 + (i % 20 - 10) * 30, Math.max(50, cur.w0 * (0.3 + (i % 7) / 10)));
          await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
        }
        return { window: [...v.timings.window], level: `${p.srcLevel.w}x${p.srcLevel.h}` };
      }, sc.windowSteps || 40);
      if (wl1.level !== '3000x3000') throw new Error(`1:1 windows the ${wl1.level} level`);
      m.windowFullResMs = (m.windowFullResMs || []).concat(wl1.window);
      await page.keyboard.press('0');
      // Next image in the first pane (its neighbours were prefetched).
      await page.locator('#image').click();
      const next = await page.evaluate(async () => {
        const v = window.__viewer;
        const n0 = v.timings.opened.length;
        const t0 = performance.now();
        document.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', bubbles: true }));
        for (;;) {
          if (v.timings.opened.length > n0 && v.timings.opened[v.timings.opened.length - 1].pane === 0) break;
          await new Promise((r) => setTimeout(r, 2));
        }
        await new Promise((r) => requestAnimationFrame(r));
        return performance.now() - t0;
      });
      m.nextImageMs.push(next);
      // A prior opened beside it.
      const cmp = await page.evaluate(async (uid) => {
        const t0 = performance.now();
        await window.PacsViewer.openStudy(uid, { pane: 1 });
        await new Promise((r) => requestAnimationFrame(r));
        return performance.now() - t0;
      }, s.prior);
      m.compareMs.push(cmp);
    }
    const out = {};
    for (const [k, a] of Object.entries(m)) out[k] = { p50: q(a, 0.5), p95: q(a, 0.95), n: a.length };
    run.log('viewer timings', JSON.stringify(out));
    return out;
  });
} catch (e) {
  run.log('aborted:', e.message);
}
process.exitCode = await run.finish();
