// Trạm UI helpers: forms and buttons call the JSON API with the session's CSRF token.
"use strict";
(function () {
  const csrf = () => (document.querySelector('meta[name="csrf"]') || {}).content || "";

  async function call(url, method, body, isJson) {
    const headers = { "X-CSRF-Token": csrf() };
    if (isJson) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(url, { method, headers, body, credentials: "same-origin" });
    } catch (e) {
      return { ok: false, data: { error: { message: "Mất kết nối tới Trạm. Kiểm tra Wi-Fi rồi thử lại." } } };
    }
    let data = {};
    try { data = await res.json(); } catch (e) { /* empty body */ }
    if (res.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname) + "&expired=1"; }
    return { ok: res.ok, status: res.status, data };
  }

  function show(el, text, ok) {
    if (!el) { alert(text); return; }
    el.textContent = text;
    el.className = "msg " + (ok ? "ok" : "err");
  }

  function formJson(form) {
    const out = {};
    for (const el of form.elements) {
      if (!el.name || el.type === "submit") continue;
      if (el.type === "checkbox") {
        if (!out[el.name]) out[el.name] = [];
        if (el.checked) out[el.name].push(el.value);
      } else if (el.name.includes(".")) {
        // "periods_per_year.6" → out.periods_per_year["6"]; empty cells are left out
        const [outer, inner] = el.name.split(".", 2);
        out[outer] = out[outer] || {};
        if (el.value !== "") out[outer][inner] = el.hasAttribute("data-number") ? Number(el.value) : el.value;
      } else if (el.hasAttribute("data-list")) {
        // "Nguyễn A, Trần B" → ["Nguyễn A", "Trần B"]
        out[el.name] = el.value.split(",").map((x) => x.trim()).filter((x) => x);
      } else if (el.hasAttribute("data-null") && el.value === el.getAttribute("data-null")) {
        // an explicit "none" choice (the Gắn form's "Bỏ gắn"), sent as null
        out[el.name] = null;
      } else if (el.hasAttribute("data-number")) {
        out[el.name] = el.value === "" ? null : Number(el.value);
      } else {
        out[el.name] = el.value === "" ? null : el.value;
      }
    }
    return out;
  }

  document.addEventListener("submit", async (ev) => {
    const form = ev.target.closest("form[data-api-form]");
    if (!form) return;
    ev.preventDefault();
    // An act that cannot be undone (striking a register line) asks first.
    if (form.dataset.confirm && !confirm(form.dataset.confirm)) return;
    const msg = form.querySelector("[data-msg]");
    let r = await call(form.dataset.apiForm, form.dataset.method || "POST", JSON.stringify(formJson(form)), true);
    // A change the server explains before making (relinking an approved lesson plan makes a new
    // draft version): its question asked, then sent again confirmed.
    const code = form.dataset.confirmCode;
    if (code && !r.ok && r.data.error && r.data.error.code === code && confirm(r.data.error.message)) {
      r = await call(form.dataset.apiForm, form.dataset.method || "POST", JSON.stringify(Object.assign(formJson(form), { amend: true })), true);
    }
    if (r.ok) {
      const extra = form.dataset.show && r.data[form.dataset.show] ? " " + r.data[form.dataset.show] : "";
      show(msg, "Đã lưu." + extra, true);
      if (!extra) setTimeout(() => location.reload(), 400);
    } else {
      show(msg, (r.data.error && r.data.error.message) || "Lỗi " + r.status, false);
    }
  });

  document.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-api]");
    if (!b) return;
    ev.preventDefault();
    if (b.dataset.confirm && !confirm(b.dataset.confirm)) return;
    let body = b.dataset.body || "{}";
    if (b.dataset.prompt) {
      const reason = prompt(b.dataset.prompt);
      if (!reason || !reason.trim()) return;
      // The button's own fields (a class to reopen alone) go along with the reason.
      body = JSON.stringify(Object.assign(JSON.parse(b.dataset.body || "{}"), { reason: reason.trim() }));
    }
    let r = await call(b.dataset.api, b.dataset.method || "POST", body, true);
    // Locking a term with students still incomplete: say how many and ask once more.
    if (!r.ok && r.data.error && r.data.error.code === "incomplete" && confirm(r.data.error.message + "\n\nVẫn khoá sổ?")) {
      r = await call(b.dataset.api, "POST", JSON.stringify(Object.assign(JSON.parse(body), { force: true })), true);
    }
    if (r.ok) {
      if (b.dataset.show && r.data[b.dataset.show]) { alert(r.data[b.dataset.show]); }
      if (b.dataset.next) location.href = b.dataset.next; else location.reload();
    } else {
      alert((r.data.error && r.data.error.message) || "Lỗi " + r.status);
    }
  });

  // Resumable uploads: the file goes up in chunks, each tagged with the offset it starts at; a
  // dropped Wi-Fi connection is retried, asking the server where it stopped, so nothing is sent
  // twice and a multi-gigabyte video survives a flaky network. `start` opens the session (the
  // library's or the lesson plans', which check type and size first); resolves to its id.
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  async function upload(file, start, bar, say) {
    const api = async (url, opts) => {
      opts.headers = Object.assign({ "X-CSRF-Token": csrf() }, opts.headers || {});
      opts.credentials = "same-origin";
      const res = await fetch(url, opts);
      let data = {};
      try { data = await res.json(); } catch (e) { /* no body */ }
      return { res, data };
    };
    const errText = (d, status) => (d.error && d.error.message) || ("Lỗi " + status);
    let r = await api(start, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: file.name, size: file.size }),
    });
    if (!r.res.ok) throw new Error(errText(r.data, r.res.status));
    // Chunks go where the session says (the hub's publishing keeps its own), else the library's.
    const id = r.data.id, chunk = r.data.chunk || 2097152;
    const at = r.data.url || ("/api/v1/library/uploads/" + id);
    let offset = 0, failures = 0;
    if (bar) bar.hidden = false;
    while (offset < file.size) {
      const part = file.slice(offset, Math.min(offset + chunk, file.size));
      try {
        r = await api(at, {
          method: "PATCH", headers: { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
          body: part,
        });
      } catch (e) {
        // The network dropped: wait, then ask the server how much it has.
        failures += 1;
        if (failures > 30) throw new Error("Mất kết nối quá lâu. Chọn lại tệp để tải tiếp.");
        say("Mất kết nối, đang thử lại…", false);
        await sleep(Math.min(1000 * failures, 10000));
        try {
          const st = await api(at, { method: "GET" });
          if (st.res.ok) offset = st.data.offset;
        } catch (e2) { /* still offline */ }
        continue;
      }
      if (r.res.status === 409 && r.data.error && r.data.error.details) {
        offset = r.data.error.details.offset; // the server is elsewhere: continue from there
        continue;
      }
      if (!r.res.ok) throw new Error(errText(r.data, r.res.status));
      failures = 0;
      offset = r.data.offset;
      const pct = Math.floor((100 * offset) / file.size);
      if (bar) bar.value = pct;
      say("Đã gửi " + pct + "%", true);
    }
    return id;
  }
  window.Tram = { upload, call };

  // Print buttons (no inline handlers: the content security policy allows scripts from files only).
  document.addEventListener("click", (ev) => {
    if (ev.target.closest("button[data-print]")) window.print();
  });

  document.addEventListener("change", (ev) => {
    if (ev.target.matches("select[data-autosubmit]")) ev.target.form.submit();
  });

  // The accounts page (issue 24 item 2): filter the list, create and edit accounts, and show a
  // temporary password once in its own panel. After a change the table is read again from the
  // page, so the panel and the filter stay as they are.
  const accounts = document.getElementById("accounts");
  if (accounts) {
    const fold = (x) => x.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[đĐ]/g, "d").toLowerCase();
    const fText = document.getElementById("f-text"), fRole = document.getElementById("f-role"), fDept = document.getElementById("f-dept");
    const count = document.getElementById("f-count");
    const filter = () => {
      const q = fold(fText.value.trim()), role = fRole.value, dept = fDept.value;
      const rows = [...accounts.tBodies[0].rows];
      let shown = 0;
      for (const tr of rows) {
        const ok = (!q || fold(tr.dataset.name + " " + tr.dataset.username).includes(q))
          && (!role || tr.dataset.roles.split(" ").includes(role))
          && (!dept || tr.dataset.dept === dept);
        tr.hidden = !ok;
        if (ok) shown += 1;
      }
      count.textContent = shown === rows.length ? `${rows.length} tài khoản` : `Đang hiện ${shown} / ${rows.length} tài khoản`;
    };
    for (const el of [fText, fRole, fDept]) el.addEventListener("input", filter);
    filter();
    const refresh = async () => {
      try {
        const res = await fetch(location.pathname, { credentials: "same-origin" });
        const doc = new DOMParser().parseFromString(await res.text(), "text/html");
        const body = doc.querySelector("#accounts tbody");
        if (body) accounts.tBodies[0].replaceWith(body);
      } catch (e) { /* the list is refreshed at the next visit */ }
      filter();
    };
    const panel = document.getElementById("temp-panel"), pw = document.getElementById("temp-password");
    const showTemp = (username, password) => {
      document.getElementById("temp-user").textContent = username;
      pw.value = password;
      document.getElementById("temp-copied").hidden = true;
      panel.hidden = false;
      panel.scrollIntoView({ block: "start" });
    };
    document.getElementById("temp-copy").addEventListener("click", async () => {
      // The clipboard API needs a secure context; a box reached at http://<ip> falls back.
      try { await navigator.clipboard.writeText(pw.value); } catch (e) { pw.select(); document.execCommand("copy"); }
      document.getElementById("temp-copied").hidden = false;
    });
    document.getElementById("temp-print").addEventListener("click", () => {
      document.body.classList.add("print-temp");
      window.print();
      document.body.classList.remove("print-temp");
    });
    document.getElementById("temp-close").addEventListener("click", () => { pw.value = ""; panel.hidden = true; });

    const create = document.getElementById("create-form");
    create.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const msg = create.querySelector("[data-msg]");
      const r = await call("/api/v1/accounts", "POST", JSON.stringify(formJson(create)), true);
      if (!r.ok) { show(msg, (r.data.error && r.data.error.message) || "Lỗi " + r.status, false); return; }
      create.reset();
      show(msg, `Đã tạo tài khoản ${r.data.account.username}.`, true);
      if (r.data.temporary_password) showTemp(r.data.account.username, r.data.temporary_password);
      await refresh();
    });

    const dialog = document.getElementById("edit-dialog"), edit = document.getElementById("edit-form");
    const emsg = document.getElementById("e-msg");
    let editing = null;
    accounts.addEventListener("click", async (ev) => {
      const tr = ev.target.closest("tr[data-id]");
      if (!tr) return;
      if (ev.target.closest("button[data-reset]")) {
        if (!confirm(`Đặt lại mật khẩu của ${tr.dataset.username}?`)) return;
        const r = await call(`/api/v1/accounts/${tr.dataset.id}/reset-password`, "POST", "{}", true);
        if (r.ok) showTemp(tr.dataset.username, r.data.temporary_password);
        else alert((r.data.error && r.data.error.message) || "Lỗi " + r.status);
        return;
      }
      if (!ev.target.closest("button[data-edit]")) return;
      editing = tr.dataset.id;
      document.getElementById("e-username").textContent = tr.dataset.username;
      edit.elements.full_name.value = tr.dataset.name;
      const roles = tr.dataset.roles.split(" "), homeroom = tr.dataset.homeroom.split(" ");
      for (const c of edit.querySelectorAll("input[name=roles]")) c.checked = roles.includes(c.value);
      for (const c of edit.querySelectorAll("input[name=homeroom]")) c.checked = homeroom.includes(c.value);
      edit.elements.department.value = tr.dataset.dept;
      emsg.textContent = ""; emsg.className = "msg";
      dialog.showModal();
    });
    document.getElementById("e-cancel").addEventListener("click", () => dialog.close());
    edit.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = formJson(edit);
      body.department = body.department || "";
      let r = await call(`/api/v1/accounts/${editing}`, "PATCH", JSON.stringify(body), true);
      // A class that has another GVCN is taken from them only when the admin confirms it.
      if (!r.ok && r.data.error && r.data.error.code === "homeroom_taken" && confirm(r.data.error.message)) {
        body.replace_homeroom = true;
        r = await call(`/api/v1/accounts/${editing}`, "PATCH", JSON.stringify(body), true);
      }
      if (!r.ok) { show(emsg, (r.data.error && r.data.error.message) || "Lỗi " + r.status, false); return; }
      dialog.close();
      await refresh();
    });
  }

  // Spreadsheet import: preview first, commit only a clean file. The student preview lists
  // each change old → new; a row whose number belongs to another child (other name or birth
  // date) gets a checkbox and is applied only when ticked; the commit carries the preview's
  // digest, so the server refuses it if the list changed since.
  const imp = document.getElementById("import-form");
  if (imp) {
    const out = document.getElementById("imp-result");
    const commit = document.getElementById("imp-commit");
    let preview = null;
    const send = async (mode) => {
      const file = document.getElementById("imp-file").files[0];
      if (!file) return null;
      const kind = document.getElementById("imp-kind").value;
      const headers = { "X-CSRF-Token": csrf(), "Content-Type": "application/octet-stream" };
      let q = `mode=${mode}`;
      if (mode === "commit" && preview) {
        const rows = [...out.querySelectorAll("input[data-confirm-row]:checked")].map((c) => c.dataset.confirmRow);
        q += `&preview=${encodeURIComponent(preview)}&confirm=${rows.join(",")}`;
      }
      try {
        const res = await fetch(`/api/v1/import/${kind}?${q}`, { method: "POST", headers, body: file });
        return { ok: res.ok, data: await res.json() };
      } catch (e) {
        return { ok: false, data: { error: { message: "Mất kết nối tới Trạm." } } };
      }
    };
    const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
    const list = (items, line) => { const ul = el("ul", "problems"); for (const x of items) ul.append(el("li", null, line(x))); return ul; };
    const render = (r) => {
      out.replaceChildren();
      const d = r.data;
      if (d.error) out.append(el("p", "msg err", d.error.message));
      const probs = d.problems || (d.error && d.error.details) || [];
      if (probs.length) out.append(list(probs, (x) => (x.row ? "Dòng " + x.row + ": " : "") + x.message));
      if (d.rows !== undefined && !probs.length) {
        const counts = `${d.changes} thay đổi (${d.added} thêm mới, ${d.updates} cập nhật, ${d.unchanged} không đổi)`;
        out.append(el("p", "msg ok", d.committed ? `Đã nhập: ${d.written !== undefined ? d.written : d.changes} dòng được ghi. Tệp có ${d.rows} dòng, ${counts}.` : `Tệp hợp lệ: ${d.rows} dòng, ${counts}.`));
        if (d.next !== undefined) out.append(el("p", "msg ok", `Số đăng bộ tiếp theo: ${d.next}.`));
        if (d.skipped && d.skipped.length) {
          out.append(el("p", "msg err", "Các dòng sau chưa được xác nhận nên không cập nhật:"));
          out.append(list(d.skipped, (x) => "Dòng " + x.row + ": " + x.message));
        }
        if (d.notes && d.notes.length) out.append(list(d.notes, (x) => "Dòng " + x.row + ": " + x.message));
        // A row that leaves a signed học bạ out of date says so (the edit API's own note): on its
        // row in the preview, listed after the commit.
        if (d.committed && d.hocba_notes && d.hocba_notes.length) {
          out.append(el("p", "msg err", "Học bạ số cần ký lại:"));
          out.append(list(d.hocba_notes, (x) => "Dòng " + x.row + ": " + x.note));
        }
        if (!d.committed && d.diff && d.diff.length) {
          const ul = el("ul", "import-diff");
          for (const x of d.diff) {
            const li = el("li");
            const who = `${x.student.full_name} (${x.student.ma_dinh_danh})`;
            li.append(el("strong", null, `Dòng ${x.row}: ${x.action === "add" ? "thêm mới " + who : "cập nhật " + who}`));
            if (x.fields.length) li.append(list(x.fields, (f) => `${f.label}: ${f.old} → ${f.new}`));
            if (x.hocba_note) li.append(el("p", "msg err", x.hocba_note));
            if (x.suspect) {
              li.append(el("p", "msg err", x.warning));
              const lab = el("label");
              const box = el("input"); box.type = "checkbox"; box.dataset.confirmRow = String(x.row);
              lab.append(box, ` Xác nhận cập nhật dòng ${x.row}`);
              li.append(lab);
            }
            ul.append(li);
          }
          out.append(ul);
        }
        if (d.issued && d.issued.length) {
          const ul = el("ul");
          for (const [u, pw] of d.issued) ul.append(el("li", null, `${u}: ${pw}`));
          out.append(ul);
        }
      }
      preview = d.committed ? null : d.preview || null;
      commit.hidden = !(d.clean && !d.committed && d.changes > 0);
    };
    imp.addEventListener("submit", async (ev) => { ev.preventDefault(); const r = await send("preview"); if (r) render(r); });
    commit.addEventListener("click", async () => { const r = await send("commit"); if (r) render(r); });
  }
})();
