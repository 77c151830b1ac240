// Score grid: saves each cell as it is entered, keeps unsaved cells (also across a reload) and
// retries them when the Wi-Fi comes back, shows edits that collided with someone else's.
// The server is the authority: this file validates only for instant feedback and never
// computes grades — averages come back from the server with each save.
"use strict";
(function () {
  const csrf = () => (document.querySelector('meta[name="csrf"]') || {}).content || "";
  const msg = document.getElementById("cell-msg");
  function say(text, ok) {
    if (!msg) return;
    msg.textContent = text;
    msg.className = "msg " + (ok ? "ok" : "err");
  }
  const fold = (s) => s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[đĐ]/g, "d").toLowerCase().trim().replace(/\s+/g, " ");

  // Same messages as the server (gradebook/rules/mod.rs), shown before any round trip.
  function validate(kind, text, col) {
    const t = text.trim();
    if (t === "") return null;
    if (col === "nx") return t.length > 500 ? "Nhận xét quá dài (tối đa 500 kí tự)" : null;
    const f = fold(t);
    if (kind === "primary") {
      if (col && col.startsWith("kt_")) {
        return /^\d{1,2}$/.test(t) && parseInt(t, 10) <= 10 ? null
          : `Điểm kiểm tra định kì là số nguyên từ 0 đến 10: nhận được ${t}`;
      }
      return ["t", "h", "c"].includes(f) ? null
        : `Nhập mức T (hoàn thành tốt), H (hoàn thành) hoặc C (chưa hoàn thành): nhận được "${t}"`;
    }
    if (["b", "bu", "kb", "khong bu", "m", "mien"].includes(f)) return null;
    if (kind === "comment") {
      return ["d", "dat", "cd", "chua dat"].includes(f) ? null
        : `Môn đánh giá bằng nhận xét: nhập Đ (Đạt) hoặc CĐ (Chưa đạt), nhận được "${t}"`;
    }
    const m = /^(\d+)(?:[.,](\d+))?$/.exec(t);
    if (!m) return `"${t}" không phải là điểm số`;
    const whole = parseInt(m[1], 10);
    const frac = (m[2] || "").replace(/0+$/, "");
    if (whole > 10 || (whole === 10 && frac.length)) return `Điểm phải từ 0 đến 10: nhận được ${t}`;
    if (frac.length > 1) return `Điểm chỉ được có một chữ số thập phân: nhận được ${t}`;
    return null;
  }

  const grid = document.getElementById("grid");
  if (grid) initGrid(grid);
  for (const id of ["summary", "summer"]) {
    const table = document.getElementById(id);
    if (table) initSummary(table);
  }

  function initGrid(grid) {
    const api = grid.dataset.api;
    const kind = grid.dataset.kind;
    const locked = grid.dataset.locked === "true";
    const sync = document.getElementById("sync");
    const storeKey = "tram.pending:" + api;
    let pending = {};
    try { pending = JSON.parse(localStorage.getItem(storeKey) || "{}") || {}; } catch (e) { pending = {}; }
    const inflight = new Set();
    let offline = false;
    let timer = null;

    const keyOf = (student, col) => student + "|" + col;
    const inputFor = (k) => {
      const [student, col] = k.split("|");
      const tr = grid.querySelector(`tr[data-student="${CSS.escape(student)}"]`);
      return tr && tr.querySelector(`input[data-col="${CSS.escape(col)}"]`);
    };
    const nameOf = (inp) => inp.closest("tr").querySelector("th").textContent.replace(/^\d+\.\s*/, "");

    function persist() {
      try { localStorage.setItem(storeKey, JSON.stringify(pending)); } catch (e) { /* private mode: memory only */ }
      showSync();
    }

    // "Đã lưu tất cả." only when nothing is queued and no cell is refused or collided: a red
    // cell's value is in no queue, and the line said all was saved beside it (issue 24).
    function showSync() {
      const n = Object.keys(pending).length;
      const refused = grid.querySelectorAll("input.cell.invalid, input.cell.conflict").length;
      if (n === 0 && refused === 0) {
        sync.textContent = sync.dataset.saved;
        sync.className = "sync ok";
      } else if (n === 0) {
        sync.textContent = `Còn ${refused} ô chưa lưu được: sửa các ô tô đỏ.`;
        sync.className = "sync err";
      } else if (offline) {
        sync.textContent = `Mất kết nối: còn ${n} ô chưa lưu, sẽ tự gửi lại khi có mạng. Đừng đóng trang.`;
        sync.className = "sync err";
      } else {
        sync.textContent = `Đang lưu ${n} ô…`;
        sync.className = "sync warn";
      }
    }

    function setState(inp, state) {
      inp.classList.remove("unsaved", "saved", "invalid", "conflict", "correction");
      if (state) inp.classList.add(state);
      inp.setAttribute("aria-invalid", state === "invalid" || state === "conflict" ? "true" : "false");
      if (state !== "invalid" && state !== "conflict") cellError(inp, "");
      showSync();
    }

    // A refused or collided cell says why right beside it (issue 24 item 5): a message under
    // the grid was hidden by the phone's keyboard while Enter moved on.
    function cellError(inp, text) {
      const td = inp.closest("td");
      const old = td.querySelector(".cell-err");
      if (!text) {
        if (old) old.remove();
        inp.removeAttribute("aria-describedby");
        return;
      }
      const el = old || document.createElement("span");
      el.className = "cell-err";
      el.setAttribute("role", "alert");
      el.id = "err-" + td.closest("tr").dataset.student + "-" + inp.dataset.col;
      el.textContent = text;
      if (!old) td.append(el);
      inp.setAttribute("aria-describedby", el.id);
    }

    function retryLater() {
      if (timer) return;
      timer = setTimeout(() => { timer = null; flush(); }, 3000);
    }

    function flush() { for (const k of Object.keys(pending)) send(k); }

    async function send(k) {
      const item = pending[k];
      if (!item || inflight.has(k)) return;
      inflight.add(k);
      const inp = inputFor(k);
      let res, data = {};
      try {
        res = await fetch(api, {
          method: "PUT",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
          body: JSON.stringify(item),
        });
        try { data = await res.json(); } catch (e) { data = {}; }
      } catch (e) {
        inflight.delete(k);
        offline = true;
        persist();
        retryLater();
        return;
      }
      inflight.delete(k);
      const newer = pending[k] !== item;
      if (res.ok) {
        offline = false;
        if (data.status === "saved") {
          // the stored cell's version is "v" (gradebook::Cell): ".version" was undefined, so
          // the next edit of the cell sent no version and was refused
          inp.dataset.version = data.cell.v;
          inp.dataset.saved = data.text;
          if (!newer) { inp.value = data.text; setState(inp, "saved"); }
          const avg = inp.closest("tr").querySelector("[data-avg]");
          if (avg) avg.textContent = data.result_text;
        } else if (data.status === "note_saved") {
          inp.dataset.version = data.version;
          inp.dataset.saved = data.text;
          if (!newer) { inp.value = data.text; setState(inp, "saved"); }
        } else if (data.status === "correction_pending") {
          if (!newer) setState(inp, "correction");
          say(`Đã gửi yêu cầu sửa ${nameOf(inp)}: chờ giáo viên chủ nhiệm xác nhận.`, true);
        }
        if (newer && pending[k]) pending[k].expected_version = Number(inp.dataset.version);
        else delete pending[k];
        persist();
        if (pending[k]) send(k);
        else if (Object.keys(pending).length) flush();
        return;
      }
      const err = (data && data.error) || {};
      if (res.status === 401) {
        persist(); // kept in this browser; sent again after signing in
        location.href = "/login?next=" + encodeURIComponent(location.pathname) + "&expired=1";
        return;
      }
      if (res.status >= 500 || res.status === 408 || res.status === 429 || !err.code) {
        offline = res.status >= 500 || !err.code;
        persist();
        retryLater();
        return;
      }
      if (newer) { persist(); send(k); return; }
      if (err.code === "conflict") {
        const cur = (err.details && err.details.current) || { text: "", version: 0 };
        inp.dataset.version = cur.version;
        inp.dataset.saved = cur.text;
        inp.value = cur.text;
        inp.title = "Bạn đã nhập: " + item.input;
        setState(inp, "conflict");
        cellError(inp, `Ô này vừa được người khác sửa thành "${cur.text || "(trống)"}". Giá trị bạn nhập "${item.input}" chưa được lưu — nhập lại nếu vẫn muốn thay.`);
      } else if (err.code === "reason_required") {
        const reason = prompt("Học kì đã khoá sổ. Lí do sửa điểm:");
        if (reason && reason.trim()) { item.reason = reason.trim(); persist(); send(k); return; }
        inp.value = inp.dataset.saved;
        setState(inp, null);
      } else {
        setState(inp, "invalid");
        cellError(inp, err.message || ("Lỗi " + res.status));
      }
      delete pending[k];
      persist();
    }

    function commit(inp) {
      if (!inp || !inp.matches("input.cell") || inp.readOnly) return;
      const student = inp.closest("tr").dataset.student;
      const col = inp.dataset.col;
      const k = keyOf(student, col);
      const value = inp.value.trim();
      if (value === inp.dataset.saved && !pending[k]) { setState(inp, null); return; }
      const problem = validate(kind, value, col);
      if (problem) {
        setState(inp, "invalid");
        cellError(inp, problem);
        return;
      }
      const item = { student, column: col, input: value, expected_version: Number(inp.dataset.version) };
      if (pending[k] && pending[k].reason) item.reason = pending[k].reason;
      if (locked && !item.reason) {
        const reason = prompt("Học kì đã khoá sổ. Lí do sửa điểm:");
        if (!reason || !reason.trim()) { inp.value = inp.dataset.saved; setState(inp, null); return; }
        item.reason = reason.trim();
      }
      pending[k] = item;
      setState(inp, "unsaved");
      if (msg && msg.className.includes("err")) say("", true);
      persist();
      send(k);
    }

    const cells = () => Array.from(grid.querySelectorAll("input.cell"));
    function move(inp, dRow, dCol) {
      const td = inp.closest("td");
      const tr = td.closest("tr");
      const colIndex = Array.from(tr.children).indexOf(td);
      let target = tr;
      if (dRow) target = dRow > 0 ? tr.nextElementSibling : tr.previousElementSibling;
      if (!target) return;
      const next = target.children[colIndex + dCol];
      const field = next && next.querySelector("input.cell");
      if (field) { field.focus(); field.select(); }
    }

    grid.addEventListener("change", (e) => commit(e.target));
    grid.addEventListener("input", (e) => {
      const inp = e.target;
      if (inp.matches("input.cell") && inp.classList.contains("invalid") && !validate(kind, inp.value, inp.dataset.col)) setState(inp, null);
    });
    grid.addEventListener("keydown", (e) => {
      const inp = e.target;
      if (!inp.matches("input.cell")) return;
      const atStart = inp.selectionStart === 0 && inp.selectionEnd === 0;
      const atEnd = inp.selectionStart === inp.value.length;
      if (e.key === "Enter") { e.preventDefault(); commit(inp); move(inp, 1, 0); }
      else if (e.key === "ArrowDown") { e.preventDefault(); move(inp, 1, 0); }
      else if (e.key === "ArrowUp") { e.preventDefault(); move(inp, -1, 0); }
      else if (e.key === "ArrowRight" && (atEnd || inp.selectionStart !== inp.selectionEnd)) { e.preventDefault(); move(inp, 0, 1); }
      else if (e.key === "ArrowLeft" && (atStart || inp.selectionStart !== inp.selectionEnd)) { e.preventDefault(); move(inp, 0, -1); }
    });
    grid.addEventListener("focusin", (e) => {
      const inp = e.target;
      if (!inp.matches("input.cell")) return;
      inp.select();
      // Keep the focused cell out from under the sticky name column (arrows, Enter, Tab).
      const wrap = grid.closest(".grid-wrap");
      const name = inp.closest("tr").querySelector("th.name");
      if (wrap && name) {
        const hidden = name.getBoundingClientRect().right - inp.getBoundingClientRect().left;
        if (hidden > 0) wrap.scrollLeft -= hidden + 8;
      }
    });
    window.addEventListener("online", () => { offline = false; flush(); });
    // Leaving with cells not yet saved, or refused and still red, asks first: a refused value
    // is in no queue, so leaving silently lost it.
    window.addEventListener("beforeunload", (e) => {
      if (Object.keys(pending).length || grid.querySelector("input.cell.invalid, input.cell.conflict")) {
        e.preventDefault();
        e.returnValue = "";
      }
    });

    // Cells typed before a reload or a lost connection are shown and sent again.
    for (const [k, item] of Object.entries(pending)) {
      const inp = inputFor(k);
      if (!inp) { delete pending[k]; continue; }
      inp.value = item.input;
      setState(inp, "unsaved");
    }
    persist();
    flush();
    void cells;
  }

  function initSummary(table) {
    const api = table.dataset.api;
    table.addEventListener("change", async (e) => {
      const el = e.target.closest("[data-field], [data-subject]");
      if (!el) return;
      const student = el.closest("tr").dataset.student;
      const body = { student };
      if (el.dataset.subject) {
        body.subject = el.dataset.subject;
        body.input = el.value;
      } else if (el.dataset.field === "absences" || el.dataset.field === "excused") {
        const n = Number(el.value);
        if (!Number.isInteger(n) || n < 0 || n > 365) { say("Số buổi nghỉ phải từ 0 đến 365", false); el.classList.add("invalid"); return; }
        // The total and, of it, the excused (có phép); the server refuses more excused than total.
        body[el.dataset.field] = n;
      } else if (el.dataset.field === "recognised") {
        body.recognised_by_class = el.checked;
      } else if (el.dataset.field.startsWith("q:")) {
        body.qualities = { [el.dataset.field.slice(2)]: el.value };
      } else {
        body.conduct = el.value;
      }
      el.classList.remove("invalid", "saved");
      try {
        const res = await fetch(api, {
          method: "PUT", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
          body: JSON.stringify(body),
        });
        const data = await res.json().catch(() => ({}));
        if (res.ok) { el.classList.add("saved"); say("Đã lưu.", true); }
        else { el.classList.add("invalid"); say((data.error && data.error.message) || ("Lỗi " + res.status), false); }
      } catch (err) {
        el.classList.add("invalid");
        say("Mất kết nối tới Trạm. Kiểm tra Wi-Fi rồi chọn lại.", false);
      }
    });
  }
})();
