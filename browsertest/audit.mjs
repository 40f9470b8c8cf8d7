// The audit trail as the county's administrator uses it (package viewer): a township user
// and a radiologist each open a study and print its report; the administrator finds
// exactly those prints at /admin/audit by the patient, each with the user, the address
// and the patient, and downloads the search as CSV for Excel. Run by
// viewer/browser_audit_test.go; by hand:
//
//   PACSD_BASE_URL=http://127.0.0.1:8080 AUDIT_SCENARIO='{...}' node audit.mjs
//
// AUDIT_SCENARIO (JSON):
//   town, doc, admin: {username, password}   a township user, a radiologist, the administrator
//   study: {UID, PatientID, PatientName}     a study of the township's with a signed report
//                                            (PatientName as the page shows it)
//   address: the address the browser connects from, as the trail records it

import fs from 'node:fs';
import { Run, signIn, signOut } from './lib.mjs';

const sc = JSON.parse(process.env.AUDIT_SCENARIO || '{}');
const run = new Run('audit');

let page;
try {
  page = await run.launch();
  await steps();
} catch (e) {
  run.log('aborted:', e.message);
}
process.exitCode = await run.finish();

function login({ username, password }) { return signIn(run, page, username, password); }
function logout() { return signOut(run, page); }

async function openAndPrint(user) {
  await login(user);
  await page.goto(run.baseURL + '/studies/' + sc.study.UID);
  await page.waitForSelector('main');
  const resp = await page.goto(run.baseURL + '/studies/' + sc.study.UID + '/print');
  if (resp.status() !== 200) throw new Error(`print view: ${resp.status()}`);
  await logout();
}

// rows is the audit page's events: user, address, patient, action.
function rows() {
  return page.$$eval('#audit-events tr.event', (trs) => trs.map((tr) => ({
    user: (tr.querySelector('.user') || {}).textContent || '',
    address: tr.querySelector('.address').textContent.trim(),
    pid: (tr.querySelector('.pid') || {}).textContent || '',
    pname: tr.querySelector('.pname').textContent.trim(),
    study: tr.querySelector('.study').textContent.trim(),
    action: tr.dataset.action,
  })));
}

async function steps() {
  await run.step('the township user opens the study and prints its report', () => openAndPrint(sc.town), { fatal: true });
  await run.step('the radiologist opens the study and prints its report', () => openAndPrint(sc.doc), { fatal: true });
  await run.step('the administrator logs in', () => login(sc.admin), { fatal: true });

  await run.step('the audit page finds exactly the two prints by the patient, with user, address and patient', async () => {
    await page.click('header nav a[href="/admin/audit"]');
    await page.waitForSelector('#audit-search');
    await page.fill('input[name=patient_id]', sc.study.PatientID);
    await page.selectOption('select[name=action]', 'report.print');
    await Promise.all([page.waitForURL((u) => u.search.includes('action=report.print')), page.click('#audit-search button[type=submit]')]);
    const got = await rows();
    const users = got.map((r) => r.user).sort();
    if (JSON.stringify(users) !== JSON.stringify([sc.doc.username, sc.town.username].sort())) {
      throw new Error(`print events of ${JSON.stringify(users)}: ${JSON.stringify(got)}`);
    }
    for (const r of got) {
      if (r.address !== sc.address || r.pid !== sc.study.PatientID || r.pname !== sc.study.PatientName ||
          r.study !== sc.study.UID || r.action !== 'report.print') {
        throw new Error(`event ${JSON.stringify(r)}, want address ${sc.address}, patient ${sc.study.PatientID} ${sc.study.PatientName}`);
      }
    }
  });

  await run.step('the study views are there too, one per user', async () => {
    await page.selectOption('select[name=action]', 'study.view');
    await Promise.all([page.waitForURL((u) => u.search.includes('action=study.view')), page.click('#audit-search button[type=submit]')]);
    const users = (await rows()).map((r) => r.user).sort();
    if (JSON.stringify(users) !== JSON.stringify([sc.doc.username, sc.town.username].sort())) {
      throw new Error(`study views of ${JSON.stringify(users)}`);
    }
  });

  await run.step('the CSV export downloads the search for Excel', async () => {
    await page.selectOption('select[name=action]', 'report.print');
    await Promise.all([page.waitForURL((u) => u.search.includes('action=report.print')), page.click('#audit-search button[type=submit]')]);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#audit-csv')]);
    const text = fs.readFileSync(await dl.path(), 'utf8');
    if (!text.startsWith('\uFEFF时间,操作,')) throw new Error(`CSV starts ${JSON.stringify(text.slice(0, 20))}`);
    const lines = text.trim().split('\r\n').slice(1);
    if (lines.length !== 2) throw new Error(`${lines.length} CSV rows, want 2:\n${text}`);
    for (const u of [sc.town.username, sc.doc.username]) {
      if (!lines.some((l) => l.includes(',打印报告,') && l.includes(`,${u},`) && l.includes(sc.study.PatientID) && l.includes(sc.address))) {
        throw new Error(`no print by ${u} in the CSV:\n${text}`);
      }
    }
  });
}
