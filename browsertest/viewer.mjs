// pacsd's reading room (package viewer) driven end to end, as the people who use it would:
// the administrator logs in with the generated initial password, is held at the
// change-password page until they choose their own (a mismatch is refused in Chinese), logs
// out and back in with it; they set up two township sites and their users, whose
// administrator-set passwords must be changed at first login (the box is unticked for one
// of them, who keeps it); a DR study with a GB18030
// Chinese name is sent with DCMTK's storescu from a site's AE title; the radiologist sees
// it appear in the worklist without reloading, opens it (the chest template offered first,
// only the buttons that apply visible), changes the window, is told which field is empty
// when signing too early, is asked before a template replaces typed text, writes and signs
// a report in Chinese, then amends it (the badge says so); the time shown is Beijing time
// whatever the browser's and server's zone (the Go test runs both in UTC); an ultrasound
// study shows no radiograph window presets and offers the abdominal template; the site's
// user reads and prints the amended report (organization, 修订版, reason); the other site's
// user is refused every URL of that study; the report is found over QIDO-RS. It also times
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
//   us: {uid}                               an abdominal ultrasound already stored
//   organization                            pacsd's --organization, for the print
//   browserUTC                              true: the browser runs in UTC (checked)
//   windowSteps                             how many window changes to time

import { execFileSync } from 'node:child_process';
import { Run, canvasStats, imageStats, poll, signIn, signOut } from './lib.mjs';

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
const amendedImpression = '胸部正位片未见明显异常，建议随访复查。';
const amendReason = '补充随访建议';
const chestTemplate = '胸部正位（正常） (DX CHEST)';
const abdomenTemplate = '腹部超声（正常） (US ABDOMEN)';

// Dialogs are recorded and answered from answers (false dismisses; a string answers a
// prompt), else accepted, a prompt with the amendment's reason.
const dialogs = [];
const answers = [];

let page;
try {
  page = await run.launch();
  page.on('dialog', (d) => {
    dialogs.push({ type: d.type(), message: d.message() });
    const a = answers.length ? answers.shift() : true;
    if (a === false) d.dismiss();
    else d.accept(d.type() === 'prompt' ? (typeof a === 'string' ? a : amendReason) : undefined);
  });
  await steps();
} catch (e) {
  run.log('aborted:', e.message);
}
// Refused URLs are asked with page.request, which the harness does not count, so every
// response the pages themselves got must be a success.
process.exitCode = await run.finish();

function login(name, password) { return signIn(run, page, name, password); }
function logout() { return signOut(run, page); }

// visible says, for each element matching sel, whether a user can see it: displayed, not
// visibility:hidden, with a box of some size.
async function visible(sel) {
  return page.evaluate((sel) => [...document.querySelectorAll(sel)].map((el) => {
    const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
    return cs.display !== 'none' && cs.visibility !== 'hidden' && r.width > 0 && r.height > 0;
  }), sel);
}

async function mustSee(sel, want) {
  const v = await visible(sel);
  if (!v.length) throw new Error(`no element ${sel}`);
  if (v.some((x) => x !== want)) throw new Error(`${sel} is ${want ? 'not visible' : 'visible'} (${JSON.stringify(v)})`);
}

async function selectedTemplate() {
  return (await page.locator('#template option:checked').innerText()).trim();
}

// beijing is an instant (RFC 3339, any offset) as a clock in Beijing reads it: minutes
// ("2006-01-02 15:04") or seconds ("15:04:05").
function beijing(iso, seconds) {
  const s = new Date(Date.parse(iso) + 8 * 3600e3).toISOString();
  return seconds ? s.slice(11, 19) : s.slice(0, 16).replace('T', ' ');
}

// draftSaved matches the response to the autosave of a draft with this impression.
function draftSaved(impression) {
  return (r) => r.request().method() === 'PUT' && r.url().endsWith('/report') && r.ok() &&
    r.request().postDataJSON()?.impression === impression;
}

