// OHIF v3 served by pacsd, driven as a radiologist would: the study list shows the test
// studies, a DR study opens from the list and renders, a multi-frame US study opens from a
// link and plays as cine, and the patient filter finds Chinese names by 张 and by pinyin and
// shows them in characters. Run by ohif/browser_test.go (go test ./ohif/); by hand:
//
//   PACSD_BASE_URL=http://127.0.0.1:8080 OHIF_SCENARIO='{"dr":{...},"us":{...}}' node ohif.mjs
//
// OHIF_SCENARIO (JSON) says what the server holds:
//   mount, dicomweb   paths of the app and of DICOMweb ("/ohif", "/dicomweb")
//   patientNames      names the study list must show, as OHIF formats them
//   dr: {studyUID, patientName, instances}   the DR study, opened from the list
//   cr: {studyUID}                           a MONOCHROME1 copy of the DR picture, by link
//   us: {studyUID, instances, frames}        the multi-frame US study, opened by link
//   names: {shown, typed, mustFind}          the patient filter: shown maps each Patient ID
//                                            to the name the list must show; each text of
//                                            typed is typed into the patient filter, and
//                                            the list must show exactly the studies pacsd's
//                                            DICOMweb answers to the query OHIF sent;
//                                            mustFind lists Patient IDs typing 张 must find

import { Run, canvasGrid, canvasStats, correlation, imageGrid, imageStats, poll } from './lib.mjs';

const scenario = JSON.parse(process.env.OHIF_SCENARIO || '{}');
const mount = (scenario.mount || '/ohif').replace(/\/+$/, '');
const dicomwebPath = scenario.dicomweb || '/dicomweb';

const run = new Run('ohif');
const viewport = '[data-cy="viewport-pane"] canvas.cornerstone-canvas';
const thumbnails = '[data-cy="study-browser-thumbnail"] img';
// A picture: the variance of its luminance (0-255 scale) is well above what a blank or
// uniformly filled viewport has.
const minVariance = 20;

let page;
let drGrid = null; // the DR picture as shown, to compare the MONOCHROME1 rendering with
let drThumb = null; // and its study-browser thumbnail
try {
  page = await run.launch();
  await scenarioSteps();
} catch (e) {
  run.log('aborted:', e.message);
}
process.exitCode = await run.finish();

