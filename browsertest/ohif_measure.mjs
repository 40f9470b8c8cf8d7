// OHIF shows the reading room's measurements: the measurement SR pacsd stored (TID 1500,
// reading/sr) is found over QIDO-RS, its series is in OHIF's study browser, and opening it
// draws the measurements on the image with their values. Run by ohif/browser_measure_test.go;
// by hand:
//
//   PACSD_BASE_URL=http://127.0.0.1:8080 OHIF_MEASURE='{"studyUID":...}' node ohif_measure.mjs
//
// OHIF_MEASURE (JSON): studyUID, srUID (the SR's SOP Instance UID), sopClass (its SOP
// Class), labels (texts OHIF must draw for the measurements), mount and dicomweb paths
// ("/ohif", "/dicomweb").

import { Run, poll } from './lib.mjs';

const sc = JSON.parse(process.env.OHIF_MEASURE || '{}');
const mount = (sc.mount || '/ohif').replace(/\/+$/, '');
const dicomweb = sc.dicomweb || '/dicomweb';
const run = new Run('ohif-measure');

let page;
try {
  page = await run.launch();
  await steps();
} catch (e) {
  run.log('aborted:', e.message);
}
process.exitCode = await run.finish();

async function steps() {
  await run.step('the measurement SR is found over QIDO-RS', async () => {
    const url = `${run.baseURL}${dicomweb}/studies/${encodeURIComponent(sc.studyUID)}/instances?Modality=SR&SOPClassUID=${sc.sopClass}`;
    const r = await page.request.get(url, { headers: { Accept: 'application/dicom+json' } });
    if (!r.ok()) throw new Error(`QIDO-RS: HTTP ${r.status()}`);
    const found = (await r.json()).map((ds) => ds['00080018']?.Value?.[0]);
    if (!found.includes(sc.srUID)) throw new Error(`QIDO-RS found ${JSON.stringify(found)}, not ${sc.srUID}`);
    return { found };
  }, { fatal: true });

  await run.step('OHIF lists the measurement series', async () => {
    await page.goto(`${run.baseURL}${mount}/viewer?StudyInstanceUIDs=${encodeURIComponent(sc.studyUID)}`);
    await dismissOverlays();
    const thumb = page.locator('[data-cy="study-browser-thumbnail-no-image"]');
    await poll('SR thumbnail', async () => {
      await dismissOverlays();
      return { ok: (await thumb.count()) > 0 };
    }, run.stepTimeout);
    const text = await thumb.first().innerText();
    await run.screenshot('sr-listed');
    return { thumbnail: text };
  }, { fatal: true });

  await run.step('opening it shows the measurements on the image', async () => {
    const thumb = page.locator('[data-cy="study-browser-thumbnail-no-image"]').first();
    let clicks = 0;
    let resizes = 0;
    const r = await poll('measurement labels', async () => {
      const texts = await page.evaluate(() => [...document.querySelectorAll('[data-cy="viewport-pane"] svg text')]
        .map((e) => e.textContent.trim()).filter(Boolean));
      const missing = (sc.labels || []).filter((l) => !texts.some((x) => x.includes(l)));
      if (missing.length && clicks === 0) {
        // The first-time notices can swallow the double click.
        await dismissOverlays();
        await thumb.dblclick({ timeout: 3000 }).then(() => clicks++).catch(() => {});
      } else if (missing.length) {
        // OHIF 3.13 adds the SR's annotations after the viewport's last render and draws
        // them at the next one: a user's next move does it; here the window changes size.
        resizes++;
        await page.setViewportSize({ width: 1280, height: 800 + (resizes % 2) });
      }
      return { ok: missing.length === 0, texts, missing, clicks, resizes };
    }, run.stepTimeout, 1000);
    await run.screenshot('sr-shown');
    return { texts: r.texts };
  });
}

// dismissOverlays closes what OHIF shows a first-time user: the investigational-use notice
// and the guided tour.
async function dismissOverlays() {
  for (const b of [page.getByText('Confirm and hide', { exact: true }), page.getByText('Skip all', { exact: true })]) {
    if (await b.first().isVisible().catch(() => false)) await b.first().click({ timeout: 2000 }).catch(() => {});
  }
}
