// A doctor's share link (互认, viewer/share.go) opened in OHIF (ohif/share.go) by another
// hospital's doctor, who has no pacsd account: the link's page asks for the verification and
// offers "在 OHIF 中打开"; OHIF loads with its dicomwebproxy data source, whose configuration
// names the link's DICOMweb, and renders the study's image; a request for another study's
// UID through that root is refused (a search finds the link's study alone); OHIF's proxy route with a configuration from elsewhere is
// not served, and the rest of OHIF still asks for a login. Run by
// viewer/browser_share_test.go (TestShareOHIFInBrowser); by hand:
//
//   PACSD_BASE_URL=http://127.0.0.1:8080 SHARE_OHIF_SCENARIO='{...}' node share_ohif.mjs
//
// SHARE_OHIF_SCENARIO (JSON):
//   link      the doctor's link (URL)
//   answer    its verification ("" when it asks none)
//   study     the link's Study Instance UID
//   other     another study's UID, with its series UID: {uid, series}

import { Run, canvasStats, poll } from './lib.mjs';

const sc = JSON.parse(process.env.SHARE_OHIF_SCENARIO || '{}');
const run = new Run('share-ohif');
const viewport = '[data-cy="viewport-pane"] canvas.cornerstone-canvas';
const minVariance = 20; // as ohif.mjs: a picture, not a blank viewport
const expected = []; // refusals the scenario asks for: not failures of the server

let page;
try {
  page = await run.launch();
  await steps();
} catch (e) {
  run.log('aborted:', e.message);
}
// Exactly the refused requests the scenario made: OHIF's own requests must all succeed.
run.httpErrors = run.httpErrors.filter((e) => !expected.some((x) => e.url === x.url && e.status === x.status));
process.exitCode = await run.finish();