async function scenarioSteps() {
  await run.step('app loads with pacsd as its data source', async () => {
    await page.goto(run.baseURL + mount + '/', { waitUntil: 'load' });
    const cfg = await page.evaluate(() => {
      const ds = window.config?.dataSources?.[0]?.configuration || {};
      return { qidoRoot: ds.qidoRoot, wadoRoot: ds.wadoRoot, routerBasename: window.config?.routerBasename, publicURL: window.PUBLIC_URL };
    });
    // Searches go to the mount's search root (ohif/names.go), the rest to DICOMweb itself.
    const want = run.baseURL + dicomwebPath;
    const wantSearch = run.baseURL + mount + '/dicomweb';
    if (cfg.qidoRoot !== wantSearch || cfg.wadoRoot !== want) {
      throw new Error(`data source roots ${JSON.stringify(cfg)}, want ${wantSearch} and ${want}`);
    }
    if (cfg.publicURL !== mount + '/') throw new Error(`window.PUBLIC_URL is ${cfg.publicURL}, want ${mount}/`);
    return cfg;
  }, { fatal: true });

  await run.step('study list shows the test studies', async () => {
    for (const name of scenario.patientNames || []) {
      await page.locator('tr', { hasText: name }).first().waitFor();
    }
    await dismissOverlays();
    await run.screenshot('study-list');
    return { names: scenario.patientNames };
  });

  if (scenario.dr) {
    const dr = scenario.dr;
    await run.step('DR study opens from the study list', async () => {
      // Other patients' names contain 张伟 too ("张伟 (Zhang Wei)"): the row whose name is it.
      await page.locator('tbody tr').filter({ has: page.getByRole('cell', { name: dr.patientName, exact: true }) }).first().click();
      await page.getByRole('button', { name: 'Basic Viewer' }).click();
      await page.waitForURL((u) => u.pathname.startsWith(mount + '/viewer') && u.search.includes(dr.studyUID));
      return { url: page.url() };
    });
    await run.step('DR image renders', async () => {
      const stats = await rendered('DR viewport');
      await checkNoErrors();
      const thumbs = await renderedThumbnails('DR thumbnails', dr.instances);
      drGrid = await canvasGrid(page, viewport);
      drThumb = await imageGrid(page, thumbnails);
      await run.screenshot('dr');
      return { viewport: stats, thumbnails: thumbs };
    });
  }

  if (scenario.cr) {
    await run.step('MONOCHROME1 CR renders like the DR', async () => {
      await page.goto(`${run.baseURL}${mount}/viewer?StudyInstanceUIDs=${encodeURIComponent(scenario.cr.studyUID)}`);
      const stats = await rendered('CR viewport');
      await checkNoErrors();
      await run.screenshot('cr-monochrome1');
      if (!drGrid) throw new Error('no DR rendering to compare with');
      // The CR holds the DR's picture with inverted samples (MONOCHROME1): shown right, the
      // two look alike (r near 1); shown without inversion, they are negatives (r near -1).
      const r = correlation(drGrid, await canvasGrid(page, viewport));
      if (!(r > 0.5)) throw new Error(`CR and DR renderings correlate at r=${r.toFixed(3)}; MONOCHROME1 not inverted?`);
      // The same holds for the study browser's thumbnail.
      await renderedThumbnails('CR thumbnail', 1);
      if (!drThumb) throw new Error('no DR thumbnail to compare with');
      const rt = correlation(drThumb, await imageGrid(page, thumbnails));
      if (!(rt > 0.5)) throw new Error(`CR and DR thumbnails correlate at r=${rt.toFixed(3)}; MONOCHROME1 thumbnail not inverted?`);
      return { viewport: stats, correlationWithDR: r, thumbnailCorrelationWithDR: rt };
    });
  }

  if (scenario.us) {
    const us = scenario.us;
    await run.step('US multi-frame study opens by link', async () => {
      // A deep link: the server answers the client route with the app (SPA fallback).
      await page.goto(`${run.baseURL}${mount}/viewer?StudyInstanceUIDs=${encodeURIComponent(us.studyUID)}`);
      const stats = await rendered('US viewport');
      await checkNoErrors();
      const thumbs = await renderedThumbnails('US thumbnails', us.instances);
      await run.screenshot('us');
      return { viewport: stats, thumbnails: thumbs };
    });
    await run.step('US cine plays through the frames', async () => {
      const play = page.locator('[data-cy="cine-player-play-pause"]');
      if (!(await play.isVisible())) {
        // OHIF opens the cine player by itself for US; otherwise it is in the toolbar's
        // "more tools" menu.
        await page.locator('[data-cy="MoreTools-split-button-secondary"]').click();
        await page.getByText('Cine', { exact: true }).first().click();
      }
      const before = await canvasStats(page, viewport);
      await play.click();
      // 25 frames/s over 8 frames: within two seconds the picture must have changed several
      // times (frame k shows k+1 white squares).
      const hashes = new Set([before.hash]);
      const overlays = new Set();
      const end = Date.now() + 4000;
      while (Date.now() < end && (hashes.size < 3 || overlays.size < 2)) {
        await page.waitForTimeout(60);
        const s = await canvasStats(page, viewport);
        if (s && s.variance > minVariance) hashes.add(s.hash);
        overlays.add(await overlayText());
      }
      await run.screenshot('us-cine');
      await play.click(); // pause
      await checkNoErrors();
      const detail = { distinctFrames: hashes.size, overlayTexts: [...overlays].slice(0, 8) };
      if (hashes.size < 3) throw new Error(`the viewport did not change during cine: ${JSON.stringify(detail)}`);
      return detail;
    });
  }

  if (scenario.names) {
    await page.goto(run.baseURL + mount + '/');
    for (const typed of scenario.names.typed || []) {
      await run.step(`patient filter ${typed} shows every study pacsd found, by their Chinese names`, () => patientFilter(typed));
    }
  }
}

