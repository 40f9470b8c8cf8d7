// Study page: the report editor (draft autosave, templates, signing, amendment).
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
  let report = data.report || null;
  let saveTimer = null, saving = Promise.resolve();

  // The page is rendered in the right state; this keeps it so after an amendment starts.
  function setEditable(editable) {
    if (!findings) return;
    findings.readOnly = impression.readOnly = !editable;
    signBtn.hidden = !editable;
    templateBar.hidden = !editable;
    amendBtn.hidden = editable || !report;
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
      say(e.status === 409 ? 'report.conflict' : 'report.savefailed');
      throw e;
    }
  }

  if (findings && data.canEdit) {
    if (report) { findings.value = report.findings; impression.value = report.impression; }
    setEditable(!report || report.status === 'draft');
    const onInput = () => {
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
        const version = report && report.status === 'draft' ? report.version : 1;
        report = await send('POST', `${api}/report/sign`, { version, findings: findings.value, impression: impression.value });
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
