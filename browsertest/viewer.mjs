// pacsd's reading room (package viewer) driven end to end, as the people who use it would:
// the administrator logs in with the generated initial password, is held at the
// change-password page until they choose their own (a mismatch is refused in Chinese), logs
// out and back in with it; they set up two township sites and their users, whose
// administrator-set passwords must be changed at first login (the box is unticked for one
// of them, who keeps it); a DR study with a GB18030
// Chinese name is sent with DCMTK's storescu from a site's AE title; the radiologist sees
// it appear in the worklist without reloading, opens it, changes the window, writes and
// signs a report in Chinese; the site's user reads and prints it; the other site's user is
// refused every URL of that study; the report is found over QIDO-RS. It also times
// client-side window/level on a 3000x3000 DR (performance.now()). Run by
// viewer/browser_test.go; by hand:
//
//   PACSD_BASE_URL=http://127.0.0.1:8080 VIEWER_SCENARIO='{...}' node viewer.mjs
//
// VIEWER_SCENARIO (JSON):
//   adminPassword                 the initial administrator's password
//   adminNewPassword              the one the administrator chooses instead
//   storescu: {bin, host, port, aec, file}   how to send the DR study
//   sites: [{name, ae}, {name, ae}]         site A sends the study, site B must not see it
//   study: {uid, patientName, series, sop}  the DR study storescu sends
//   large: {uid}                            a 3000x3000 DR already stored, for timing
//   windowSteps                             how many window changes to time

import { execFileSync } from 'node:child_process';
import { Run, canvasStats, imageStats, poll } from './lib.mjs';

const sc = JSON.parse(process.env.VIEWER_SCENARIO || '{}');
const run = new Run('viewer');
const [siteA, siteB] = sc.sites;
// temp: the password the administrator sets, with "must change it at next login" ticked
// (the default); password: the one the user then chooses. town-b's box is unticked: the
// administrator's password is theirs to keep.
const users = [
  { name: 'doc', display: '李医生', role: 'radiologist', temp: 'doc-temporary-1', password: 'doc-password-1' },
  { name: 'town-a', display: '甲镇', role: 'site', site: siteA.name, temp: 'town-a-temporary', password: 'town-a-password' },
  { name: 'town-b', display: '乙镇', role: 'site', site: siteB.name, password: 'town-b-password' },
];
const adminPassword = sc.adminNewPassword || 'admin-own-password-1';
const passwordPath = '/account/password';
const findings = '双肺纹理清晰，肺野内未见明显实质性病变。心影大小形态正常。双侧膈面光整，肋膈角锐利。';
const impression = '胸部正位片未见明显异常。';

let page;
try {
  page = await run.launch();
  page.on('dialog', (d) => d.accept(d.type() === 'prompt' ? '补充' : undefined));
  await steps();
} catch (e) {
  run.log('aborted:', e.message);
}
// Refused URLs are asked with page.request, which the harness does not count, so every
// response the pages themselves got must be a success.
process.exitCode = await run.finish();

async function login(name, password) {
  await page.goto(run.baseURL + '/login');
  await page.fill('input[name=username]', name);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('button[type=submit]')]);
}

async function logout() {
  await page.goto(run.baseURL + '/');
  await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/login')), page.click('header form button')]);
}

function onPasswordPage() {
  return new URL(page.url()).pathname === passwordPath;
}

// submitRefused submits a form the server must turn down with status, and takes that one
// response out of the harness's record of failed requests (which must otherwise stay empty).
async function submitRefused(form, path, status) {
  const [r] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === path),
    page.click(`${form} button[type=submit]`),
  ]);
  if (r.status() !== status) throw new Error(`POST ${path} answered ${r.status()}, want ${status}`);
  const i = run.httpErrors.findIndex((e) => e.method === 'POST' && new URL(e.url).pathname === path && e.status === status);
  if (i >= 0) run.httpErrors.splice(i, 1);
  await page.waitForLoadState('load');
}

// changePassword fills the change-password form and waits for the page to say it is done.
async function changePassword(current, pw) {
  await page.fill('#password-form input[name=current]', current);
  await page.fill('#password-form input[name=new]', pw);
  await page.fill('#password-form input[name=confirm]', pw);
  await Promise.all([page.waitForURL(/changed=1/), page.click('#password-form button[type=submit]')]);
  await page.locator('.flash', { hasText: '密码已修改' }).waitFor();
}

