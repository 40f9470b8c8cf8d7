// Share links (云胶片, viewer/share.go) on a phone: a radiologist signs the report and prints
// it to PDF; the QR code on the printed page is decoded from pdftoppm's PNG by zbarimg (an
// independent decoder); the link opens on a phone (390x844, touch) without an account, a
// wrong verification is refused, the right one shows the report and the key image; two
// fingers zoom the image and the brightness slider works; another study's images are not
// reached through it; a locked, an expired and a revoked link are refused in Chinese; the
// administrator finds the openings in the audit trail. Also measured, not asserted: bytes
// and milliseconds to the phone page's first screen. Run by viewer/browser_share_test.go
// (TestShareInBrowser); by hand:
//
//   PACSD_BASE_URL=http://127.0.0.1:8080 SHARE_SCENARIO='{...}' node share.mjs
//
// SHARE_SCENARIO (JSON):
//   doc, admin: {username, password}   a radiologist; the administrator
//   study: {uid, patientId}            a DR with a draft report and a key image
//   answer                             the right verification of its patient
//   other: {uid, sop}                  another study's image
//   locked, expired, revoked           URLs of other links of the study (locked: to be locked here)

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Run, poll, signIn, signOut } from './lib.mjs';

const sc = JSON.parse(process.env.SHARE_SCENARIO || '{}');
const run = new Run('share');
const expected = []; // refusals the scenario asks for: not failures of the server

let page;
let link = '';
try {
  page = await run.launch();
  await steps();
} catch (e) {
  run.log('aborted:', e.message);
}
run.httpErrors = run.httpErrors.filter((e) => !expected.some((x) => e.url.startsWith(x.url) && e.status === x.status));
process.exitCode = await run.finish();

