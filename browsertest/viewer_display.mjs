// The reading room's image viewer as a radiologist reads with it (viewer/static/viewer.js):
// hanging of a PA and lateral chest, the overlay (patient, 47岁, sex, Beijing time,
// institution, image n/N, window, zoom), full resolution after a quick preview, orientation
// markers under flip and rotation, the scale bar and 未校准, layouts, a series dragged into a
// pane, a prior compared side by side with linked window and zoom, ultrasound cine at the
// file's rate, the Chinese help, the window.PacsViewer contract, and a phone (390x844, touch:
// swipe, pinch). Run by viewer/browser_viewing_test.go (TestViewerInBrowser); by hand:
//
//   PACSD_BASE_URL=http://127.0.0.1:8080 VIEWER_DISPLAY_SCENARIO='{...}' node viewer_display.mjs
//
// VIEWER_DISPLAY_SCENARIO (JSON):
//   doc, town: {username, password}      a radiologist and the township's user
//   current: {uid, pa, lat, latSeries, spacing, columns, rows}   the chest DR (PA 3000x3000)
//   prior: {uid, date}                    the same patient's earlier study
//   uncalibrated: {uid}                   a DR without spacing
//   us: {uid, cineRate}                   a multi-frame ultrasound with Cine Rate
//   patient: {name, id, age, sex, date, institution}   what the overlay must say

import { Run, canvasStats, poll, signIn } from './lib.mjs';

const sc = JSON.parse(process.env.VIEWER_DISPLAY_SCENARIO || '{}');
const run = new Run('viewer-display');

let page;
try {
  page = await run.launch();
  await steps();
} catch (e) {
  run.log('aborted:', e.message);
}
process.exitCode = await run.finish();

async function shot(p, name) {
  const file = `${run.artifacts}/${name}.png`;
  await p.screenshot({ path: file, fullPage: true });
  run.screenshots.push(file);
}

// pane reads what the scenario checks of pane i.
function pane(i) {
  return page.evaluate((i) => {
    const p = window.PacsViewer.panes()[i];
    if (!p) return null;
    const text = (s) => p.element.querySelector(s).textContent;
    return {
      image: p.image, scale: p.scale(), zoom: window.__viewer.pane(i).zoom,
      center: window.__viewer.pane(i).center, width: window.__viewer.pane(i).width,
      full: p.image && p.image.full, active: p === window.PacsViewer.active(),
      tl: text('.tl'), tr: text('.tr'), bl: text('.bl'), br: text('.br'),
      markers: { top: text('.mk-top'), bottom: text('.mk-bottom'), left: text('.mk-left'), right: text('.mk-right') },
      scalebar: { hidden: p.element.querySelector('.scalebar').hidden, mm: Number(p.element.querySelector('.scalebar').dataset.mm),
        px: Number(p.element.querySelector('.scalebar').dataset.px), label: text('.scalebar .label') },
      cssWidth: p.canvas.getBoundingClientRect().width, dpr: window.devicePixelRatio,
    };
  }, i);
}

async function openStudy(uid, wantPanes) {
  await page.goto(`${run.baseURL}/studies/${uid}`);
  await poll('the viewer ready', async () => {
    const s = await page.evaluate((n) => {
      const ps = window.PacsViewer && window.PacsViewer.panes();
      return ps && ps.length === n && ps.every((p) => p.image && window.__viewer.pane(p.index).cur) ? { ok: true } : { ok: false, n: ps && ps.length };
    }, wantPanes);
    return s;
  }, 30000, 100);
}

// drag moves the mouse over a pane's canvas from its centre by (dx, dy) in steps.
async function drag(i, dx, dy, opts = {}) {
  const box = await page.locator(`.pane[data-pane="${i}"] canvas.image`).first().boundingBox();
  const x = box.x + box.width / 2, y = box.y + box.height / 2;
  await page.mouse.move(x, y);
  await page.mouse.down(opts);
  for (let k = 1; k <= 8; k++) await page.mouse.move(x + (dx * k) / 8, y + (dy * k) / 8);
  await page.mouse.up(opts);
}

