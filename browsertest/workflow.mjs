// The reporting workflow of issue 18 with three people at once (package viewer): radiologist
// A opens a study and claims it, radiologist B sees who reads it, A writes with a phrase from
// the library and submits for review (two-level review is on), B (a reviewer) edits and
// signs, the report names both; A flags a critical finding (危急值), the township user, on a
// phone-sized page already open, gets the red banner and the notice live and acknowledges
// it saying whom they informed; the county dashboard shows the site's time to acknowledge.
// Run by viewer/browser_workflow_test.go; by hand:
//
//   PACSD_BASE_URL=http://127.0.0.1:8080 WORKFLOW_SCENARIO='{...}' node workflow.mjs
//
// Each person has their own host name for the same server (127.0.0.1, a.localhost,
// b.localhost: Chromium sends *.localhost to the loopback), so each has their own cookies
// and session in the one browser.
//
// WORKFLOW_SCENARIO (JSON):
//   a, b, town: {username, password, name}   radiologist A, reviewer B, the township user
//   study: {uid, patient}                      a study of the township's site

import path from 'node:path';
import { Run, poll } from './lib.mjs';

const sc = JSON.parse(process.env.WORKFLOW_SCENARIO || '{}');
const run = new Run('workflow');

let town, a, b; // pages
const base = {};

try {
  town = await run.launch();
  const url = new URL(run.baseURL);
  const hostBase = (h) => `${url.protocol}//${h}:${url.port}`;
  base.town = run.baseURL;
  base.a = hostBase('a.localhost');
  base.b = hostBase('b.localhost');
  a = await newPage(base.a);
  b = await newPage(base.b);
  for (const p of [town, a, b]) p.on('dialog', (d) => d.accept()); // confirmations say yes
  await steps();
} catch (e) {
  run.log('aborted:', e.message);
}
process.exitCode = await run.finish();

// newPage opens a page of the run's browser for another host name, its responses watched
// as the run watches its own origin's.
async function newPage(origin) {
  const p = await run.context.newPage();
  run.watch(p);
  p.on('response', (r) => {
    if (!r.url().startsWith(origin)) return;
    const entry = { method: r.request().method(), url: r.url(), status: r.status() };
    run.requests.push(entry);
    if (r.status() >= 400) {
      run.httpErrors.push({ ...entry, url: run.origin + new URL(r.url()).pathname });
      run.log('HTTP', r.status(), entry.method, r.url());
    }
  });
  return p;
}

async function login(page, origin, who) {
  await page.goto(origin + '/login');
  await page.fill('input[name=username]', who.username);
  await page.fill('input[name=password]', who.password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('button[type=submit]')]);
}