// patientFilter types text into the study list's patient filter and checks that the list
// shows exactly the studies pacsd's DICOMweb (/dicomweb, standard DICOM JSON) answers to the
// search OHIF sent, each under the name the scenario expects; for 张, that each name shows 张.
async function patientFilter(text) {
  const { shown, mustFind = [] } = scenario.names;
  await dismissOverlays();
  const col = await patientColumn();
  const input = page.locator(`[data-filter-row] > :nth-child(${col + 1}) input`);
  const searched = page.waitForResponse((r) => {
    const u = new URL(r.url());
    return u.pathname.endsWith('/studies') && (u.searchParams.get('PatientName') || '').includes(text);
  });
  await input.fill(text);
  const sent = new URL((await searched).url());

  // What pacsd itself answers to OHIF's query, as any DICOMweb client would get it.
  const ids = async (query) => {
    const r = await page.request.get(`${run.baseURL}${dicomwebPath}/studies?${query}`, { headers: { Accept: 'application/dicom+json' } });
    if (r.status() === 204) return [];
    if (!r.ok()) throw new Error(`${dicomwebPath}/studies?${query}: HTTP ${r.status()}`);
    return (await r.json()).map((ds) => ds['00100020']?.Value?.[0] ?? '');
  };
  const found = await ids(sent.searchParams.toString());
  if (found.length === 0) throw new Error(`pacsd found no study for ${sent.search}`);
  if (text === '张') {
    const prefix = await ids('PatientName=' + encodeURIComponent('张*'));
    const missing = [...new Set([...prefix, ...mustFind])].filter((id) => !found.includes(id));
    if (missing.length) throw new Error(`OHIF's query ${sent.search} misses studies of ${missing.join(', ')}`);
  }
  const unknown = found.filter((id) => !(id in shown));
  if (unknown.length) throw new Error(`pacsd found patients the scenario does not know: ${unknown.join(', ')}`);
  const want = found.map((id) => shown[id]).sort();

  const r = await poll(`study list for ${text}`, async () => {
    const names = (await page.evaluate((c) => [...document.querySelectorAll('tbody tr:not([data-filter-row])')]
      .map((tr) => tr.children[c]?.innerText.trim())
      .filter((s) => s !== undefined), col)).sort();
    return { ok: JSON.stringify(names) === JSON.stringify(want), names, want };
  }, run.stepTimeout);
  await run.screenshot(`study-list-${text === '张' ? 'zhang-han' : text}`);
  if (text === '张') {
    const without = r.names.filter((n) => !n.includes('张'));
    if (without.length) throw new Error(`names shown without 张: ${without.join(', ')}`);
  }
  return { query: sent.search, found, shown: r.names };
}

// patientColumn is the index of the study list's patient column.
async function patientColumn() {
  const heads = page.locator('thead tr:first-child > *');
  await heads.first().waitFor();
  const texts = await heads.allInnerTexts();
  const i = texts.findIndex((t) => t.trim() === 'Patient');
  if (i < 0) throw new Error(`no Patient column among ${JSON.stringify(texts)}`);
  return i;
}

// rendered waits for the viewport canvas to show a picture.
async function rendered(what) {
  await dismissOverlays();
  const s = await poll(what, async () => {
    const st = await canvasStats(page, viewport);
    await dismissOverlays();
    return st && { ok: st.variance > minVariance, ...st };
  }, run.stepTimeout);
  return s;
}

// renderedThumbnails waits for n study-browser thumbnails (pacsd's thumbnail resources)
// and checks that none is blank.
async function renderedThumbnails(what, n) {
  if (!n) return [];
  const r = await poll(what, async () => {
    const st = await imageStats(page, thumbnails);
    return { ok: st.length >= n && st.every((s) => s && s.variance > minVariance), stats: st };
  }, run.stepTimeout);
  return r.stats;
}

async function overlayText() {
  return page.locator('[data-cy="viewport-overlay-bottom-right"]').innerText().catch(() => '');
}

// checkNoErrors fails when OHIF shows an error: a notification of type error, an error
// dialog, or an error text in the viewport.
async function checkNoErrors() {
  const found = await page.evaluate(() => {
    const out = [];
    for (const t of document.querySelectorAll('[data-sonner-toast]')) {
      const type = t.getAttribute('data-type') || '';
      if (type === 'error' || type === 'warning') out.push(`${type} notification: ${t.innerText}`);
    }
    for (const d of document.querySelectorAll('[role="dialog"], [role="alertdialog"]')) {
      if (/error|failed|went wrong|unable/i.test(d.innerText)) out.push(`dialog: ${d.innerText}`);
    }
    const pane = document.querySelector('[data-cy="viewport-grid"]');
    if (pane && /error|failed|went wrong|unable to/i.test(pane.innerText)) out.push(`viewport: ${pane.innerText}`);
    return out;
  });
  if (found.length) throw new Error('OHIF shows an error: ' + found.join(' | ').slice(0, 600));
}

// dismissOverlays closes what OHIF shows a first-time user over the app: the
// investigational-use notice and the viewer's guided tour.
async function dismissOverlays() {
  for (const sel of ['[data-cy="confirm-and-hide-button"]']) {
    const b = page.locator(sel);
    if (await b.isVisible().catch(() => false)) await b.click().catch(() => {});
  }
  const skip = page.getByRole('button', { name: 'Skip all' });
  if (await skip.isVisible().catch(() => false)) await skip.click().catch(() => {});
}
