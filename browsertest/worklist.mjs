// The reading room's worklist and administration pages as a radiologist and the
// administrator see them (package viewer): ages, body parts and kinds of examination in
// Chinese, the image count without the report SR and PDF, the received time in the
// county's time zone, sorting by study time or by receipt, a whole row opening its study
// (click, Enter, ctrl-click to a new tab), an urgent study moving to the top, and a refused
// user form that names the field and keeps what was typed, under headers that line up with
// their columns. Run by viewer/browser_worklist_test.go; by hand:
//
//   PACSD_BASE_URL=http://127.0.0.1:8080 WORKLIST_SCENARIO='{...}' node worklist.mjs
//
// WORKLIST_SCENARIO (JSON):
//   doc, admin: {username, password}      a radiologist and the administrator
//   a, b, c: {UID, Name, Received}        three studies received in this order (Received as
//                                         the page must show it); examined b, a, c. a is a
//                                         DR chest of a man of 047Y with its report SR and a
//                                         PDF; b a lumbar spine born 1979-03-15 without
//                                         Patient's Age; c an ultrasound of a 003M baby.

import { Run, signIn, signOut } from './lib.mjs';

const sc = JSON.parse(process.env.WORKLIST_SCENARIO || '{}');
const run = new Run('worklist');

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

// rowOrder is the studies of the worklist's rows, top to bottom.
function rowOrder() {
  return page.$$eval('#worklist tbody tr[data-study]', (trs) => trs.map((tr) => tr.dataset.study));
}

function expectOrder(got, want, what) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: rows ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

async function cell(uid, cls) {
  return (await page.locator(`#worklist tr[data-study="${uid}"] td.${cls}`).innerText()).trim();
}

