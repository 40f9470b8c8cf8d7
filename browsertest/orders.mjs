// Registration (登记, /orders) as the county's registration desk uses it (package viewer):
// a scheduled procedure registered with a Chinese name; a refused date named beside its field
// with everything typed kept; the corrected order in the day's list, in words; and the form
// and the list usable on a phone (390 px: the page never scrolls sideways, the wide list
// scrolls within itself, the save button and the refusal stay on the screen). Run by
// viewer/browser_orders_test.go; by hand:
//
//   PACSD_BASE_URL=http://127.0.0.1:8080 ORDERS_SCENARIO='{...}' node orders.mjs
//
// ORDERS_SCENARIO (JSON):
//   admin: {username, password}   the administrator (password already chosen)
//   date: "YYYY-MM-DD"            today in the county (Beijing time): the list's default day
//   station: "DR_A"               a station AE of a registered site

import { Run, signIn } from './lib.mjs';

const sc = JSON.parse(process.env.ORDERS_SCENARIO || '{}');
const run = new Run('orders');

// The order the desk registers (the station: a site's DR).
const order = {
  patientId: 'P20260301', patientName: '王建国', patientSex: 'M', birthDate: '1979-03-15',
  accessionNumber: 'A20260301', requestedProcedure: '胸部正位片', modality: 'DX', stationAE: sc.station,
  scheduledTime: '09:30', performingPhysician: '李医生',
};

let page;
try {
  page = await run.launch();
  await page.setViewportSize({ width: 1440, height: 900 });
  await steps();
} catch (e) {
  run.log('aborted:', e.message);
}
process.exitCode = await run.finish();

function expectText(got, want, what) {
  if (got !== want) throw new Error(`${what}: ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

// fillOrder types an order into the registration form.
async function fillOrder(o) {
  for (const [k, v] of Object.entries(o)) {
    if (k === 'patientSex') await page.selectOption(`#order-form select[name=${k}]`, v);
    else await page.fill(`#order-form [name=${k}]`, v);
  }
}

// submitRefused submits the form, expects the 400 of a refusal (not a failed request of the
// run) and waits for the page that names the field.
async function submitRefused() {
  const [r] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/orders'),
    page.click('#order-form button[type=submit]'),
  ]);
  if (r.status() !== 400) throw new Error(`POST /orders answered ${r.status()}, want 400`);
  const i = run.httpErrors.findIndex((e) => e.method === 'POST' && new URL(e.url).pathname === '/orders');
  if (i >= 0) run.httpErrors.splice(i, 1);
  await page.waitForLoadState('load');
  await page.locator('#order-form-error-field').waitFor();
}

// besideField checks that the refusal shown beside input sits right under it, on the screen.
async function besideField(input) {
  const g = await page.evaluate((sel) => {
    const inp = document.querySelector(sel);
    const err = document.getElementById('order-form-error-field');
    const a = inp.getBoundingClientRect();
    const b = err.getBoundingClientRect();
    return {
      input: { x: a.x, y: a.y, w: a.width, h: a.height }, error: { x: b.x, y: b.y, w: b.width, h: b.height },
      sameLabel: inp.closest('label') === err.closest('label'),
      describedBy: inp.getAttribute('aria-describedby'), invalid: inp.getAttribute('aria-invalid'),
      text: err.innerText.trim(), vw: innerWidth,
    };
  }, input);
  if (!g.sameLabel) throw new Error('the refusal is not in the field\'s label');
  if (g.invalid !== 'true' || g.describedBy !== 'order-form-error-field') {
    throw new Error(`the field is not marked: aria-invalid=${g.invalid} aria-describedby=${g.describedBy}`);
  }
  const gap = g.error.y - (g.input.y + g.input.h);
  if (gap < -1 || gap > 24) throw new Error(`the refusal is ${gap.toFixed(1)} px below the field`);
  if (g.error.x < 0 || g.error.x + g.error.w > g.vw + 0.5 || g.error.h === 0) {
    throw new Error(`the refusal is off the screen: ${JSON.stringify(g.error)} in ${g.vw} px`);
  }
  return g;
}

