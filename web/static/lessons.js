// Lesson plans: the new-plan form, the structured editor (fields and the activities of
// CV 5512 / the primary layout), attachments (resumable uploads through window.Tram.upload),
// and the dashboard's live updates (long-poll: the page changes as plans are submitted,
// reviewed and approved, without reloading).
"use strict";
(function () {
  const say = (el, t, ok) => { if (el) { el.textContent = t; el.className = "msg " + (ok ? "ok" : "err"); } };
  const errOf = (r) => (r.data.error && r.data.error.message) || ("Lỗi " + r.status);
  const json = (url, method, body) => window.Tram.call(url, method, JSON.stringify(body), true);

  const created = document.querySelector("form[data-lesson-new]");
  if (created) {
    created.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = created.elements;
      const r = await json("/api/v1/lessons/plans", "POST", {
        title: f.title.value.trim(), subject: f.subject.value, grade: Number(f.grade.value),
        periods: Number(f.periods.value), teach_on: f.teach_on.value,
      });
      if (r.ok) location.href = "/lessons/plan/" + r.data.plan.id + "/edit";
      else say(created.querySelector("[data-msg]"), errOf(r), false);
    });
  }

  const form = document.getElementById("plan-form");
  const planBody = () => {
    const f = form.elements;
    const fields = { activities: [] };
    for (const el of form.querySelectorAll("[data-field]")) fields[el.dataset.field] = el.value;
    for (const fs of form.querySelectorAll("fieldset[data-activity]")) {
      const a = {};
      for (const el of fs.querySelectorAll("[data-a]")) a[el.dataset.a] = el.value;
      fields.activities.push(a);
    }
    return {
      title: f.title.value.trim(), subject: f.subject.value, grade: Number(f.grade.value),
      periods: Number(f.periods.value), teach_on: f.teach_on.value, layout: form.dataset.layout, fields,
    };
  };
  const save = async () => json("/api/v1/lessons/plans/" + form.dataset.plan, "PUT", planBody());
  if (form) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const r = await save();
      if (r.ok) { say(document.getElementById("plan-msg"), "Đã lưu.", true); location.href = "/lessons/plan/" + form.dataset.plan; }
      else say(document.getElementById("plan-msg"), errOf(r), false);
    });
  }

  const attach = document.getElementById("attach-form");
  if (attach) {
    const msg = document.getElementById("at-msg");
    const bar = document.getElementById("at-progress");
    attach.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const file = document.getElementById("at-file").files[0];
      if (!file) { say(msg, "Chọn một tệp.", false); return; }
      // Keep what was typed: save the form first (it may also start a new version).
      if (form) { const s = await save(); if (!s.ok) { say(msg, errOf(s), false); return; } }
      try {
        const upload = await window.Tram.upload(file, "/api/v1/lessons/uploads", bar, (t, ok) => say(msg, t, ok));
        const r = await json("/api/v1/lessons/plans/" + attach.dataset.plan + "/files", "POST", { upload });
        if (!r.ok) throw new Error(errOf(r));
        say(msg, "Đã đính kèm.", true);
        location.reload();
      } catch (e) {
        say(msg, e.message, false);
      }
    });
  }

  // "Ký duyệt cả tháng": the list shows the picked department's plans, and the request names
  // exactly the plans shown (id and version), so the server signs those or, if what waits has
  // changed since the page was drawn, nothing.
  const batch = document.getElementById("batch-form");
  if (batch) {
    const items = () => [...batch.querySelectorAll("#batch-plans li")];
    const dept = document.getElementById("b-dept");
    const shown = () => items().filter((li) => !li.hidden);
    const redraw = () => {
      for (const li of items()) li.hidden = dept.value !== "" && li.dataset.department !== dept.value;
      const n = shown().length;
      document.getElementById("batch-count").textContent = n;
      document.getElementById("batch-plans-head").hidden = n === 0;
      document.getElementById("batch-plans-none").hidden = n !== 0;
    };
    dept.addEventListener("change", redraw);
    redraw();
    batch.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = batch.elements;
      const r = await json("/api/v1/lessons/approve-month", "POST", {
        month: f.month.value, department: dept.value || null, secret: f.secret.value,
        plans: shown().map((li) => ({ id: li.dataset.plan, version: Number(li.dataset.version) })),
      });
      say(batch.querySelector("[data-msg]"), r.ok ? r.data.message : errOf(r), r.ok);
      if (r.ok) {
        // What was signed leaves the list; the rest of the month still waits.
        for (const li of items()) if (r.data.approved.includes(li.dataset.plan)) li.remove();
        f.secret.value = "";
        redraw();
      }
    });
  }

  // The dashboard: wait for a change, then fetch the new table.
  const live = document.getElementById("live");
  if (live) {
    let gen = Number(live.dataset.generation);
    const month = live.dataset.month;
    const loop = async () => {
      for (;;) {
        try {
          const r = await fetch("/api/v1/lessons/changes?after=" + gen, { credentials: "same-origin" });
          if (r.status === 401) return;
          const d = await r.json();
          if (d.generation !== gen) {
            gen = d.generation;
            const body = await fetch("/lessons/dashboard?fragment=true&month=" + encodeURIComponent(month), { credentials: "same-origin" });
            if (body.ok) {
              document.getElementById("dash-body").innerHTML = await body.text();
              live.textContent = "cập nhật " + d.updated; // the school's clock, from the server
            }
          }
        } catch (e) {
          await new Promise((res) => setTimeout(res, 5000)); // offline: try again soon
        }
      }
    };
    loop();
  }
})();
