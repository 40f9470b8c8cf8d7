// Measurements in the reading room (viewer/static/measure.js): a radiologist measures a
// length on a calibrated DR and checks it against the known Pixel Spacing, draws a rectangle
// ROI, saves, reloads and finds both again; the site's user sees them read-only. Run by
// viewer/browser_measure_test.go; by hand:
//
//   PACSD_BASE_URL=http://127.0.0.1:8080 MEASURE_SCENARIO='{...}' node measure.mjs
//
// MEASURE_SCENARIO (JSON): doc and town ({username, password}), study (its UID), spacing (mm
// per pixel, both ways), source (the calibration's name as shown), length and rect (two
// image points [column, row] each, dragged between).

import { Run, poll, signIn } from './lib.mjs';

const sc = JSON.parse(process.env.MEASURE_SCENARIO || '{}');
const run = new Run('measure');

let page;

// openStudy opens the study page and waits for its image at full resolution and for the
// measurement list.
async function openStudy(uid = sc.study) {
  await page.goto(`${run.baseURL}/studies/${uid}`);
  await poll('image and measurements', async () => {
    const s = await page.evaluate(() => {
      const p = window.PacsViewer && window.PacsViewer.panes()[0];
      return { image: p && p.image, list: !!document.querySelector('#meas-list li') };
    });
    return { ok: !!(s.image && s.image.full && s.list), ...s };
  }, run.stepTimeout);
}

// drag drags with the mouse between two image points of the first pane.
async function drag(from, to) {
  const [a, b] = await page.evaluate(([f, g]) => {
    const p = window.PacsViewer.panes()[0];
    const r = p.canvas.getBoundingClientRect();
    const d = window.devicePixelRatio || 1;
    return [f, g].map(([x, y]) => { const q = p.toCanvas({ x, y }); return { x: r.left + q.x / d, y: r.top + q.y / d }; });
  }, [from, to]);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  for (let i = 1; i <= 8; i++) await page.mouse.move(a.x + ((b.x - a.x) * i) / 8, a.y + ((b.y - a.y) * i) / 8);
  await page.mouse.up();
}

// listed waits for the list to hold n measurements and returns them: kind and texts.
async function listed(n) {
  const r = await poll(`${n} measurements listed`, async () => {
    const items = await page.evaluate(() => [...document.querySelectorAll('#meas-list li.meas-item')].map((li) => ({
      kind: li.dataset.kind, value: li.querySelector('.meas-value')?.textContent || '',
      cal: li.querySelector('.meas-cal')?.textContent || '', where: li.querySelector('.meas-where')?.textContent || '',
      del: !!li.querySelector('.meas-delete'),
    })));
    return { ok: items.length === n, items };
  }, run.stepTimeout);
  return r.items;
}

const item = (kind) => page.evaluate((k) => window.__measure.items.find((a) => a.kind === k), kind);
let lengthText = '';