async function noSidewaysScroll() {
  const m = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: innerWidth }));
  if (m.scroll > m.inner) throw new Error(`the page is ${m.scroll} px wide in a ${m.inner} px screen`);
  return m;
}


async function steps() {
  await run.step('administrator logs in', async () => {
    await signIn(run, page, sc.admin.username, sc.admin.password);
  }, { fatal: true });

  await run.step('a refused date is named beside its field and what was typed is kept', async () => {
    await page.goto(run.baseURL + '/orders');
    await page.locator('#order-form').waitFor();
    await fillOrder({ ...order, scheduledDate: '2026-02-30' });
    await submitRefused();
    const g = await besideField('#order-form input[name=scheduledDate]');
    if (!g.text.startsWith('预约日期') || !g.text.includes('2026-02-30')) throw new Error(`the refusal says ${JSON.stringify(g.text)}`);
    for (const [k, v] of Object.entries({ ...order, scheduledDate: '2026-02-30' })) {
      expectText(await page.inputValue(`#order-form [name=${k}]`), v, `typed ${k}`);
    }
    if ((await page.locator('#orders tbody tr[data-accession]').count()) !== 0) throw new Error('a refused order is listed');
    await run.screenshot('o1-refused-1440');
    return { message: g.text };
  });

  await run.step('the corrected order appears in the day\'s list in words', async () => {
    await page.fill('#order-form input[name=scheduledDate]', sc.date);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/orders' && u.searchParams.get('saved') === '1'),
      page.click('#order-form button[type=submit]'),
    ]);
    const row = page.locator(`#orders tbody tr[data-accession="${order.accessionNumber}"]`);
    await row.waitFor();
    const cells = (await row.locator('td').allInnerTexts()).map((s) => s.trim());
    expectText(cells[0], sc.date, 'scheduled date');
    expectText(cells[1], order.scheduledTime, 'scheduled time');
    expectText(cells[2], '王建国 · 男', 'patient');
    expectText(cells[5], order.requestedProcedure, 'procedure');
    expectText(await row.locator('td.status').innerText(), '已预约', 'status');
    if (await page.locator('#order-form-error-field, #order-form-error').count()) throw new Error('a refusal is still shown');
    await run.screenshot('o2-listed-1440');
    return { cells };
  });

  await run.step('at 390 px the form and the list fit the screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(run.baseURL + '/orders');
    const row = page.locator(`#orders tbody tr[data-accession="${order.accessionNumber}"]`);
    await row.waitFor();
    const page1 = await noSidewaysScroll();
    // The list is wider than a phone: it scrolls within its own box, to its last column.
    const wrap = await page.evaluate(() => {
      const w = document.querySelector('#orders').closest('.table-wrap');
      if (!w) return null;
      w.scrollLeft = w.scrollWidth;
      const last = document.querySelector('#orders tbody tr[data-accession] td.status').getBoundingClientRect();
      return { scroll: w.scrollWidth, client: w.clientWidth, overflow: getComputedStyle(w).overflowX, statusRight: last.right, vw: innerWidth };
    });
    if (!wrap || !['auto', 'scroll'].includes(wrap.overflow)) throw new Error(`the list does not scroll within itself: ${JSON.stringify(wrap)}`);
    if (wrap.statusRight > wrap.vw + 0.5) throw new Error(`the status column stays off the screen: ${JSON.stringify(wrap)}`);
    const save = await page.locator('#order-form button[type=submit]').boundingBox();
    if (!save || save.x < 0 || save.x + save.width > 390.5) throw new Error(`the save button is off the screen: ${JSON.stringify(save)}`);
    await fillOrder({ ...order, accessionNumber: 'A20260302', patientName: '李秀英', patientSex: 'F', scheduledDate: '2026-13-01' });
    await submitRefused();
    const g = await besideField('#order-form input[name=scheduledDate]');
    expectText(await page.inputValue('#order-form input[name=patientName]'), '李秀英', 'typed name at 390 px');
    await noSidewaysScroll();
    await run.screenshot('o3-refused-390');
    return { page: page1, list: wrap, refusal: g.error };
  });
}
