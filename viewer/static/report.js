// Study page: the report editor (draft autosave, templates, signing, amendment; with the
// workflow on, submitting for review and the claim's read-only state: workflow.js).
(() => {
  const data = JSON.parse(document.getElementById('study-data').textContent);
  const M = data.messages || {};
  const t = (k) => M[k] || k;
  const study = data.study;
  const csrf = document.querySelector('input[name="csrf"]')?.value || '';
  const api = `/api/studies/${encodeURIComponent(study)}`;

  // ---------------- report editor ----------------
  const findings = document.getElementById('findings');
  const impression = document.getElementById('impression');
  const saveState = document.getElementById('save-state');
  const signBtn = document.getElementById('sign');
  const amendBtn = document.getElementById('amend');
  const templateBar = document.getElementById('template-bar');
  const badge = document.getElementById('report-status');
  const submitBtn = document.getElementById('submit-review');
  const wf = data.workflow || { on: false, mayReview: true };
  let report = data.report || null;
  let saveTimer = null, saving = Promise.resolve();
  let readOnly = !!wf.readOnly; // another radiologist holds the study, or it awaits a reviewer
  const isOpen = (r) => !r || r.status === 'draft' || r.status === 'preliminary';

  // The page is rendered in the right state; this keeps it so after an amendment starts,
  // or when the study turns out to be held by somebody else.
  function setEditable(editable) {
    if (!findings) return;
    editable = editable && !readOnly;
    findings.readOnly = impression.readOnly = !editable;
    signBtn.hidden = !editable || wf.mayReview === false;
    if (submitBtn) submitBtn.hidden = !editable || (report && report.status === 'preliminary');
    templateBar.hidden = !editable;
    amendBtn.hidden = isOpen(report) || !report || readOnly;
  }

  function say(key, extra) { if (saveState) saveState.textContent = t(key) + (extra ? ' ' + extra : ''); }

  // sayError shows why a request failed: the server's message for a refusal it explains
  // (an empty field), else what kind of failure it was.
  function sayError(e, fallback) {
    if (e.code && M[e.code]) say(e.code);
    else say(e.status === 409 ? 'report.conflict' : fallback, e.message);
  }

  // clock is the wall-clock time of an RFC 3339 time from the server, which writes them in
  // the county's time zone: the browser's own zone may be another.
  const clock = (s) => (s || '').slice(11, 19);

  async function send(method, url, body) {
    const r = await fetch(url, {
      method, credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body),
    });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = new Error(j?.error || `HTTP ${r.status}`);
      err.status = r.status; err.code = j?.code;
      throw err;
    }
    return j;
  }

  async function save() {
    say('report.saving');
    try {
      // null: nothing to keep (empty text and no report yet).
      report = await send('PUT', `${api}/report`, { findings: findings.value, impression: impression.value });
      if (report) say('report.saved', clock(report.updatedAt)); else if (saveState) saveState.textContent = '';
    } catch (e) {
      if (e.code === 'claim.held' || e.code === 'review.waiting') lose(e.code);
      else say(e.status === 409 ? 'report.conflict' : 'report.savefailed');
      throw e;
    }
  }

  // lose makes the editor read-only after the server refused a change (the study was
  // claimed by another meanwhile, or submitted for review), and says why.
  function lose(code) {
    readOnly = true;
    setEditable(false);
    say(code);
    document.dispatchEvent(new CustomEvent('pacs:claim-lost'));
  }

  // insert puts text at the cursor of the report field last in focus (findings by
  // default), as typing it would: the draft is saved after it (phrases, workflow.js).
  let lastField = findings;
  function insert(text) {
    if (!findings || findings.readOnly) return false;
    const el = lastField || findings;
    const start = el.selectionStart ?? el.value.length, end = el.selectionEnd ?? el.value.length;
    el.setRangeText(text, start, end, 'end');
    el.focus();
    el.dispatchEvent(new Event('input', { bubbles: true }));
    return true;
  }
  let typed = false; // the user changed the report during this visit (workflow.js: the claim)
  window.PacsReport = { insert, typed: () => typed, lose };

  if (findings && data.canEdit) {
    if (report) { findings.value = report.findings; impression.value = report.impression; }
    setEditable(isOpen(report));
    for (const el of [findings, impression]) el.addEventListener('focus', () => { lastField = el; });
    const onInput = () => {
      typed = true;
      clearTimeout(saveTimer);
      saveTimer = setTimeout(() => { saving = save().catch(() => {}); }, 1200);
    };
    findings.addEventListener('input', onInput);
    impression.addEventListener('input', onInput);
    // The server preselects the template that fits the study (or none). Applying one over
    // text already written asks first; declined, the text stays.
    document.getElementById('apply-template').addEventListener('click', () => {
      const id = Number(document.getElementById('template').value);
      const tp = (data.templates || []).find((x) => x.ID === id);
      if (!tp || findings.readOnly) return;
      if ((findings.value.trim() || impression.value.trim()) && !confirm(t('report.applyconfirm'))) return;
      findings.value = tp.Findings; impression.value = tp.Impression;
      onInput();
    });

    signBtn.addEventListener('click', async () => {
      // The server refuses these too; asking it first would only cost the confirmation.
      const empty = !findings.value.trim() ? (!impression.value.trim() ? 'report.empty' : 'report.emptyfindings')
        : !impression.value.trim() ? 'report.emptyimpression' : '';
      if (empty) {
        say(empty);
        (empty === 'report.emptyimpression' ? impression : findings).focus();
        return;
      }
      if (!confirm(t('report.signconfirm'))) return;
      clearTimeout(saveTimer);
      await saving;
      try {
        const version = report && isOpen(report) ? report.version : 1;
        report = await send('POST', `${api}/report/sign`, { version, findings: findings.value, impression: impression.value });
        location.reload();
      } catch (e) {
        sayError(e, 'report.savefailed');
      }
    });
    // Two-level review: the reporting radiologist hands the report to a reviewer.
    if (submitBtn) submitBtn.addEventListener('click', async () => {
      if (!findings.value.trim() || !impression.value.trim()) {
        say(!findings.value.trim() ? 'report.emptyfindings' : 'report.emptyimpression');
        return;
      }
      if (!confirm(t('review.submitconfirm'))) return;
      clearTimeout(saveTimer);
      await saving;
      try {
        const version = report && isOpen(report) ? report.version : 1;
        report = await send('POST', `${api}/report/submit`, { version, findings: findings.value, impression: impression.value });
        location.reload();
      } catch (e) {
        sayError(e, 'report.savefailed');
      }
    });
    amendBtn.addEventListener('click', async () => {
      const reason = prompt(t('report.amendreason'));
      if (!reason || !reason.trim()) return;
      try {
        report = await send('POST', `${api}/report/amend`, { reason });
        findings.value = report.findings; impression.value = report.impression;
        setEditable(true);
        badge.textContent = t('status.amending');
        badge.className = 'status draft';
        say('report.saved', clock(report.updatedAt));
      } catch (e) {
        sayError(e, 'report.savefailed');
      }
    });
  }

})();