// lastSignedAt is the signing instant of the study's latest version, as the API gives it.
async function lastSignedAt() {
  const r = await page.request.get(`${run.baseURL}/api/studies/${sc.study.uid}/report`);
  const vs = (await r.json()).versions;
  return vs[vs.length - 1].signedAt;
}

// waitDialog waits for the dialog after the n-th one seen.
async function waitDialog(n) {
  return (await poll('a dialog', async () => ({ ok: dialogs.length > n, d: dialogs[n] }), 5000, 50)).d;
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

  await run.step('the DX chest study offers the chest template and only the buttons that apply', async () => {
    const tpl = await selectedTemplate();
    if (tpl !== chestTemplate) throw new Error(`template preselected: ${tpl}, want ${chestTemplate}`);
    await mustSee('#sign', true);
    await mustSee('#amend', false); // nothing to amend before a signature
    await mustSee('[data-preset=lung], [data-preset=bone], [data-preset=soft]', true);
    if (typeof sc.browserUTC === 'boolean' && sc.browserUTC) {
      const off = await page.evaluate(() => new Date().getTimezoneOffset());
      if (off !== 0) throw new Error(`the browser is not in UTC (offset ${off} min): the time checks would prove nothing`);
    }
    return { template: tpl };
  });

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

  await run.step('signing an empty report says which field is empty and leaves no draft', async () => {
    const signs = () => run.requests.filter((r) => r.method === 'POST' && r.url.endsWith('/report/sign')).length;
    const before = signs();
    await page.fill('#findings', '');
    await page.fill('#impression', '');
    await page.click('#sign');
    await page.locator('#save-state', { hasText: '检查所见和诊断意见均为空' }).waitFor({ timeout: 5000 });
    await run.screenshot('06b-sign-empty');
    const r = await page.request.get(`${run.baseURL}/api/studies/${sc.study.uid}/report`);
    const rep = await r.json();
    if (rep.versions.length || rep.status !== 'unread') throw new Error(`after signing empty: ${JSON.stringify(rep)}`);
    if ((await page.locator('#report-status').innerText()) !== '未读') throw new Error('the badge changed');
    await page.fill('#findings', findings);
    await page.click('#sign');
    await page.locator('#save-state', { hasText: '诊断意见为空' }).waitFor({ timeout: 5000 });
    if (signs() !== before) throw new Error('an empty report was sent to be signed');
  });

  await run.step('applying a template asks before replacing what was typed', async () => {
    const mine = '自己写的所见：左下肺纹理增粗。';
    await page.fill('#findings', mine);
    const n = dialogs.length;
    answers.push(false);
    await page.click('#apply-template');
    const d = await waitDialog(n);
    if (d.type !== 'confirm' || !d.message.includes('替换')) throw new Error(`dialog ${JSON.stringify(d)}`);
    if ((await page.inputValue('#findings')) !== mine) throw new Error('the typed findings were replaced although the user declined');
    answers.push(true);
    await page.click('#apply-template');
    await waitDialog(n + 1);
    await poll('template applied', async () => ({ ok: (await page.inputValue('#findings')).startsWith('胸廓对称') }), 5000, 50);
    if (!(await page.inputValue('#impression')).includes('未见明显异常')) throw new Error('the impression was not filled');
    await run.screenshot('06c-template-applied');
  });

  let signedAt;
  await run.step('radiologist writes and signs a report in Chinese', async () => {
    const saved = page.waitForResponse(draftSaved(impression), { timeout: 15000 });
    await page.fill('#findings', findings);
    await page.fill('#impression', impression);
    const draft = await (await saved).json();
    // The clock of "draft saved" is Beijing time, not the browser's.
    await page.locator('#save-state', { hasText: `草稿已保存 ${beijing(draft.updatedAt, true)}` }).waitFor({ timeout: 10000 });
    await page.click('#sign');
    await page.locator('#report-status', { hasText: '已审核' }).waitFor({ timeout: 15000 });
    signedAt = await lastSignedAt();
    const shown = await page.locator('#signed-findings').innerText();
    if (shown !== findings) throw new Error(`signed findings read back as ${shown}`);
    const at = await page.locator('#signed-at').innerText();
    if (at !== beijing(signedAt)) throw new Error(`signed at ${at} on the page, want ${beijing(signedAt)} (Beijing time of ${signedAt})`);
    await mustSee('#sign', false);
    await mustSee('#template-bar', false);
    await mustSee('#amend', true);
    await run.screenshot('07-signed');
    return { signedAt, shown: at };
  }, { fatal: true });

  await run.step('radiologist amends the report: the badge says an amendment is in progress', async () => {
    answers.push(amendReason);
    await page.click('#amend');
    await page.locator('#report-status', { hasText: '修订中' }).waitFor({ timeout: 10000 });
    await mustSee('#amend', false);
    await mustSee('#sign', true);
    await mustSee('#template-bar', true);
    await run.screenshot('07b-amending');
    const saved = page.waitForResponse(draftSaved(amendedImpression), { timeout: 15000 });
    await page.fill('#impression', amendedImpression);
    await saved;
    await page.click('#sign');
    await page.locator('#report-status', { hasText: '已修订' }).waitFor({ timeout: 15000 });
    signedAt = await lastSignedAt();
    await page.locator('#signed-impression', { hasText: amendedImpression }).waitFor();
    await mustSee('#sign', false);
    await run.screenshot('07c-amended');
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

  if (sc.us) {
    await run.step('an ultrasound study shows no radiograph window presets and offers the abdominal template', async () => {
      await page.goto(`${run.baseURL}/studies/${sc.us.uid}`);
      await poll('ultrasound image', async () => {
        const s = await canvasStats(page, '#image');
        return s && s.variance > 20 ? { ok: true, ...s } : { ok: false, ...s };
      }, 20000);
      await mustSee('[data-preset=lung], [data-preset=bone], [data-preset=soft]', false);
      await mustSee('#amend', false);
      const tpl = await selectedTemplate();
      if (tpl !== abdomenTemplate) throw new Error(`template preselected: ${tpl}, want ${abdomenTemplate}`);
      await run.screenshot('08b-ultrasound');
      return { template: tpl };
    });
  }

  await run.step('the site\'s user sees the amended report and prints it', async () => {
    await logout();
    await firstLogin(users[1]);
    const row = page.locator(`#worklist tr[data-study="${sc.study.uid}"]`);
    await row.waitFor();
    if (!(await row.innerText()).includes('已修订')) throw new Error('the row does not say amended');
    await Promise.all([page.waitForURL(/\/studies\//), row.locator('td.name a').click()]);
    await page.locator('#signed-findings', { hasText: findings.slice(0, 10) }).waitFor();
    if (await page.locator('#findings').count()) throw new Error('the site user gets the editor');
    const at = await page.locator('#signed-at').innerText();
    if (at !== beijing(signedAt)) throw new Error(`signed at ${at}, want ${beijing(signedAt)} (Beijing time)`);
    await run.screenshot('09-site-report');
    await page.goto(`${run.baseURL}/studies/${sc.study.uid}/print`);
    const text = await page.locator('#print-report').innerText();
    for (const want of [sc.study.patientName, amendedImpression, '李医生', `审核时间: ${beijing(signedAt)}`]) {
      if (!text.includes(want)) throw new Error(`print view lacks ${want}`);
    }
    if (sc.organization && (await page.locator('#print-report header .hospital').innerText()) !== sc.organization) {
      throw new Error(`the print is headed ${await page.locator('#print-report header .hospital').innerText()}, not ${sc.organization}`);
    }
    const amended = await page.locator('#print-amended').innerText();
    if (!amended.includes('修订版') || !amended.includes('第 2 版')) throw new Error(`the print says ${amended}`);
    if (!(await page.locator('#print-amend-reason').innerText()).includes(amendReason)) throw new Error('the print lacks the reason');
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
