// The harness's own test (internal/browsertest): a page with a blank and a drawn canvas and
// one missing resource. Steps that must pass and steps that must fail, so the Go side can
// check that both verdicts, the HTTP error log and the exit code come through.
import { Run, canvasStats, poll } from '../../../browsertest/lib.mjs';

const run = new Run('selftest');
try {
  const page = await run.launch();
  await run.step('page loads', async () => {
    await page.goto(run.baseURL + '/', { waitUntil: 'load' });
  }, { fatal: true });
  await run.step('blank canvas is blank', async () => {
    const s = await canvasStats(page, '#blank');
    if (!s || s.variance !== 0) throw new Error(`variance ${s && s.variance}`);
    return s;
  });
  await run.step('drawn canvas has a picture', async () => {
    const s = await poll('drawn', async () => {
      const st = await canvasStats(page, '#drawn');
      return st && { ok: st.variance > 20, ...st };
    }, 5000);
    return s;
  });
  await run.step('this step fails', async () => {
    throw new Error('on purpose');
  });
  await run.screenshot('page');
} catch (e) {
  run.log('aborted:', e.message);
}
process.exitCode = await run.finish();
