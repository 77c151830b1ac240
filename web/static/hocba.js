// Kiểm tra học bạ số: posts the chosen PDF to /api/v1/hocba/verify and shows each signature
// and the data check. Text goes in with textContent only: names come from the uploaded file.
(() => {
  const input = document.getElementById("hocba-file");
  const out = document.getElementById("hocba-result");
  const table = document.getElementById("hocba-signatures");
  const csrf = () => (document.querySelector('meta[name="csrf"]') || {}).content || "";
  const dataText = {
    absent: "Tệp không có dữ liệu học bạ kèm theo.",
    unknown_student: "Dữ liệu học bạ kèm theo là của học sinh không có trong trường.",
    matches: "Dữ liệu học bạ kèm theo khớp với hồ sơ của trường.",
    differs: "Dữ liệu học bạ kèm theo KHÁC hồ sơ hiện nay của trường (đã sửa sau khi ký).",
  };
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    out.textContent = "Đang kiểm tra…";
    // The district hub's page posts to its own API (data-api), which names the school too.
    const res = await fetch(input.dataset.api || "/api/v1/hocba/verify", {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/pdf" }, body: file,
    });
    let d = {};
    try { d = await res.json(); } catch (e) { /* no body */ }
    const body = table.querySelector("tbody");
    body.replaceChildren();
    if (!res.ok) {
      table.hidden = true;
      out.textContent = (d.error && d.error.message) || ("Lỗi " + res.status);
      return;
    }
    const row = (cells) => {
      const tr = document.createElement("tr");
      cells.forEach((t) => {
        const td = document.createElement("td");
        td.textContent = t;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    };
    (d.signatures || []).forEach((s, i) => {
      // Both answers give each problem in English (problems) and Vietnamese (problems_vi), and
      // the times as the school reads a clock (time, timestamp_time): the raw UTC and PDF dates
      // are for programs, never shown.
      const en = s.problems || [];
      const vi = s.problems_vi || en;
      // A broken document time-stamp is the stamp's, not this signature's whose bytes are
      // intact: a row of its own after it (review r17 #10), as the CLI prints it.
      const stamp = (j) => (en[j] || "").startsWith("the document time-stamp");
      const own = vi.filter((_, j) => !stamp(j));
      const stampProblems = vi.filter((_, j) => stamp(j));
      row([String(i + 1), s.signer, s.role || "", s.chain_ok ? "Do " + (s.trusted_by || "CA của trường") + " cấp" : "KHÔNG do CA đáng tin cậy cấp",
       (s.time || "") + (s.timestamp_time ? " (dấu thời gian " + (s.timestamp_document ? "của tài liệu " : "") + s.timestamp_time + ")" : ""), s.bytes_intact ? "Nguyên vẹn" : "ĐÃ BỊ THAY ĐỔI",
       own.length === 0 ? "Hợp lệ" : "Không hợp lệ: " + own.join(" ")]);
      if (stampProblems.length) {
        row(["", "Dấu thời gian của tài liệu (sau chữ ký " + (i + 1) + ")", "", "", "", "",
          "Không hợp lệ: " + stampProblems.join(" ")]);
      }
    });
    table.hidden = (d.signatures || []).length === 0;
    // One verdict, the box's and the hub's alike (gradebook::hocba::verdict).
    const heads = {
      valid: "Tệp hợp lệ.",
      superseded: "Chữ ký hợp lệ, nhưng đây là bản cũ: trường đã ký phiên bản mới hơn.",
      not_confirmed: "Chưa xác nhận được: sổ ký của trường chưa gửi tới Phòng.",
      outdated: "Chữ ký thật của trường, nhưng học bạ đã cũ: cần ký lại.",
      invalid: "Tệp KHÔNG hợp lệ.",
    };
    const head = heads[d.verdict] || (d.valid ? heads.valid : heads.invalid);
    const sigs = (d.signatures || []).length ? "" : " Không có chữ ký nào.";
    const newer = d.note ? " " + d.note : "";
    // What is wrong with the file as a whole (a stage missing): the box's and the hub's answer.
    const whole = (d.problems_vi || []).map((p) => " " + p).join("");
    const school = d.school_name ? " Trường: " + d.school_name + " (" + d.school + ")." : "";
    // An approval of lesson plans carries no học bạ data by nature: its note says what it is.
    // The server's own sentence on the data (data_vi: at the hub, what it could not check).
    const data = d.approval ? "" : " " + (d.data_vi || dataText[d.data && d.data.state] || "");
    out.textContent = head + school + sigs + whole + newer + data;
  });

  // The principal's own PKCS#12: the file goes up base64 in JSON with its password and the new
  // PIN; the password and PIN fields are cleared whatever the answer.
  const form = document.getElementById("p12-form");
  if (form) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const msg = document.getElementById("p12-result");
      const file = form.elements.p12.files[0];
      if (!file) return;
      const bytes = new Uint8Array(await file.arrayBuffer());
      let bin = "";
      bytes.forEach((b) => { bin += String.fromCharCode(b); });
      const body = {
        p12: btoa(bin), password: form.elements.password.value, pin: form.elements.pin.value,
        confirm_name: form.elements.confirm_name.checked,
        replace: form.elements.replace ? form.elements.replace.checked : false,
        current_pin: form.elements.current_pin ? form.elements.current_pin.value : "",
      };
      if (form.elements.current_pin) form.elements.current_pin.value = "";
      form.elements.password.value = "";
      form.elements.pin.value = "";
      msg.textContent = "Đang nhập…";
      const res = await fetch("/api/v1/hocba/signer/p12", {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      let d = {};
      try { d = await res.json(); } catch (e) { /* no body */ }
      msg.textContent = res.ok ? d.message : ((d.error && d.error.message) || ("Lỗi " + res.status));
      msg.className = "msg " + (res.ok ? "ok" : "err");
      if (res.ok) setTimeout(() => location.reload(), 1500);
    });
  }
})();