async function steps() {
  await run.step('radiologist signs in', async () => {
    await signIn(run, page, sc.doc.username, sc.doc.password);
  }, { fatal: true });

  await run.step('a DR study with PA and lateral hangs side by side', async () => {
    await openStudy(sc.current.uid, 2);
    const layout = await page.evaluate(() => window.PacsViewer.layout());
    const a = await pane(0), b = await pane(1);
    if (layout !== '1x2') throw new Error(`layout ${layout}, want 1x2`);
    if (a.image.sopUID !== sc.current.pa || b.image.sopUID !== sc.current.lat) {
      throw new Error(`panes show ${a.image.sopUID} and ${b.image.sopUID}, want PA then lateral`);
    }
    const st = await canvasStats(page, '#image');
    if (!(st.variance > 20)) throw new Error(`the first pane is blank: ${JSON.stringify(st)}`);
    await run.screenshot('01-hanging');
    return { layout, a: a.image.sopUID, b: b.image.sopUID };
  }, { fatal: true });

  await run.step('the overlay names the patient, age, sex, date, institution, image and window', async () => {
    const a = await pane(0);
    const p = sc.patient;
    for (const want of [p.name, p.id, `${p.age} ${p.sex}`]) if (!a.tl.includes(want)) throw new Error(`top left ${JSON.stringify(a.tl)} lacks ${want}`);
    for (const want of [p.institution, p.date]) if (!a.tr.includes(want)) throw new Error(`top right ${JSON.stringify(a.tr)} lacks ${want}`);
    if (!a.bl.includes('图像 1/2') || !a.bl.includes('胸部正位')) throw new Error(`bottom left ${JSON.stringify(a.bl)}`);
    if (!/窗宽 \d+ +窗位 \d+/.test(a.br) || !/缩放 \d+%/.test(a.br)) throw new Error(`bottom right ${JSON.stringify(a.br)}`);
    return { tl: a.tl, tr: a.tr, bl: a.bl, br: a.br };
  });

  await run.step('the 3000x3000 frame is shown at full resolution after the preview', async () => {
    await poll('full resolution', async () => {
      const a = await pane(0);
      return a.full ? { ok: true } : { ok: false };
    }, 30000, 100);
    const got = await page.evaluate(() => {
      const cur = window.__viewer.pane(0).cur;
      return { w: cur.full.w, h: cur.full.h, levels: cur.levels.map((l) => `${l.w}x${l.h}`) };
    });
    if (got.w !== sc.current.columns || got.h !== sc.current.rows) throw new Error(`full frame ${got.w}x${got.h}`);
    const previews = run.requests.filter((r) => r.url.includes(`/instances/${sc.current.pa}/frames/0/pixels?preview=1`));
    const fulls = run.requests.filter((r) => r.url.endsWith(`/instances/${sc.current.pa}/frames/0/pixels`));
    if (!previews.length || !fulls.length) throw new Error(`requests: ${previews.length} previews, ${fulls.length} full`);
    const a = await pane(0);
    if (a.br.includes('预览')) throw new Error('still marked as preview');
    return got;
  });

  await run.step('orientation markers follow flip and rotation', async () => {
    await page.locator('.pane[data-pane="0"] canvas.image').click();
    const m0 = (await pane(0)).markers;
    const want0 = { top: 'H', bottom: 'F', left: 'R', right: 'L' };
    if (JSON.stringify(m0) !== JSON.stringify(want0)) throw new Error(`markers ${JSON.stringify(m0)}, want ${JSON.stringify(want0)}`);
    await page.keyboard.press('h');
    const m1 = (await pane(0)).markers;
    if (m1.left !== 'L' || m1.right !== 'R' || m1.top !== 'H') throw new Error(`after flip H: ${JSON.stringify(m1)}`);
    await page.keyboard.press('h');
    await page.click('#rotate');
    const m2 = (await pane(0)).markers;
    const want2 = { top: 'R', bottom: 'L', left: 'F', right: 'H' };
    if (JSON.stringify(m2) !== JSON.stringify(want2)) throw new Error(`after rotate: ${JSON.stringify(m2)}, want ${JSON.stringify(want2)}`);
    await page.click('#flipv');
    const m3 = (await pane(0)).markers;
    if (m3.top !== 'L' || m3.bottom !== 'R') throw new Error(`after rotate + flip V: ${JSON.stringify(m3)}`);
    await run.screenshot('02-rotated');
    await page.keyboard.press('0');
    const m4 = (await pane(0)).markers;
    if (JSON.stringify(m4) !== JSON.stringify(want0)) throw new Error(`after reset: ${JSON.stringify(m4)}`);
    return { initial: m0, flipH: m1, rotated: m2, rotatedFlipV: m3 };
  });

  await run.step('the scale bar matches the pixel spacing; an uncalibrated image says so', async () => {
    const a = await pane(0);
    if (a.scalebar.hidden) throw new Error('no scale bar on a calibrated image');
    // CSS pixels per mm on screen = image pixels per mm x CSS pixels per image pixel.
    const want = a.scalebar.mm / sc.current.spacing * a.scale / a.dpr;
    if (Math.abs(a.scalebar.px - want) > 0.5) throw new Error(`bar ${a.scalebar.px}px for ${a.scalebar.mm}mm, want ${want}`);
    if (!a.br.includes('探测器像素间距')) throw new Error(`calibration source not shown: ${a.br}`);
    await openStudy(sc.uncalibrated.uid, 1);
    const u = await pane(0);
    if (!u.scalebar.hidden || !u.br.includes('未校准')) throw new Error(`uncalibrated: bar hidden=${u.scalebar.hidden}, ${u.br}`);
    if (!u.tl.includes('女')) throw new Error(`sex: ${u.tl}`);
    return { bar: a.scalebar, uncalibrated: u.br };
  });

  await run.step('layouts by button and key', async () => {
    await openStudy(sc.current.uid, 2);
    await page.locator('.pane[data-pane="0"] canvas.image').click();
    await page.keyboard.press('4');
    const four = await page.evaluate(() => [window.PacsViewer.layout(), window.PacsViewer.panes().length,
      [...document.querySelectorAll('.pane')].filter((e) => !e.hidden).length]);
    await page.click('[data-layout="1x1"]');
    const one = await page.evaluate(() => [window.PacsViewer.layout(), window.PacsViewer.panes().length]);
    await page.keyboard.press('2');
    const two = await page.evaluate(() => [window.PacsViewer.layout(), window.PacsViewer.panes().length]);
    if (four.join() !== '2x2,4,4' || one.join() !== '1x1,1' || two.join() !== '1x2,2') {
      throw new Error(`layouts: ${four} / ${one} / ${two}`);
    }
    return { four, one, two };
  });

  await run.step('a series dragged from the strip into a pane', async () => {
    const thumb = page.locator(`#series-strip .thumb[data-series="${sc.current.latSeries}"]`);
    await thumb.dragTo(page.locator('.pane[data-pane="0"] canvas.image'));
    await poll('lateral in pane 0', async () => {
      const a = await pane(0);
      return a.image.seriesUID === sc.current.latSeries ? { ok: true } : { ok: false, series: a.image.seriesUID };
    }, 10000, 100);
    // A click puts a series into the active pane: the PA's back into pane 0.
    const paSeries = await page.evaluate(() => window.PacsViewer.study().images[0].series);
    await page.click(`#series-strip .thumb[data-series="${paSeries}"]`);
    await poll('PA back in pane 0', async () => {
      const a = await pane(0);
      return a.image.seriesUID === paSeries ? { ok: true } : { ok: false, series: a.image.seriesUID };
    }, 10000, 100);
    return { dragged: sc.current.latSeries };
  });

  await run.step('a prior opens beside the current study, window and zoom linked, then unlinked', async () => {
    await page.evaluate((uid) => window.PacsViewer.openStudy(uid, { pane: 1 }), sc.prior.uid);
    const b = await pane(1);
    if (b.image.studyUID !== sc.prior.uid || !b.image.prior) throw new Error(`pane 1 shows ${JSON.stringify(b.image)}`);
    if (!b.tr.includes('对比检查') || !b.tr.includes(sc.prior.date)) throw new Error(`prior overlay ${b.tr}`);
    const head = await page.locator('#series-strip .strip-head.prior').innerText();
    if (!head.includes(sc.prior.date)) throw new Error(`strip heading ${head}`);
    if (await page.locator(`#series-strip .strip-group[data-study="${sc.prior.uid}"] .thumb`).count() !== 1) throw new Error('no prior thumbnail');
    const linked = await page.evaluate(() => window.PacsViewer.linked());
    if (!linked) throw new Error('compare mode is not linked');
    const w0 = (await pane(1)).width, a0 = (await pane(0)).width;
    await drag(0, -120, 40);
    const w1 = (await pane(1)).width, a1 = (await pane(0)).width;
    if (w1 === w0) throw new Error(`the prior's window did not follow: ${w0} -> ${w1}, pane 0 ${a0} -> ${a1}`);
    const box = await page.locator('.pane[data-pane="0"] canvas.image').boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -300);
    await poll('zoom followed', async () => {
      const [x, y] = [await pane(0), await pane(1)];
      return x.zoom > 1.2 && Math.abs(x.zoom - y.zoom) < 1e-9 ? { ok: true } : { ok: false, a: x.zoom, b: y.zoom };
    }, 5000, 100);
    await run.screenshot('03-compare');
    await page.keyboard.press('l');
    await drag(0, 150, 0);
    const w2 = (await pane(1)).width;
    if (w2 !== w1) throw new Error('unlinked, the prior\'s window still followed');
    return { widthBefore: w0, linkedWidth: w1, unlinkedWidth: w2 };
  });

  await run.step('the ultrasound plays at the file\'s cine rate and steps frames by key', async () => {
    await openStudy(sc.us.uid, 1);
    const fps = await page.locator('#fps').inputValue();
    if (Number(fps) !== sc.us.cineRate) throw new Error(`fps field ${fps}, want ${sc.us.cineRate}`);
    await page.locator('.pane[data-pane="0"] canvas.image').click();
    await page.keyboard.press('ArrowDown');
    await poll('frame 2', async () => {
      const a = await pane(0);
      return a.image.frame === 1 && a.bl.includes('帧 2/') ? { ok: true } : { ok: false, bl: a.bl };
    }, 5000, 100);
    await page.keyboard.press(',');
    if ((await pane(0)).image.frame !== 0) throw new Error('"," did not step back');
    await page.keyboard.press(' ');
    await poll('playing', async () => {
      const n = await page.evaluate(() => window.__viewer.framesShown);
      return n > 5 ? { ok: true, n } : { ok: false, n };
    }, 10000, 100);
    const rate = await page.evaluate(() => window.__viewer.pane(0).fps);
    await page.keyboard.press(' ');
    if (rate !== sc.us.cineRate) throw new Error(`playing at ${rate} fps`);
    return { fps: rate };
  });

  await run.step('rotate, magnifier, 1:1 and invert', async () => {
    await openStudy(sc.current.uid, 2);
    await page.locator('.pane[data-pane="0"] canvas.image').click();
    await page.keyboard.press('1');
    await poll('full resolution', async () => ((await pane(0)).full ? { ok: true } : { ok: false }), 30000, 100);
    await page.keyboard.press('a');
    const a = await pane(0);
    if (Math.abs(a.scale - 1) > 1e-9) throw new Error(`1:1 gives ${a.scale} device pixels per image pixel`);
    const before = await canvasStats(page, '#image');
    await page.keyboard.press('i');
    const inv = await canvasStats(page, '#image');
    if (inv.hash === before.hash) throw new Error('invert changed nothing');
    await page.keyboard.press('m');
    const box = await page.locator('#image').boundingBox();
    await page.mouse.move(box.x + box.width / 3, box.y + box.height / 3);
    await page.mouse.move(box.x + box.width / 3 + 5, box.y + box.height / 3 + 5);
    if (await page.locator('.pane[data-pane="0"] canvas.loupe').isHidden()) throw new Error('no magnifier');
    await run.screenshot('04-loupe');
    await page.keyboard.press('m');
    await page.keyboard.press('0');
    return { scale: a.scale };
  });

  await run.step('the help lists the shortcuts and orientation letters in Chinese', async () => {
    await page.keyboard.press('?');
    const help = page.locator('#view-help');
    await help.waitFor();
    const text = await help.innerText();
    for (const want of ['顺时针旋转', '水平翻转', '放大镜', '窗位预设', 'A 前', 'F 足侧', '双指捏合']) {
      if (!text.includes(want)) throw new Error(`help lacks ${want}`);
    }
    await run.screenshot('05-help');
    await page.keyboard.press('Escape');
    if (await help.isVisible()) throw new Error('Esc did not close the help');
  });

  await run.step('an added tool gets image coordinates through the contract', async () => {
    await page.evaluate(() => {
      window.__probe = [];
      window.PacsViewer.addTool('probe', { label: '探针', title: '测试', key: 'q',
        down: (p, pt) => window.__probe.push(['down', p.index, pt.x, pt.y]),
        up: (p, pt) => window.__probe.push(['up', p.index, pt.x, pt.y]) });
    });
    await page.keyboard.press('q');
    const box = await page.locator('#image').boundingBox();
    // The canvas centre is the image centre at zoom 1 without pan.
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.up();
    const probe = await page.evaluate(() => window.__probe);
    const [, , x, y] = probe[0] || [];
    if (!(Math.abs(x - sc.current.columns / 2) < 4 && Math.abs(y - sc.current.rows / 2) < 4)) throw new Error(`tool got ${JSON.stringify(probe)}`);
    const wl = await page.evaluate(() => window.__viewer.pane(0).width);
    await page.keyboard.press('Escape');
    if (await page.evaluate(() => window.PacsViewer.tool()) !== null) throw new Error('Esc did not cancel the tool');
    return { probe, width: wl };
  });

  await run.step('phone 390x844: viewer first, swipe turns the image, tap-then-tap, pinch zooms', async () => {
    const phone = await run.context.newPage();
    run.watch(phone);
    await phone.setViewportSize({ width: 390, height: 844 });
    const cdp = await run.context.newCDPSession(phone);
    await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: true, maxTouchPoints: 5 });
    await phone.goto(`${run.baseURL}/studies/${sc.current.uid}`);
    await poll('phone viewer', async () => {
      const ok = await phone.evaluate(() => window.PacsViewer && window.PacsViewer.panes()[0] && window.PacsViewer.panes()[0].image && window.__viewer.pane(0).cur);
      return ok ? { ok: true } : { ok: false };
    }, 30000, 100);
    const geo = await phone.evaluate(() => {
      const r = (s) => document.querySelector(s).getBoundingClientRect();
      return { viewer: r('#viewer'), strip: r('#series-strip'), side: r('main.study .side'), scrollWidth: document.documentElement.scrollWidth,
        stripRow: getComputedStyle(document.querySelector('#series-strip')).flexDirection, layout: window.PacsViewer.layout() };
    });
    if (!(geo.viewer.top < geo.strip.top && geo.strip.top < geo.side.top)) throw new Error(`order: ${JSON.stringify(geo)}`);
    if (geo.viewer.width < 380 || geo.scrollWidth > 390 || geo.stripRow !== 'row') throw new Error(`phone geometry ${JSON.stringify(geo)}`);
    await shot(phone, '06-phone');
    const box = await phone.locator('#image').boundingBox();
    const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
    const touch = (type, pts) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: pts.map(([x, y], id) => ({ x, y, id })) });
    const idx0 = await phone.evaluate(() => window.PacsViewer.panes()[0].image.sopUID);
    // A quick flick to the left: the next image (one move: the flick must stay quick even
    // on a loaded machine).
    await touch('touchStart', [[cx + 120, cy]]);
    await touch('touchMove', [[cx - 120, cy]]);
    await touch('touchEnd', []);
    await poll('swiped', async () => {
      const s = await phone.evaluate(() => window.PacsViewer.panes()[0].image.sopUID);
      return s !== idx0 ? { ok: true, s } : { ok: false, s };
    }, 10000, 100);
    // Tap a series, then tap a pane: the lateral into the second pane of 1x2.
    await phone.evaluate(() => window.PacsViewer.layout('1x2'));
    const center = async (sel) => {
      const b = await phone.locator(sel).boundingBox();
      return [b.x + b.width / 2, b.y + b.height / 2];
    };
    const tap = async (sel) => {
      const pt = await center(sel);
      await touch('touchStart', [pt]);
      await touch('touchEnd', []);
    };
    await tap(`#series-strip .thumb[data-series="${sc.current.latSeries}"]`);
    await poll('the tapped series marked', async () => {
      const n = await phone.locator('#series-strip .thumb.armed').count();
      return n ? { ok: true } : { ok: false, pointer: await phone.evaluate(() => window.__viewer.stripPointer) };
    }, 5000, 50);
    await tap('.pane[data-pane="1"] canvas.image');
    await poll('lateral in pane 1 by tap-then-tap', async () => {
      const s = await phone.evaluate(() => window.PacsViewer.panes()[1].image && window.PacsViewer.panes()[1].image.seriesUID);
      return s === sc.current.latSeries ? { ok: true } : { ok: false, s };
    }, 10000, 100);
    await phone.evaluate(() => window.PacsViewer.layout('1x1'));
    // Two fingers apart: zoom in.
    await touch('touchStart', [[cx - 30, cy], [cx + 30, cy]]);
    for (let k = 1; k <= 5; k++) await touch('touchMove', [[cx - 30 - k * 20, cy], [cx + 30 + k * 20, cy]]);
    await touch('touchEnd', []);
    const zoom = await phone.evaluate(() => window.__viewer.pane(0).zoom);
    if (!(zoom > 1.5)) throw new Error(`pinch zoom ${zoom}`);
    await shot(phone, '06b-phone-zoomed');
    await phone.close();
    return { geo, zoom };
  });

  await run.step('phone 390x844: the worklist fits', async () => {
    const phone = await run.context.newPage();
    run.watch(phone);
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${run.baseURL}/`);
    await phone.locator('#worklist').waitFor();
    const w = await phone.evaluate(() => document.documentElement.scrollWidth);
    await shot(phone, '07-phone-worklist');
    await phone.close();
    if (w > 390) throw new Error(`the worklist is ${w}px wide at 390`);
    return { scrollWidth: w };
  });

  await run.step('no page errors', async () => {
    if (run.pageErrors.length) throw new Error(JSON.stringify(run.pageErrors));
  });
}
