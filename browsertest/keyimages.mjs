// Key images and prior studies on the study page (viewer/static/keyimages.js): a radiologist
// marks a key image with the toolbar's 关键图像 button and the K key (the pane shows the mark,
// the series strip a badge, the side panel's gallery the picture), the Key Object Selection
// document is found over QIDO-RS, the patient's prior opens beside the study with 对比 and
// another site's possible match says 可能为同一患者; the township user sees the key image on the
// study page and on the printed report, also on a phone (390x844), and no other site's study
// among the priors. Run by viewer/browser_keyimages_test.go (TestKeyImagesInBrowser); by hand:
//
//   PACSD_BASE_URL=http://127.0.0.1:8080 KEYIMAGES_SCENARIO='{...}' node keyimages.mjs
//
// KEYIMAGES_SCENARIO (JSON):
//   doc, town: {username, password}   a radiologist and the study's township user
//   study: {uid, series, sop}         a DR with a signed report
//   prior: {uid}                      the same patient's earlier study at the same site
//   possible: {uid, patientId}        another site's study of a patient with the same name, sex and birth date
//   us: {uid, sop}                    an ultrasound cine (8 frames) of the same site

import { Run, poll, signIn, signOut } from './lib.mjs';

const sc = JSON.parse(process.env.KEYIMAGES_SCENARIO || '{}');
const run = new Run('keyimages');

let page;
try {
  page = await run.launch();
  await page.setViewportSize({ width: 1440, height: 900 });
  await steps();
} catch (e) {
  run.log('aborted:', e.message);
}
process.exitCode = await run.finish();

// phoneShot keeps a whole-page screenshot of the phone's page (run.screenshot takes the
// main page's screen).
async function phoneShot(phone, name) {
  run.screenshots.push(`${run.artifacts}/${name}.png`);
  await phone.screenshot({ path: run.screenshots.at(-1), fullPage: true });
}

// openStudy loads the study page and waits for its first image.
async function openStudy(p, uid) {
  await p.goto(`${run.baseURL}/studies/${uid}`);
  await poll('the viewer shows an image', async () => {
    const ok = await p.evaluate(() => {
      const ps = window.PacsViewer && window.PacsViewer.panes();
      return !!(ps && ps[0] && ps[0].image && window.__viewer.pane(0).cur);
    });
    return { ok };
  }, 30000, 100);
}

// gallery is what the side panel's 关键图像 shows: its items, each picture's size once loaded.
function gallery(p) {
  return p.evaluate(() => [...document.querySelectorAll('#key-gallery .key-item')].map((li) => {
    const img = li.querySelector('img');
    const r = img.getBoundingClientRect();
    return { sop: li.querySelector('button').dataset.sop, loaded: img.complete && img.naturalWidth > 0,
      caption: li.innerText, left: r.left, right: r.right, width: r.width };
  }));
}

async function galleryHas(p, n) {
  return poll(`the gallery shows ${n} loaded picture(s)`, async () => {
    const g = await gallery(p);
    return { ok: g.length === n && g.every((x) => x.loaded), g };
  }, 15000, 100);
}

// markPixels counts the yellow pixels at the top of the pane right of its centre, where
// keyimages.js draws ★ 关键 on a key image: a greyscale radiograph has none.
function markPixels(p) {
  return p.evaluate(() => {
    const c = window.PacsViewer.panes()[0].canvas;
    const s = window.devicePixelRatio || 1;
    const w = Math.round(90 * s), h = Math.round(34 * s);
    const d = c.getContext('2d').getImageData(Math.round(c.width / 2), 0, w, h).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] > 170 && d[i + 2] < 120) n++;
    return n;
  });
}

async function keyState(p) {
  return p.evaluate(async (uid) => (await (await fetch(`/api/studies/${uid}/keyimages`)).json()), sc.study.uid);
}

async function noSidewaysScroll(p) {
  const m = await p.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: innerWidth }));
  if (m.scroll > m.inner + 1) throw new Error(`the page is ${m.scroll} px wide in a ${m.inner} px screen`);
  return m;
}

