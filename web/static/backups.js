// The backups page: show the backup key after the password is typed again, copy and print it.
(() => {
  const form = document.getElementById("key-form");
  if (!form) return;
  const msg = form.querySelector("[data-msg]");
  const panel = document.getElementById("key-panel");
  const csrf = document.querySelector('meta[name="csrf"]');
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.textContent = "";
    msg.className = "msg";
    const pw = document.getElementById("key-password");
    let r, data = {};
    try {
      r = await fetch("/api/v1/backup/key", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf ? csrf.content : "" },
        body: JSON.stringify({ password: pw.value }),
      });
      data = await r.json().catch(() => ({}));
    } catch (e) {
      msg.textContent = "Không kết nối được với Trạm. Thử lại.";
      msg.className = "msg err";
      return;
    }
    pw.value = "";
    if (!r.ok) {
      msg.textContent = (data.error && data.error.message) || "Lỗi " + r.status;
      msg.className = "msg err";
      return;
    }
    document.getElementById("key-text").textContent = data.key;
    // The QR code is an SVG the server made from the key (no user text in it).
    document.getElementById("key-qr").innerHTML = data.qr_svg || "";
    panel.hidden = false;
  });
  document.getElementById("key-copy").addEventListener("click", async () => {
    const text = document.getElementById("key-text").textContent;
    try { await navigator.clipboard.writeText(text); msg.textContent = "Đã chép khoá."; msg.className = "msg ok"; }
    catch (e) { msg.textContent = "Trình duyệt không cho chép: hãy chọn và chép bằng tay."; msg.className = "msg err"; }
  });
  document.getElementById("key-print").addEventListener("click", () => window.print());
})();