// shot saves a screenshot of one person's page (run.screenshot takes the run's own page).
async function shot(page, name) {
  const file = path.join(run.artifacts, `${name}.png`);
  await page.screenshot({ path: file });
  run.screenshots.push(file);
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

async function steps() {
  const studyPath = `/studies/${sc.study.uid}`;
  await run.step('everyone signs in on their own host', async () => {
    await login(town, base.town, sc.town);
    await login(a, base.a, sc.a);
    await login(b, base.b, sc.b);
  }, { fatal: true });

  await run.step('radiologist A opens the study and claims it', async () => {
    await a.goto(base.a + studyPath);
    const banner = await a.locator('#claim-banner').getAttribute('class');
    expect(banner.includes('mine'), `A's claim banner: ${banner}`);
  });

  await run.step('claiming is visible to a second radiologist', async () => {
    await b.goto(base.b + '/');
    const badge = (await b.locator(`tr[data-study="${sc.study.uid}"] .claim`).innerText()).trim();
    expect(badge.includes(sc.a.name), `worklist badge ${JSON.stringify(badge)}`);
    await b.goto(base.b + studyPath);
    const holder = (await b.locator('#claim-banner.other .claim-holder').innerText()).trim();
    expect(holder === sc.a.name, `study page holder ${JSON.stringify(holder)}`);
    expect(await b.locator('#findings').evaluate((el) => el.readOnly), 'B can type into a report A holds');
    await shot(b, 'claimed-for-b');
  });

  await run.step('radiologist A inserts a phrase at the cursor and submits for review', async () => {
    await a.fill('#findings', '腰椎序列连续。椎间隙未见狭窄。');
    // A personal phrase, then put between the two sentences.
    await a.fill('#phrase-form [name=group]', '脊柱');
    await a.fill('#phrase-form [name=text]', '腰椎生理曲度变直。');
    await a.click('#phrase-add');
    await a.locator('.phrase-insert', { hasText: '腰椎生理曲度变直。' }).waitFor();
    await a.locator('#findings').evaluate((el) => { el.focus(); el.setSelectionRange(7, 7); });
    await a.click('.phrase-insert >> text=腰椎生理曲度变直。');
    const text = await a.inputValue('#findings');
    expect(text === '腰椎序列连续。腰椎生理曲度变直。椎间隙未见狭窄。', `findings after the phrase: ${text}`);
    // The keyboard way: Alt+P, type, Enter, into the impression.
    await a.locator('#impression').focus();
    await a.keyboard.press('Alt+P');
    await a.keyboard.type('曲度');
    await a.keyboard.press('Enter');
    const imp = await a.inputValue('#impression');
    expect(imp === '腰椎生理曲度变直。', `impression after Alt+P: ${imp}`);
    await a.fill('#impression', '腰椎退行性变。');
    expect(await a.locator('#sign').isHidden(), 'A, not a reviewer, is offered to sign');
    await Promise.all([a.waitForEvent('load'), a.click('#submit-review')]);
    const status = (await a.locator('#report-status').innerText()).trim();
    expect(status === '待审核', `status after submission ${JSON.stringify(status)}`);
  });

  await run.step('reviewer B edits and signs; the report names both', async () => {
    await b.goto(base.b + studyPath);
    expect(!(await b.locator('#findings').evaluate((el) => el.readOnly)), 'the reviewer cannot edit');
    expect(await b.locator('#submit-review').isHidden(), 'the reviewer is offered to submit');
    const f = await b.inputValue('#findings');
    await b.fill('#findings', f + '附件结构完整。');
    await Promise.all([b.waitForEvent('load'), b.click('#sign')]);
    const author = (await b.locator('#signed-author').innerText()).trim();
    const signer = (await b.locator('#signed-by').innerText()).trim();
    expect(author === sc.a.name && signer === sc.b.name, `author ${author}, signer ${signer}`);
    expect((await b.locator('#signed-findings').innerText()).includes('附件结构完整。'), 'the reviewer\'s edit is not signed');
    await shot(b, 'signed-by-reviewer');
  });

  await run.step('the township user opens the worklist on a phone', async () => {
    await town.setViewportSize({ width: 390, height: 844 });
    await town.goto(base.town + '/');
    expect(await town.locator('#critical-banner').isHidden(), 'a banner before anything was flagged');
  });

  const critText = '右侧气胸，肺组织压缩约70%，纵隔左移';
  await run.step('radiologist A flags a critical finding', async () => {
    await a.goto(base.a + studyPath);
    await a.click('#crit-flag summary');
    await a.selectOption('#crit-category', 'pneumothorax');
    await a.fill('#crit-text', critText);
    await Promise.all([a.waitForEvent('load'), a.click('#crit-submit')]);
    const li = a.locator('#critical-list li.crit.open');
    expect((await li.innerText()).includes(critText), 'the flagged finding is not on the study page');
  });

  await run.step('the township sees the red banner and a live notification at 390 px', async () => {
    const got = await poll('banner and notice', async () => town.evaluate((want) => {
      const banner = document.getElementById('critical-banner');
      const toast = document.getElementById('crit-toast');
      return {
        ok: !banner.hidden && banner.innerText.includes(want) && !toast.hidden,
        banner: !banner.hidden, toast: toast && !toast.hidden && toast.innerText,
        overflow: document.documentElement.scrollWidth - innerWidth,
        color: getComputedStyle(banner).borderBottomColor,
      };
    }, critText), 15000);
    expect(got.overflow <= 0, `the page scrolls sideways by ${got.overflow} px`);
    await run.screenshot('township-banner-390');
    return got;
  });

  await run.step('the township acknowledges it, saying whom it informed', async () => {
    await town.fill('#critical-banner form.crit-ack input[name=informed]', '已电话通知急诊科王医生');
    await town.click('#critical-banner form.crit-ack button');
    await poll('banner gone', async () => ({ ok: await town.locator('#critical-banner').isHidden() }), 10000);
    await town.goto(base.town + studyPath);
    const done = (await town.locator('#critical-list .crit-ack-done').innerText()).trim();
    expect(done.includes('已电话通知急诊科王医生') && done.includes(sc.town.name), `acknowledgement shown as ${done}`);
  });

  await run.step('the township prints the report with both names', async () => {
    await town.goto(base.town + studyPath + '/print');
    const body = await town.locator('body').innerText();
    expect(body.includes(sc.a.name) && body.includes(sc.b.name), 'the printed report does not name author and signer');
  });

  await run.step('the dashboard shows the time to acknowledgement', async () => {
    await a.goto(base.a + '/dashboard');
    const row = a.locator('#critical-sites tbody tr').first();
    const cells = await row.locator('td').allInnerTexts();
    expect(cells[0] === sc.site && cells[2] === '1' && cells[3] === '0', `per-site row ${JSON.stringify(cells)}`);
    expect(cells[4] !== '–' && cells[5] !== '–', `median/max ${cells[4]} ${cells[5]}`);
    expect((await a.locator('#critical-open tbody tr.crit-aging').count()) === 0, 'an acknowledged finding is still aging');
    await shot(a, 'dashboard');
    return { median: cells[4], max: cells[5] };
  });
}