async function steps() {
  await run.step('radiologist signs in', async () => {
    await signIn(run, page, sc.doc.username, sc.doc.password);
  }, { fatal: true });

  await run.step('the radiologist marks a key image with the toolbar button', async () => {
    await openStudy(page, sc.study.uid);
    const before = await markPixels(page);
    const btn = page.locator('#key-toggle');
    if ((await btn.getAttribute('aria-pressed')) !== 'false') throw new Error('the button says marked before any mark');
    await btn.click();
    await galleryHas(page, 1);
    await poll('the button says marked', async () => ({ ok: (await btn.getAttribute('aria-pressed')) === 'true' }), 5000, 100);
    const badge = await page.locator(`#series-strip .thumb[data-series="${sc.study.series}"] .key-badge`).innerText();
    const after = await poll('the pane shows the mark', async () => {
      const n = await markPixels(page);
      return { ok: n > 30, n };
    }, 5000, 100);
    const g = await gallery(page);
    if (g[0].sop !== sc.study.sop || !g[0].caption.includes(sc.doc.username)) throw new Error(`gallery ${JSON.stringify(g)}`);
    if (before > 5) throw new Error(`${before} yellow pixels in the corner before the mark`);
    await run.screenshot('k1-marked');
    return { badge, yellowBefore: before, yellowAfter: after.n, caption: g[0].caption };
  });

  await run.step('K unmarks and marks again', async () => {
    await page.locator('.pane canvas').first().focus();
    await page.keyboard.press('k');
    await poll('unmarked', async () => ({ ok: (await gallery(page)).length === 0 }), 10000, 100);
    if (await page.locator('#series-strip .key-badge').count()) throw new Error('the strip still has a badge');
    if (!(await page.locator('#key-none').isVisible())) throw new Error('尚无关键图像 is not shown');
    await page.keyboard.press('k');
    await galleryHas(page, 1);
    const s = await keyState(page);
    if (s.revision !== 3 || s.images.length !== 1) throw new Error(`key images ${JSON.stringify(s)}`);
    return { revision: s.revision };
  });

  await run.step('the key object documents are found over QIDO-RS', async () => {
    const res = await page.evaluate(async (uid) => {
      const r = await fetch(`/dicomweb/studies/${uid}/instances?Modality=KO`, { headers: { Accept: 'application/dicom+json' } });
      return { status: r.status, body: r.status === 200 ? await r.json() : null };
    }, sc.study.uid);
    const uids = (res.body || []).map((d) => d['00080018'].Value[0]);
    const s = await keyState(page);
    // Revisions 1 and 3 have a document; revision 2 (nothing marked) none.
    if (res.status !== 200 || uids.length !== 2 || !uids.includes(s.object)) throw new Error(`QIDO ${res.status}: ${JSON.stringify(uids)}, current ${s.object}`);
    return { kos: uids };
  });

  await run.step('a frame of an ultrasound cine is marked and shown again from the gallery', async () => {
    await openStudy(page, sc.us.uid);
    await page.locator('.pane canvas').first().focus();
    const frame = () => page.evaluate(() => window.PacsViewer.active().image.frame);
    for (let i = 0; i < 3; i++) await page.keyboard.press('.');
    await poll('frame 4 shown', async () => ({ ok: (await frame()) === 3 }), 10000, 50);
    await page.keyboard.press('k');
    await galleryHas(page, 1);
    const caption = (await gallery(page))[0].caption;
    if (!caption.includes('第4帧')) throw new Error(`the gallery says ${JSON.stringify(caption)}`);
    for (let i = 0; i < 3; i++) await page.keyboard.press(',');
    await poll('frame 1 shown', async () => ({ ok: (await frame()) === 0 }), 10000, 50);
    if ((await page.locator('#key-toggle').getAttribute('aria-pressed')) !== 'false') throw new Error('frame 1 is shown as a key image');
    await page.locator('#key-gallery .key-thumb').first().click();
    await poll('the key frame shown again', async () => ({ ok: (await frame()) === 3 }), 10000, 50);
    return { caption };
  });

  await run.step('the priors list the same patient and, marked, a possible match of another site', async () => {
    await openStudy(page, sc.study.uid);
    await poll('priors listed', async () => ({ ok: (await page.locator('#prior-list .prior').count()) === 2 }), 10000, 100);
    const items = await page.evaluate(() => [...document.querySelectorAll('#prior-list .prior')].map((li) => ({
      study: li.dataset.study, possible: li.classList.contains('possible'), text: li.innerText })));
    const same = items.find((x) => x.study === sc.prior.uid);
    const other = items.find((x) => x.study === sc.possible.uid);
    if (!same || same.possible || !same.text.includes('胸部') || !same.text.includes('DR') || !same.text.includes('对比')) {
      throw new Error(`same patient's prior: ${JSON.stringify(same)}`);
    }
    if (!other || !other.possible || !other.text.includes('可能为同一患者') || !other.text.includes(sc.possible.patientId)) {
      throw new Error(`possible match: ${JSON.stringify(other)}`);
    }
    return { items };
  });

  await run.step('对比 opens the prior beside the study', async () => {
    const t0 = Date.now();
    await page.locator(`#prior-list .prior[data-study="${sc.prior.uid}"] .prior-compare`).click();
    await poll('the prior in pane 2', async () => {
      const s = await page.evaluate(() => {
        const ps = window.PacsViewer.panes();
        return { layout: window.PacsViewer.layout(), n: ps.length, second: ps[1] && ps[1].image && ps[1].image.studyUID,
          first: ps[0] && ps[0].image && ps[0].image.studyUID };
      });
      return { ok: s.layout === '1x2' && s.second === sc.prior.uid && s.first === sc.study.uid, ...s };
    }, 15000, 50);
    const ms = Date.now() - t0;
    // The strip now holds both studies' series; the key image's still has its badge.
    await poll('the badge kept', async () => ({
      ok: (await page.locator(`#series-strip .thumb[data-series="${sc.study.series}"] .key-badge`).count()) === 1 }), 5000, 100);
    await run.screenshot('k2-compare');
    return { ms };
  });

  await run.step('the township user sees the key image on the study page, and only its own site\'s priors', async () => {
    await signOut(run, page);
    await signIn(run, page, sc.town.username, sc.town.password);
    await openStudy(page, sc.study.uid);
    await galleryHas(page, 1);
    if (await page.locator('#key-toggle').count()) throw new Error('the township has the mark button');
    await poll('priors listed', async () => ({ ok: (await page.locator('#prior-list .prior').count()) >= 1 }), 10000, 100);
    const studies = await page.evaluate(() => [...document.querySelectorAll('#prior-list .prior')].map((li) => li.dataset.study));
    if (studies.length !== 1 || studies[0] !== sc.prior.uid) throw new Error(`the township's priors: ${JSON.stringify(studies)}`);
    if ((await page.content()).includes(sc.possible.patientId)) throw new Error('the page names the other site\'s patient');
    await run.screenshot('k3-town');
    return { priors: studies };
  });

  await run.step('the township user sees the key image on the printed report', async () => {
    await page.goto(`${run.baseURL}/studies/${sc.study.uid}/print`);
    await page.locator('#print-keyimages[data-ready="true"]').waitFor({ state: 'attached' });
    const s = await page.evaluate(() => {
      const sec = document.getElementById('print-keyimages');
      const imgs = [...sec.querySelectorAll('img')];
      return { hidden: sec.hidden, n: imgs.length, loaded: imgs.every((i) => i.complete && i.naturalWidth > 0),
        heading: sec.querySelector('h2').textContent };
    });
    if (s.hidden || s.n !== 1 || !s.loaded || s.heading !== '关键图像') throw new Error(`print: ${JSON.stringify(s)}`);
    await run.screenshot('k4-print');
    return s;
  });

  await run.step('on a phone (390x844) the township sees the key image on the study page and the print', async () => {
    const phone = await run.context.newPage();
    run.watch(phone);
    await phone.setViewportSize({ width: 390, height: 844 });
    await openStudy(phone, sc.study.uid);
    await phone.locator('#key-gallery').scrollIntoViewIfNeeded();
    const g = (await galleryHas(phone, 1)).g;
    if (g[0].left < 0 || g[0].right > 390 || g[0].width < 60) throw new Error(`the picture is off the screen: ${JSON.stringify(g)}`);
    await noSidewaysScroll(phone);
    await phoneShot(phone, 'k5-phone-study');
    await phone.goto(`${run.baseURL}/studies/${sc.study.uid}/print`);
    await phone.locator('#print-keyimages[data-ready="true"]').waitFor({ state: 'attached' });
    const img = phone.locator('#print-keyimages img').first();
    await img.scrollIntoViewIfNeeded();
    const box = await img.boundingBox();
    const loaded = await img.evaluate((i) => i.complete && i.naturalWidth > 0);
    if (!loaded || !box || box.x < 0 || box.x + box.width > 390 || box.width < 60) throw new Error(`print picture ${JSON.stringify(box)} loaded=${loaded}`);
    const m = await noSidewaysScroll(phone);
    await phoneShot(phone, 'k6-phone-print');
    await phone.close();
    return { study: g[0], print: box, width: m };
  });
}