async function steps() {
  const linkPath = new URL(sc.link).pathname;
  let ohifURL = '';
  await run.step('the doctor passes the link\'s verification and is offered OHIF', async () => {
    await page.goto(sc.link);
    if (sc.answer) {
      await page.locator('input[name="answer"]').fill(sc.answer);
      await Promise.all([page.waitForURL((u) => u.pathname === linkPath), page.locator('form button[type="submit"], form input[type="submit"]').first().click()]);
    }
    const a = page.locator('#share-ohif');
    await a.waitFor();
    ohifURL = new URL(await a.getAttribute('href'), run.baseURL).toString();
    const cookies = await run.context.cookies(run.baseURL);
    if (cookies.some((c) => c.name === 'pacsd_session')) throw new Error('a pacsd session in the browser');
    return { ohifURL, cookies: cookies.map((c) => `${c.name} ${c.path}`) };
  }, { fatal: true });

  await run.step('OHIF opens the shared study through the link and renders its image', async () => {
    const configs = [];
    page.on('response', (r) => { if (r.url().includes('/share/')) configs.push(`${r.status()} ${new URL(r.url()).pathname}`); });
    if (process.env.SHARE_OHIF_DEBUG) {
      page.on('console', (m) => run.log('console', m.type(), m.text().slice(0, 400)));
      page.on('request', (r) => run.log('request', r.method(), r.url().slice(0, 200)));
    }
    await page.locator('#share-ohif').click();
    await page.waitForURL((u) => u.pathname.endsWith('/viewer/dicomwebproxy'));
    const st = await poll('the shared study in the viewport', async () => {
      await dismissOverlays();
      const s = await canvasStats(page, viewport);
      return s && { ok: s.variance > minVariance, ...s };
    }, run.stepTimeout * 2);
    await run.screenshot('ohif-shared-study');
    const through = run.requests.filter((r) => r.url.includes(`${linkPath}/dicomweb/`));
    if (!through.some((r) => r.status === 200 && r.url.includes(`/studies/${sc.study}/`))) {
      throw new Error(`no DICOMweb answer through the link: ${JSON.stringify(through.slice(0, 5))}`);
    }
    const elsewhere = run.requests.filter((r) => /\/dicomweb\//.test(new URL(r.url).pathname) && !r.url.includes(linkPath));
    if (elsewhere.length) throw new Error(`OHIF asked outside the link: ${JSON.stringify(elsewhere.slice(0, 5))}`);
    return { variance: st.variance, config: configs, dicomwebRequests: through.length };
  });

  await run.step('another study\'s UID through the link\'s root is refused', async () => {
    const root = `${run.baseURL}${linkPath}/dicomweb`;
    const out = {};
    for (const p of [`/studies/${sc.other.uid}/series`, `/studies/${sc.other.uid}/metadata`,
      `/studies/${sc.other.uid}/series/${sc.other.series}/metadata`, `/studies?StudyInstanceUID=${sc.other.uid}`,
      `/studies?0020000D=${sc.other.uid}`, `/studies/${sc.study}/../${sc.other.uid}/metadata`]) {
      // From the page, with the link's cookie, as OHIF would ask.
      out[p] = await page.evaluate(async (u) => (await fetch(u, { headers: { Accept: 'application/dicom+json' } })).status, root + p);
      expected.push({ url: new URL(root + p).toString(), status: out[p] });
      if (out[p] !== 404) throw new Error(`${p} through the link: HTTP ${out[p]}`);
    }
    const own = await page.evaluate(async (u) => (await fetch(u, { headers: { Accept: 'application/dicom+json' } })).status, `${root}/studies/${sc.study}/series`);
    if (own !== 200) throw new Error(`the link's own study: HTTP ${own}`);
    // A search without a UID (OHIF's look for the patient's other studies) finds the link's
    // study alone.
    const all = await page.evaluate(async (u) => {
      const r = await fetch(u, { headers: { Accept: 'application/dicom+json' } });
      return { status: r.status, uids: r.status === 200 ? (await r.json()).map((d) => d['0020000D']?.Value?.[0]) : [] };
    }, `${root}/studies?PatientID=*`);
    if (all.status !== 200 || all.uids.length !== 1 || all.uids[0] !== sc.study) throw new Error(`a search through the link: ${JSON.stringify(all)}`);
    out['/studies?PatientID=*'] = all;
    return out;
  });

  await run.step('OHIF serves no other configuration, and asks for a login elsewhere', async () => {
    const ohifPath = new URL(ohifURL).pathname.replace(/\/viewer\/dicomwebproxy$/, '');
    const evil = `${run.baseURL}${ohifPath}/viewer/dicomwebproxy?url=${encodeURIComponent('https://example.invalid/servers.json')}&StudyInstanceUIDs=${sc.study}`;
    const r1 = await page.request.get(evil, { maxRedirects: 0 });
    expected.push({ url: evil, status: r1.status() });
    const r2 = await page.request.get(`${run.baseURL}${ohifPath}/`, { maxRedirects: 0 });
    const r3 = await page.request.get(`${run.baseURL}${ohifPath}/dicomweb/studies`, { maxRedirects: 0 });
    const got = { otherConfig: r1.status(), studyList: r2.status(), search: r3.status() };
    // 404 from the mount, or the staff check's 401 (a script) or login redirect (a page).
    if (![404, 401, 303].includes(r1.status())) throw new Error(`proxy route with a foreign configuration: ${JSON.stringify(got)}`);
    if (![401, 303].includes(r2.status()) || r3.status() !== 401) throw new Error(`OHIF without a session: ${JSON.stringify(got)}`);
    return got;
  });
}

// dismissOverlays closes what OHIF shows a first-time user (as ohif.mjs).
async function dismissOverlays() {
  const b = page.locator('[data-cy="confirm-and-hide-button"]');
  if (await b.isVisible().catch(() => false)) await b.click().catch(() => {});
  const skip = page.getByRole('button', { name: 'Skip all' });
  if (await skip.isVisible().catch(() => false)) await skip.click().catch(() => {});
}