// firstLogin is a user's first login with the password the administrator set: held at the
// change-password page (the worklist leads back there) until they choose their own.
async function firstLogin(u) {
  await login(u.name, u.temp);
  if (!onPasswordPage()) throw new Error(`${u.name}'s first login went to ${page.url()}, not the change-password page`);
  await page.locator('#must-change', { hasText: '请先设置自己的新密码' }).waitFor();
  await page.goto(run.baseURL + '/');
  if (!onPasswordPage()) throw new Error(`${u.name} reached ${page.url()} before changing the password`);
  await changePassword(u.temp, u.password);
  await Promise.all([page.waitForURL((x) => x.pathname === '/'), page.click('#continue')]);
  await page.locator('#worklist').waitFor();
}

async function steps() {
  await run.step('admin logs in with the initial password', async () => {
    await login('admin', sc.adminPassword);
    if (!onPasswordPage()) throw new Error(`the initial password led to ${page.url()}, not the change-password page`);
    await page.locator('#must-change', { hasText: '请先设置自己的新密码' }).waitFor();
    // Nothing else opens meanwhile: a page asked for comes back here, with no menu.
    await page.goto(run.baseURL + '/admin/sites');
    if (!onPasswordPage()) throw new Error(`/admin/sites opened before the password was changed: ${page.url()}`);
    if (await page.locator('header nav').count()) throw new Error('the menu is offered before the password is changed');
    await run.screenshot('01a-admin-must-change');
  }, { fatal: true });

  await run.step('admin must change the initial password first', async () => {
    await page.fill('#password-form input[name=current]', sc.adminPassword);
    await page.fill('#password-form input[name=new]', adminPassword);
    await page.fill('#password-form input[name=confirm]', adminPassword + '-typo');
    await submitRefused('#password-form', passwordPath, 400);
    await page.locator('.error', { hasText: '两次输入的新密码不一致' }).waitFor();
    await changePassword(sc.adminPassword, adminPassword);
    await run.screenshot('01b-admin-password-changed');
    // On to the page that was asked for.
    await Promise.all([page.waitForURL((u) => u.pathname === '/admin/sites'), page.click('#continue')]);
    await page.locator('header nav a[href="/admin/users"]').waitFor();
  }, { fatal: true });

  await run.step('admin logs out and back in with the new password', async () => {
    await logout();
    await page.fill('input[name=username]', 'admin');
    await page.fill('input[name=password]', sc.adminPassword);
    await submitRefused('main.login form', '/login', 401);
    await page.locator('.error', { hasText: '用户名或密码错误' }).waitFor();
    await login('admin', adminPassword);
    await page.locator('#worklist').waitFor();
    await run.screenshot('01-admin-worklist');
  }, { fatal: true });

  await run.step('admin creates two sites', async () => {
    for (const s of sc.sites) {
      await page.goto(run.baseURL + '/admin/sites');
      await page.fill('#site-form input[name=name]', s.name);
      await page.fill('#site-form textarea[name=aes]', s.ae);
      await Promise.all([page.waitForURL(/saved=1/), page.click('#site-form button[type=submit]')]);
    }
    for (const s of sc.sites) await page.locator('#sites td', { hasText: s.name }).first().waitFor();
    await run.screenshot('02-sites');
  }, { fatal: true });

  await run.step('admin creates a radiologist and the sites\' users', async () => {
    for (const u of users) {
      await page.goto(run.baseURL + '/admin/users');
      await page.fill('#user-form input[name=username]', u.name);
      await page.fill('#user-form input[name=display_name]', u.display);
      await page.selectOption('#user-form select[name=role]', u.role);
      if (u.site) await page.selectOption('#user-form select[name=site]', { label: u.site });
      const box = page.locator('#user-form input[name=must_change]');
      if (!(await box.isChecked())) throw new Error('"must change it at next login" is not ticked by default');
      if (u.temp) {
        await page.fill('#user-form input[name=password]', u.temp);
      } else {
        await box.uncheck();
        await page.fill('#user-form input[name=password]', u.password);
      }
      await Promise.all([page.waitForURL(/saved=1/), page.click('#user-form button[type=submit]')]);
    }
    const marked = await page.locator('#users tr', { has: page.locator('.must-change') }).allInnerTexts();
    const want = users.filter((u) => u.temp).map((u) => u.name);
    if (marked.length !== want.length || !want.every((n) => marked.some((m) => m.startsWith(n)))) {
      throw new Error(`accounts marked as waiting for a new password: ${JSON.stringify(marked)}, want ${want}`);
    }
    await run.screenshot('03-users');
    await logout();
  }, { fatal: true });

  await run.step('a user created by the administrator must change the password at first login', async () => {
    await firstLogin(users[0]);
    await run.screenshot('03b-doc-password-changed');
    await logout();
  }, { fatal: true });

  await run.step('radiologist opens the worklist', async () => {
    await login('doc', users[0].password);
    await page.locator('#live-dot.on').waitFor({ timeout: 10000 });
    if (await page.locator('tr', { hasText: sc.study.patientName }).count()) {
      throw new Error('the study is listed before it was sent');
    }
  }, { fatal: true });

  await run.step('storescu sends the DR study from the site\'s AE title', async () => {
    const s = sc.storescu;
    const out = execFileSync(s.bin || 'storescu', ['-aet', siteA.ae, '-aec', s.aec, s.host, String(s.port), s.file],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 });
    return { output: out.slice(0, 500) };
  }, { fatal: true });

  await run.step('the study appears without reloading, with site, Chinese name and thumbnail', async () => {
    const url = page.url();
    const row = page.locator('#worklist tbody tr', { hasText: sc.study.patientName });
    await row.first().waitFor({ timeout: 15000 });
    if (page.url() !== url) throw new Error('the page navigated');
    const text = await row.first().innerText();
    if (!text.includes(siteA.name)) throw new Error(`row does not name site ${siteA.name}: ${text}`);
    const stats = await poll('thumbnail', async () => {
      const s = await imageStats(page, `#worklist tr[data-study="${sc.study.uid}"] .strip img`);
      return s.length && s[0] && s[0].variance > 20 ? { ok: true, s } : { ok: false, s };
    }, 15000);
    await run.screenshot('04-worklist-live');
    return { row: text, thumbnail: stats.s[0] };
  }, { fatal: true });

  let before;
  await run.step('radiologist opens the study and the image renders', async () => {
    await Promise.all([page.waitForURL(/\/studies\//), page.locator(`#worklist tr[data-study="${sc.study.uid}"] td.name a`).click()]);
    before = await poll('image', async () => {
      const s = await canvasStats(page, '#image');
      return s && s.variance > 20 ? { ok: true, ...s } : { ok: false, ...s };
    }, 20000);
    await run.screenshot('05-study');
    return before;
  }, { fatal: true });

  await run.step('window/level changes by dragging and by preset', async () => {
    const box = await page.locator('#image').boundingBox();
    const wl0 = await page.locator('#wl-readout').innerText();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    for (let i = 1; i <= 10; i++) await page.mouse.move(box.x + box.width / 2 - i * 15, box.y + box.height / 2 + i * 8);
    await page.mouse.up();
    const after = await poll('window change', async () => {
      const s = await canvasStats(page, '#image');
      return s && s.hash !== before.hash ? { ok: true, ...s } : { ok: false, ...s };
    }, 5000);
    const wl1 = await page.locator('#wl-readout').innerText();
    if (wl1 === wl0) throw new Error(`the W/L readout did not change (${wl0})`);
    await page.click('[data-preset=bone]');
    const bone = await canvasStats(page, '#image');
    if (bone.hash === after.hash) throw new Error('the bone preset changed nothing');
    await page.click('#invert');
    await run.screenshot('06-window-level');
    await page.click('#reset');
    return { before: wl0, after: wl1, meanBefore: before.mean, meanAfter: after.mean };
  });

  await run.step('radiologist writes and signs a report in Chinese', async () => {
    await page.fill('#findings', findings);
    await page.fill('#impression', impression);
    await page.locator('#save-state', { hasText: '草稿已保存' }).waitFor({ timeout: 10000 });
    await Promise.all([page.waitForLoadState('load'), page.click('#sign')]);
    await page.locator('#report-status', { hasText: '已审核' }).waitFor({ timeout: 15000 });
    const shown = await page.locator('#signed-findings').innerText();
    if (shown !== findings) throw new Error(`signed findings read back as ${shown}`);
    await run.screenshot('07-signed');
  }, { fatal: true });

  if (sc.large) {
    await run.step('window/level on a 3000x3000 DR (client-side timing)', async () => {
      await page.goto(`${run.baseURL}/studies/${sc.large.uid}`);
      const t0 = Date.now();
      await poll('large image', async () => {
        const s = await page.evaluate(() => window.__viewer && window.__viewer.state.cur && window.__viewer.timings.window.length);
        return s ? { ok: true } : { ok: false };
      }, 60000, 100);
      const firstImageMs = Date.now() - t0;
      const res = await page.evaluate(async (n) => {
        const v = window.__viewer;
        const cur = v.state.cur;
        v.timings.window.length = 0;
        v.timings.paint.length = 0;
        for (let i = 0; i < n; i++) {
          v.setWindow(cur.c0 + (i % 20 - 10) * 30, Math.max(50, cur.w0 * (0.3 + (i % 7) / 10)));
          await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
        }
        const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
        return {
          size: `${cur.w}x${cur.h}`,
          steps: v.timings.window.length,
          windowMsP50: q(v.timings.window, 0.5), windowMsP95: q(v.timings.window, 0.95), windowMsMax: Math.max(...v.timings.window),
          toPaintMsP50: q(v.timings.paint, 0.5), toPaintMsP95: q(v.timings.paint, 0.95),
          frameFetchMs: v.timings.fetch[v.timings.fetch.length - 1],
        };
      }, sc.windowSteps || 40);
      res.firstImageMs = firstImageMs;
      await run.screenshot('08-large-dr');
      run.log('window/level timing', JSON.stringify(res));
      return res;
    });
  }

  await run.step('the site\'s user sees the final report and prints it', async () => {
    await logout();
    await firstLogin(users[1]);
    const row = page.locator(`#worklist tr[data-study="${sc.study.uid}"]`);
    await row.waitFor();
    if (!(await row.innerText()).includes('已审核')) throw new Error('the row does not say final');
    await Promise.all([page.waitForURL(/\/studies\//), row.locator('td.name a').click()]);
    await page.locator('#signed-findings', { hasText: findings.slice(0, 10) }).waitFor();
    if (await page.locator('#findings').count()) throw new Error('the site user gets the editor');
    await run.screenshot('09-site-report');
    await page.goto(`${run.baseURL}/studies/${sc.study.uid}/print`);
    const text = await page.locator('#print-report').innerText();
    for (const want of [sc.study.patientName, impression, '李医生']) {
      if (!text.includes(want)) throw new Error(`print view lacks ${want}`);
    }
    await page.emulateMedia({ media: 'print' });
    await run.screenshot('10-print');
    await page.pdf({ path: `${run.artifacts}/report-a4.pdf`, format: 'A4' }).catch(() => {});
    await page.emulateMedia({ media: 'screen' });
  });

  await run.step('another site\'s user is refused every URL of the study', async () => {
    await logout();
    await login('town-b', users[2].password);
    const s = sc.study;
    const urls = [
      `/studies/${s.uid}`, `/studies/${s.uid}/print`, `/studies/${s.uid}/series/${s.series}/thumbnail`,
      `/api/studies/${s.uid}/images`, `/api/studies/${s.uid}/report`,
      `/api/studies/${s.uid}/instances/${s.sop}/frames/0/pixels`, `/api/studies/${s.uid}/instances/${s.sop}/frames/0/rendered`,
      `/dicomweb/studies/${s.uid}/series`, `/dicomweb/studies?PatientName=*`,
    ];
    const got = {};
    for (const u of urls) {
      const r = await page.request.get(run.baseURL + u, { maxRedirects: 0 });
      got[u] = r.status();
      const body = await r.text();
      if (body.includes(s.patientName) || body.includes(findings.slice(0, 8))) throw new Error(`${u} leaks the study`);
    }
    const bad = Object.entries(got).filter(([, st]) => st !== 403 && st !== 404);
    if (bad.length) throw new Error(`not refused: ${JSON.stringify(bad)}`);
    const wl = await page.locator('#worklist').innerText();
    if (wl.includes(s.patientName)) throw new Error('the worklist lists another site\'s study');
    await run.screenshot('11-other-site');
    return got;
  });

  await run.step('the signed report is in the study over QIDO-RS', async () => {
    await logout();
    await login('doc', users[0].password);
    const r = await page.request.get(`${run.baseURL}/dicomweb/studies/${sc.study.uid}/instances?Modality=SR`,
      { headers: { Accept: 'application/dicom+json' } });
    if (r.status() !== 200) throw new Error(`QIDO-RS answered ${r.status()}`);
    const res = await r.json();
    const classes = res.map((x) => x['00080016']?.Value?.[0]);
    if (!classes.includes('1.2.840.10008.5.1.4.1.1.88.11')) throw new Error(`no Basic Text SR: ${JSON.stringify(classes)}`);
    return { instances: res.length };
  });
}
