// Library: bulk import from a folder on the box, and the upload form (chunked, resumable:
// window.Tram.upload in app.js).
"use strict";
(function () {
  // Bulk import from a folder on the box: check every row first, then import all or nothing.
  const imp = document.getElementById("lib-import");
  if (imp) {
    const out = document.getElementById("i-msg");
    const list = document.getElementById("i-problems");
    const commit = document.getElementById("i-commit");
    const send = async (doCommit) => {
      const body = { folder: imp.elements.folder.value.trim(), sheet: imp.elements.sheet.value.trim(), commit: doCommit };
      let res, data = {};
      try {
        res = await fetch("/api/v1/library/import", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": (document.querySelector('meta[name="csrf"]') || {}).content || "" },
          body: JSON.stringify(body),
        });
        data = await res.json();
      } catch (e) {
        out.textContent = "Mất kết nối tới Trạm."; out.className = "msg err"; return;
      }
      list.textContent = "";
      if (!res.ok) { out.textContent = (data.error && data.error.message) || ("Lỗi " + res.status); out.className = "msg err"; return; }
      if (data.committed) {
        out.textContent = "Đã nhập " + data.imported + " tài liệu."; out.className = "msg ok";
        commit.disabled = true; return;
      }
      const p = data.preview;
      for (const x of p.problems) {
        const li = document.createElement("li");
        li.textContent = (x.row ? "Dòng " + x.row + ": " : "") + x.message;
        list.appendChild(li);
      }
      const ok = p.problems.length === 0;
      out.textContent = ok ? p.rows.length + " dòng hợp lệ. Bấm Nhập để lưu tất cả." : p.problems.length + " lỗi; chưa nhập gì.";
      out.className = "msg " + (ok ? "ok" : "err");
      commit.disabled = !ok;
    };
    imp.addEventListener("submit", (ev) => { ev.preventDefault(); send(false); });
    commit.addEventListener("click", () => send(true));
  }

  const form = document.getElementById("lib-upload");
  if (!form) return;
  const msg = document.getElementById("u-msg");
  const bar = document.getElementById("u-progress");
  const say = (t, ok) => { msg.textContent = t; msg.className = "msg " + (ok ? "ok" : "err"); };
  const send = (file) => window.Tram.upload(file, "/api/v1/library/uploads", bar, say);

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const file = document.getElementById("u-file").files[0];
    if (!file) { say("Chọn một tệp.", false); return; }
    try {
      const upload = await send(file);
      const coverFile = document.getElementById("u-cover").files[0];
      const cover_upload = coverFile ? await send(coverFile) : null;
      const val = (n) => (form.elements[n].value || "").trim();
      const body = {
        title: val("title"), kind: val("kind"), upload, cover_upload,
        authors: val("authors") ? val("authors").split(",") : [],
        subject: val("subject") || null, visibility: val("visibility"),
        grade: val("grade") ? Number(val("grade")) : null,
      };
      const r = await window.Tram.call("/api/v1/library/items", "POST", JSON.stringify(body), true);
      if (!r.ok) throw new Error((r.data.error && r.data.error.message) || ("Lỗi " + r.status));
      say("Đã lưu vào thư viện.", true);
      location.href = "/library/item/" + r.data.item.id;
    } catch (e) {
      say(e.message, false);
    }
  });
})();