function expectText(got, want, what) {
  if (got !== want) throw new Error(`${what}: ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

async function steps() {
  await run.step('radiologist logs in', () => login(sc.doc), { fatal: true });

  await run.step('the worklist shows ages, body parts and kinds of examination in words', async () => {
    await page.goto(run.baseURL + '/');
    await page.locator(`#worklist tr[data-study="${sc.c.UID}"]`).waitFor();
    expectText(await cell(sc.a.UID, 'sexage'), '男 / 47岁', 'a: sex/age');
    expectText(await cell(sc.a.UID, 'bodypart'), '胸部', 'a: body part');
    expectText(await cell(sc.a.UID, 'modality'), 'DR', 'a: kind (no SR, no DOC)');
    // No Patient's Age: 1979-03-15 to 2026-03-02.
    expectText(await cell(sc.b.UID, 'sexage'), '女 / 46岁', 'b: age from the birth date');
    expectText(await cell(sc.b.UID, 'bodypart'), '腰椎', 'b: body part');
    expectText(await cell(sc.c.UID, 'sexage'), '女 / 3月', 'c: age in months');
    expectText(await cell(sc.c.UID, 'modality'), '超声', 'c: kind');
    expectText(await cell(sc.c.UID, 'bodypart'), '腹部', 'c: body part');
    const all = await page.locator('#worklist tbody').innerText();
    for (const raw of ['047Y', '003M', 'CHEST', 'LSPINE', 'ABDOMEN', 'DX', 'SR', 'DOC']) {
      if (new RegExp(`\\b${raw}\\b`).test(all)) throw new Error(`the worklist shows the code ${raw}`);
    }
    await run.screenshot('w1-worklist');
  });

  await run.step('the image count leaves out the report SR and PDF', async () => {
    expectText(await cell(sc.a.UID, 'images'), '1', 'a: images (one DR, its SR and a PDF)');
    expectText(await cell(sc.c.UID, 'images'), '1', 'c: images');
  });

  await run.step('the received time is shown and either column sorts the list', async () => {
    for (const s of [sc.a, sc.b, sc.c]) expectText(await cell(s.UID, 'received'), s.Received, `${s.Name}: received`);
    expectOrder(await rowOrder(), [sc.c.UID, sc.b.UID, sc.a.UID], 'newest received first');
    if ((await page.locator('#sort-received').getAttribute('aria-sort')) !== 'descending') {
      throw new Error('the received column is not marked as the sort');
    }
    await Promise.all([page.waitForURL(/sort=study/), page.click('#sort-study a')]);
    expectOrder(await rowOrder(), [sc.b.UID, sc.a.UID, sc.c.UID], 'newest study first');
    if ((await page.locator('#sort-study').getAttribute('aria-sort')) !== 'descending') {
      throw new Error('the study time column is not marked as the sort');
    }
    await run.screenshot('w2-sorted-by-study-time');
    // The order stays through a filter, and the live refresh asks for the same order.
    await Promise.all([page.waitForURL(/status=unread/), (async () => {
      await page.selectOption('select[name=status]', 'unread');
      await page.click('#filters button[type=submit]');
    })()]);
    expectOrder(await rowOrder(), [sc.b.UID, sc.a.UID, sc.c.UID], 'study order, filtered');
    await Promise.all([page.waitForURL(/sort=received/), page.click('#sort-received a')]);
    expectOrder(await rowOrder(), [sc.c.UID, sc.b.UID, sc.a.UID], 'back to received order');
  });

  await run.step('a click anywhere on a row, or Enter on it, opens the study', async () => {
    await page.goto(run.baseURL + '/');
    await Promise.all([page.waitForURL(new RegExp(`/studies/${sc.a.UID.replaceAll('.', '\\.')}`)),
      page.click(`#worklist tr[data-study="${sc.a.UID}"] td.bodypart`)]);
    await page.goto(run.baseURL + '/');
    await page.focus(`#worklist tr[data-study="${sc.b.UID}"]`);
    await Promise.all([page.waitForURL(new RegExp(`/studies/${sc.b.UID.replaceAll('.', '\\.')}`)), page.keyboard.press('Enter')]);
    // A link inside a row still goes where it points (the thumbnail's series).
    await page.goto(run.baseURL + '/');
    await Promise.all([page.waitForURL(/#series=/), page.click(`#worklist tr[data-study="${sc.c.UID}"] td.strip a`)]);
  });

  await run.step('ctrl-click on a row opens the study in a new tab', async () => {
    await page.goto(run.baseURL + '/');
    const [tab] = await Promise.all([
      run.context.waitForEvent('page'),
      page.click(`#worklist tr[data-study="${sc.c.UID}"] td.sexage`, { modifiers: ['Control'] }),
    ]);
    await tab.waitForLoadState('domcontentloaded');
    const url = tab.url();
    await tab.close();
    if (!url.includes(`/studies/${sc.c.UID}`)) throw new Error(`the new tab opened ${url}`);
    if (!new URL(page.url()).pathname.startsWith('/') || page.url().includes('/studies/')) {
      throw new Error('the worklist itself navigated away');
    }
  });

  await run.step('the study page and its header say the same words', async () => {
    await page.goto(run.baseURL + `/studies/${sc.a.UID}`);
    expectText((await page.locator('#study-age').innerText()).trim(), '47岁', 'age');
    expectText((await page.locator('#study-modality').innerText()).trim(), 'DR 胸部', 'kind and body part');
    expectText((await page.locator('#study-images').innerText()).trim(), '1', 'images');
    await run.screenshot('w3-study');
  });

  await run.step('an urgent study moves to the top in either order', async () => {
    // a is the oldest received: last in the list until it is marked urgent.
    await page.goto(run.baseURL + `/studies/${sc.a.UID}`);
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/api/studies/${sc.a.UID}/urgent`)),
      page.click('#urgent-toggle'),
    ]);
    await page.goto(run.baseURL + '/');
    expectOrder(await rowOrder(), [sc.a.UID, sc.c.UID, sc.b.UID], 'received order with a urgent');
    await page.goto(run.baseURL + '/?sort=study');
    expectOrder(await rowOrder(), [sc.a.UID, sc.b.UID, sc.c.UID], 'study order with a urgent');
    await run.screenshot('w4-urgent-first');
  });

  await run.step('administrator logs in', async () => {
    await logout();
    await login(sc.admin);
  }, { fatal: true });

  await run.step('a refused user form names the field and keeps what was typed', async () => {
    await page.goto(run.baseURL + '/admin/users');
    await page.fill('#user-form input[name=username]', 'wang fang');
    await page.fill('#user-form input[name=display_name]', '王芳');
    await page.selectOption('#user-form select[name=role]', 'radiologist');
    await page.fill('#user-form input[name=password]', 'wang-password-1');
    const [r] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/admin/users'),
      page.click('#user-form button[type=submit]'),
    ]);
    if (r.status() !== 400) throw new Error(`POST /admin/users answered ${r.status()}, want 400`);
    // The refusal is what this step expects: not a failed request of the run.
    const i = run.httpErrors.findIndex((e) => e.method === 'POST' && new URL(e.url).pathname === '/admin/users');
    if (i >= 0) run.httpErrors.splice(i, 1);
    await page.locator('#user-form-error').waitFor();
    const msg = (await page.locator('#user-form-error').innerText()).trim();
    if (!msg.startsWith('用户名：') || !msg.includes('空格')) throw new Error(`the message is ${JSON.stringify(msg)}`);
    expectText(await page.inputValue('#user-form input[name=username]'), 'wang fang', 'typed user name');
    expectText(await page.inputValue('#user-form input[name=display_name]'), '王芳', 'typed display name');
    expectText(await page.inputValue('#user-form select[name=role]'), 'radiologist', 'chosen role');
    expectText(await page.inputValue('#user-form input[name=password]'), '', 'password (never sent back)');
    if ((await page.getAttribute('#user-form input[name=username]', 'aria-invalid')) !== 'true') {
      throw new Error('the user name input is not marked invalid');
    }
    await page.locator('#user-form').scrollIntoViewIfNeeded();
    await run.screenshot('w5-user-form-refused');
  });

  await run.step('the users table\'s headers sit over their columns', async () => {
    await page.goto(run.baseURL + '/admin/users');
    const boxes = await page.evaluate(() => {
      const ths = [...document.querySelectorAll('#users thead th')];
      const tds = [...document.querySelector('#users tbody tr[id^="row-"]').children];
      const box = (e) => { const r = e.getBoundingClientRect(); return { x: r.x, w: r.width }; };
      return { ths: ths.map(box), tds: tds.map(box) };
    });
    if (boxes.ths.length !== boxes.tds.length) {
      throw new Error(`${boxes.ths.length} headers over ${boxes.tds.length} cells`);
    }
    boxes.ths.forEach((th, i) => {
      const td = boxes.tds[i];
      if (Math.abs(th.x - td.x) > 1 || Math.abs(th.w - td.w) > 1) {
        throw new Error(`column ${i + 1}: header at ${th.x.toFixed(1)}+${th.w.toFixed(1)}, cell at ${td.x.toFixed(1)}+${td.w.toFixed(1)}`);
      }
    });
    await run.screenshot('w6-users');
    return { columns: boxes.ths.length };
  });
}