async function steps() {
  await run.step('the radiologist signs the report', async () => {
    await signIn(run, page, sc.doc.username, sc.doc.password);
    await page.goto(`${run.baseURL}/studies/${sc.study.uid}`);
    const r = await page.evaluate(async (uid) => {
      const csrf = document.querySelector('input[name="csrf"]').value;
      const versions = await (await fetch(`/api/studies/${uid}/report`, { headers: { Accept: 'application/json' } })).json();
      const version = (Array.isArray(versions) ? versions : versions.versions || []).at(-1)?.version || 1;
      const res = await fetch(`/api/studies/${uid}/report/sign`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify({ version, findings: '双肺纹理清晰，未见实变。', impression: '心肺未见明显异常。' }),
      });
      return res.status;
    }, sc.study.uid);
    if (r !== 200) throw new Error(`sign: ${r}`);
  }, { fatal: true });

  await run.step('the printed report carries a QR code that zbarimg decodes from the PDF', async () => {
    await page.goto(`${run.baseURL}/studies/${sc.study.uid}/print`);
    await poll('the QR code is drawn', async () => ({
      ok: await page.evaluate(() => { const s = document.getElementById('print-share'); return s && s.dataset.ready === 'true' && !s.hidden; }),
    }), 15000, 100);
    link = await page.evaluate(() => document.getElementById('print-qr').dataset.url);
    const pdf = path.join(run.artifacts, 'report.pdf');
    await page.pdf({ path: pdf, format: 'A4', printBackground: true });
    run.screenshots.push(pdf);
    const prefix = path.join(run.artifacts, 'report-page');
    execFileSync('pdftoppm', ['-r', '150', '-png', '-f', '1', '-l', '1', pdf, prefix]);
    const png = `${prefix}-1.png`;
    run.screenshots.push(png);
    const decoded = execFileSync('zbarimg', ['-q', '--raw', png]).toString().trim();
    if (decoded !== link) throw new Error(`zbarimg read ${JSON.stringify(decoded)}, the page made ${link}`);
    await signOut(run, page);
    return { link: link.replace(/\/s\/.*/, '/s/…'), png };
  }, { fatal: true });

  // The phone: a touch screen, no account.
  const cdp = await run.context.newCDPSession(page);
  await cdp.send('Emulation.setDeviceMetricsOverride', { width: 390, height: 844, deviceScaleFactor: 2, mobile: true });
  await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: true, maxTouchPoints: 5 });
  await page.setViewportSize({ width: 390, height: 844 });

  await run.step('the link asks for the verification and refuses a wrong answer', async () => {
    await page.goto(link);
    await page.waitForSelector('#share-verify');
    if (await page.locator('#share-report').count()) throw new Error('the report shows before the verification');
    expected.push({ url: link, status: 403 });
    await page.fill('#share-answer', '19000101');
    await Promise.all([page.waitForLoadState(), page.click('#share-verify button')]);
    const err = await page.locator('#share-error').innerText();
    if (!err.includes('还可尝试 4 次')) throw new Error(`after a wrong answer: ${err}`);
    return err;
  });

  await run.step('the right answer shows the report and the key image on the phone', async () => {
    await page.fill('#share-answer', sc.answer);
    await Promise.all([page.waitForURL(link), page.click('#share-verify button')]);
    await page.waitForSelector('#share-report');
    const impression = await page.locator('#share-impression').innerText();
    if (!impression.includes('心肺未见明显异常')) throw new Error(`impression ${impression}`);
    await poll('the key image is loaded', async () => ({
      ok: await page.evaluate(() => { const i = document.querySelector('#share-keys img'); return !!i && i.complete && i.naturalWidth > 0; }),
    }), 15000, 100);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    if (width > 390) throw new Error(`the page is ${width} px wide on a 390 px phone`);
    await run.screenshot('phone-report');
    return { impression, width };
  });

  await run.step('two fingers zoom the key image, the brightness slider brightens it', async () => {
    await page.locator('#share-keys figure').scrollIntoViewIfNeeded();
    const box = await page.locator('#share-keys figure').boundingBox();
    const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
    const touch = (type, d) => cdp.send('Input.dispatchTouchEvent', {
      type, touchPoints: type === 'touchEnd' ? [] : [{ x: cx - d, y: cy, id: 1 }, { x: cx + d, y: cy, id: 2 }],
    });
    await touch('touchStart', 20);
    for (let d = 30; d <= 80; d += 10) await touch('touchMove', d);
    await touch('touchEnd', 0);
    const scale = Number(await page.locator('#share-keys img').getAttribute('data-scale'));
    if (!(scale > 2)) throw new Error(`scale ${scale} after spreading two fingers 40 → 160 px`);
    await page.locator('#share-brightness').fill('150');
    const filter = await page.locator('#share-keys img').evaluate((i) => i.style.filter);
    if (!filter.includes('brightness(150%)')) throw new Error(`filter ${filter}`);
    await run.screenshot('phone-zoomed');
    return { scale, filter };
  });

  await run.step('bytes and time to the first screen (measured, not asserted)', async () => {
    await page.goto(link);
    await page.waitForLoadState('load');
    return page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const res = performance.getEntriesByType('resource').filter((r) => r.startTime < nav.loadEventEnd);
      const bytes = res.reduce((n, r) => n + (r.encodedBodySize || 0), nav.encodedBodySize || 0);
      return { bytes, ms: Math.round(nav.loadEventEnd), resources: res.length };
    });
  });

  await run.step("another study's images are not reached through the link", async () => {
    const base = link;
    const out = {};
    for (const p of [`${base}/i/${sc.other.sop}`, `${base}/i/99`, `${base}/k/5`,
      `${run.baseURL}/api/studies/${sc.other.uid}/instances/${sc.other.sop}/frames/0/rendered`,
      `${run.baseURL}/dicomweb/studies/${sc.other.uid}/metadata`]) {
      const r = await run.context.request.get(p, { maxRedirects: 0 });
      out[p.replace(base, '/s/…').replace(run.baseURL, '')] = r.status();
      if (r.status() === 200) throw new Error(`${p} answered 200`);
    }
    return out;
  });

  await run.step('a wrong verification is limited: five wrong answers lock the link', async () => {
    await page.goto(sc.locked);
    expected.push({ url: sc.locked, status: 403 }, { url: sc.locked, status: 410 });
    for (let i = 0; i < 5; i++) {
      await page.fill('#share-answer', '18000101');
      await Promise.all([page.waitForLoadState(), page.click('#share-verify button')]);
    }
    const text = await page.locator('#share-gone').innerText();
    if (!text.includes('锁定')) throw new Error(`after five wrong answers: ${text}`);
    await page.goto(sc.locked);
    if (!(await page.locator('#share-gone').count())) throw new Error('the locked link asks again');
    return text;
  });

  await run.step('an expired and a revoked link are refused in Chinese', async () => {
    const out = {};
    for (const [name, u, word] of [['expired', sc.expired, '过期'], ['revoked', sc.revoked, '撤销']]) {
      expected.push({ url: u, status: 410 });
      const r = await page.goto(u);
      const text = await page.locator('#share-gone').innerText();
      if (r.status() !== 410 || !text.includes(word)) throw new Error(`${name}: ${r.status()} ${text}`);
      out[name] = text;
    }
    await run.screenshot('phone-revoked');
    return out;
  });

  await run.step('the administrator finds each opening in the audit trail', async () => {
    await cdp.send('Emulation.clearDeviceMetricsOverride');
    await page.setViewportSize({ width: 1440, height: 900 });
    await signIn(run, page, sc.admin.username, sc.admin.password);
    await page.goto(`${run.baseURL}/admin/audit?action=report.view&patient_id=${encodeURIComponent(sc.study.patientId)}`);
    const opens = await page.locator('#audit-events tr.event', { hasText: '通过分享链接打开' }).count();
    await page.goto(`${run.baseURL}/admin/audit?action=security&outcome=failure`);
    const refused = await page.locator('#audit-events tr.event', { hasText: 'share:' }).count();
    await page.goto(`${run.baseURL}/admin/shares`);
    const rows = await page.locator('#shares tbody tr').count();
    await run.screenshot('admin-shares');
    if (opens < 2 || refused < 3 || rows < 4) throw new Error(`openings ${opens}, refusals ${refused}, links ${rows}`);
    return { opens, refused, rows };
  });
}