async function steps() {
  await run.step('radiologist opens the calibrated DR', async () => {
    await signIn(run, page, sc.doc.username, sc.doc.password);
    await openStudy();
    const im = await page.evaluate(() => window.PacsViewer.panes()[0].image);
    if (!im.spacing || Math.abs(im.spacing.col - sc.spacing) > 1e-9 || im.spacing.source !== 'PixelSpacing') {
      throw new Error(`the image's calibration is ${JSON.stringify(im.spacing)}, want Pixel Spacing ${sc.spacing}`);
    }
    if (!(await page.locator('#tool-meas-length').isVisible())) throw new Error('no length tool for a radiologist');
    return { image: `${im.columns}x${im.rows}`, spacing: im.spacing };
  }, { fatal: true });

  await run.step('radiologist measures a length: pixels times Pixel Spacing, source shown', async () => {
    await page.click('#tool-meas-length');
    await drag(sc.length[0], sc.length[1]);
    const [li] = await listed(1);
    const a = await item('length');
    const px = Math.hypot(a.points[1].x - a.points[0].x, a.points[1].y - a.points[0].y);
    const want = `${(px * sc.spacing).toFixed(2)} mm`;
    const asked = Math.hypot(sc.length[1][0] - sc.length[0][0], sc.length[1][1] - sc.length[0][1]);
    if (li.value !== want) throw new Error(`shown ${li.value}, want ${want} (${px.toFixed(2)} px x ${sc.spacing} mm)`);
    if (Math.abs(px - asked) > 3) throw new Error(`measured ${px.toFixed(1)} px between points ${asked.toFixed(1)} px apart`);
    if (!li.cal.includes(sc.source)) throw new Error(`calibration shown as ${li.cal}, want ${sc.source}`);
    lengthText = li.value;
    await run.screenshot('length');
    return { shown: li.value, calibration: li.cal, pixels: px };
  });

  await run.step('radiologist draws a rectangle ROI: mean, SD and area', async () => {
    await page.click('#tool-meas-rect');
    await drag(sc.rect[0], sc.rect[1]);
    const items = await listed(2);
    const a = await item('rect');
    if (!Number.isFinite(a.mean) || !(a.sd > 0) || !(a.area > 0)) throw new Error(`ROI values ${JSON.stringify(a)}`);
    const want = Math.abs((a.points[1].x - a.points[0].x) * (a.points[1].y - a.points[0].y)) * sc.spacing * sc.spacing;
    if (Math.abs(a.area - want) > 1e-6) throw new Error(`area ${a.area} mm², want ${want}`);
    const li = items.find((x) => x.kind === 'rect');
    if (!li.value.includes(a.mean.toFixed(1)) || !li.value.includes('mm²')) throw new Error(`ROI shown as ${li.value}`);
    await page.click('#tool-meas-rect'); // the tool off again
    return { shown: li.value };
  });

  await run.step('angle, Cobb angle and text; a selected measurement goes with Delete', async () => {
    const [a, v, c] = sc.angle;
    await page.click('#tool-meas-angle');
    await drag(a, v); // the first arm, to the vertex
    await drag(c, c); // the third point
    let items = await listed(3);
    const angle = items.find((x) => x.kind === 'angle');
    if (angle.value !== `${sc.angleDegrees.toFixed(1)}°`) throw new Error(`angle shown as ${angle.value}, want ${sc.angleDegrees}°`);
    await page.click('#tool-meas-cobb');
    await drag(sc.cobb[0], sc.cobb[1]);
    await drag(sc.cobb[2], sc.cobb[3]);
    items = await listed(4);
    const cobb = items.find((x) => x.kind === 'cobb');
    if (cobb.value !== `${sc.cobbDegrees.toFixed(1)}°`) throw new Error(`Cobb angle shown as ${cobb.value}, want ${sc.cobbDegrees}°`);
    page.once('dialog', (d) => d.accept(sc.text));
    await page.click('#tool-meas-text');
    await drag(sc.textAt, sc.textAt);
    items = await listed(5);
    if (!items.some((x) => x.kind === 'text' && x.value === sc.text)) throw new Error(`no text ${sc.text}: ${JSON.stringify(items)}`);
    await run.screenshot('all-kinds');
    // The angle selected on the image (a click on its first arm) and deleted by key.
    await page.click('#tool-meas-select');
    const mid = [(a[0] + v[0]) / 2, (a[1] + v[1]) / 2];
    await drag(mid, mid);
    const sel = await page.evaluate(() => window.__measure.items.find((x) => x.id === window.__measure.selected)?.kind);
    if (sel !== 'angle') throw new Error(`the click selected ${sel}, not the angle`);
    await page.keyboard.press('Delete');
    items = await listed(4);
    if (items.some((x) => x.kind === 'angle')) throw new Error('the angle is still listed after Delete');
    await page.click('#tool-meas-select');
    return { items: items.map((x) => `${x.kind}: ${x.value}`) };
  });

  await run.step('radiologist saves the measurements', async () => {
    await page.click('#meas-save');
    const r = await poll('saved', () => page.evaluate(() => ({
      ok: window.__measure.version === 1 && !window.__measure.dirty, status: document.getElementById('meas-status').textContent,
    })), run.stepTimeout);
    return { status: r.status };
  });

  await run.step('after a reload the measurements are there again', async () => {
    await openStudy();
    const items = await listed(4);
    const len = items.find((x) => x.kind === 'length');
    if (!len || len.value !== lengthText) throw new Error(`after reload: ${JSON.stringify(items)}`);
    // And they are drawn: the image is not the same without them.
    await run.screenshot('reloaded');
    return { items };
  });

  await run.step('a save over another radiologist\'s keeps both: theirs loaded, the new one saved again', async () => {
    // Another radiologist saves version 2 meanwhile (the same set, through the API).
    const other = await page.evaluate(async (study) => {
      const url = `/api/studies/${study}/measurements`;
      const cur = await (await fetch(url)).json();
      const csrf = document.querySelector('input[name="csrf"]').value;
      const r = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify({ version: cur.version, items: cur.items }) });
      return (await r.json()).version;
    }, sc.study);
    if (other !== 2) throw new Error(`the other save made version ${other}`);
    await page.click('#tool-meas-length');
    await drag(sc.length2[0], sc.length2[1]);
    await page.click('#tool-meas-length');
    await listed(5);
    const [refused] = await Promise.all([
      page.waitForResponse((x) => x.request().method() === 'PUT' && x.url().endsWith('/measurements')),
      page.click('#meas-save'),
    ]);
    if (refused.status() !== 409) throw new Error(`the stale save was answered ${refused.status()}, want 409`);
    // The refusal is the point of this step, not a failure of the page.
    const i = run.httpErrors.findIndex((e) => e.method === 'PUT' && e.status === 409);
    if (i >= 0) run.httpErrors.splice(i, 1);
    const r = await poll('conflict reported', () => page.evaluate(() => ({
      ok: window.__measure.version === 2 && window.__measure.dirty && window.__measure.items.length === 5,
      status: document.getElementById('meas-status').textContent,
    })), run.stepTimeout);
    await page.click('#meas-save');
    await poll('saved again', () => page.evaluate(() => ({ ok: window.__measure.version === 3 && !window.__measure.dirty })), run.stepTimeout);
    await listed(5);
    return { conflict: r.status };
  });

  await run.step('on an uncalibrated DR a length is in px, marked 未校准; the list goes to its image', async () => {
    await openStudy(sc.uncalibrated);
    const im = await page.evaluate(() => window.PacsViewer.panes()[0].image);
    if (im.spacing) throw new Error(`the uncalibrated DR has a calibration: ${JSON.stringify(im.spacing)}`);
    await page.click('#tool-meas-length');
    await drag([100, 100], [400, 500]);
    await page.click('#tool-meas-ellipse');
    await drag([450, 100], [650, 300]);
    const items = await listed(2);
    const len = items.find((x) => x.kind === 'length');
    const a = await item('length');
    const px = Math.hypot(a.points[1].x - a.points[0].x, a.points[1].y - a.points[0].y);
    if (len.value !== `${px.toFixed(1)} px（未校准）`) throw new Error(`uncalibrated length shown as ${len.value} ${len.cal}`);
    const roi = items.find((x) => x.kind === 'ellipse');
    if (!roi.value.includes('px²（未校准）')) throw new Error(`uncalibrated ROI shown as ${roi.value}`);
    // An arrow, no label; then the list takes the pane back to the measured image.
    page.once('dialog', (d) => d.accept(''));
    await page.click('#tool-meas-arrow');
    await drag([700, 400], [600, 350]);
    await listed(3);
    await run.screenshot('uncalibrated');
    const sopOf = () => page.evaluate(() => window.PacsViewer.panes()[0].image.sopUID);
    await page.click('#next');
    await poll('the next image', async () => ({ ok: (await sopOf()) !== a.sop }), run.stepTimeout);
    await page.click('#meas-list li[data-kind="length"] .meas-go');
    await poll('back to the measured image', async () => ({ ok: (await sopOf()) === a.sop }), run.stepTimeout);
    // Not saved: leaving the page asks first, and the set stays empty.
    page.once('dialog', (d) => d.accept());
    return { length: len.value, roi: roi.value };
  });

  await run.step("the site's user sees the measurements, read-only", async () => {
    await page.context().clearCookies();
    await signIn(run, page, sc.town.username, sc.town.password);
    await openStudy();
    const items = await listed(5);
    if (items.some((x) => x.del)) throw new Error('the site user is offered deletion');
    if (await page.locator('#tool-meas-length').count()) throw new Error('the site user is offered the length tool');
    return { items };
  });
}

try {
  page = await run.launch();
  await steps();
} catch (e) {
  run.log('aborted:', e.message);
}
process.exitCode = await run.finish();
