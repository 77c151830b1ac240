// The device page's update upload: the bundle goes up as the request body; the server checks
// its signature before keeping it, and says why when it does not.
(function () {
  const form = document.getElementById("update-form");
  if (!form) return;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const file = document.getElementById("bundle").files[0];
    const msg = form.querySelector("[data-msg]");
    if (!file) return;
    msg.textContent = "Đang tải lên…";
    msg.className = "msg";
    const csrf = document.querySelector('meta[name="csrf"]');
    try {
      const res = await fetch("/api/v1/device/update", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/octet-stream", "X-CSRF-Token": csrf ? csrf.content : "" },
        body: file,
      });
      const data = await res.json().catch(() => ({}));
      if (res.ok) {
        msg.textContent = data.message;
        msg.className = "msg ok";
      } else {
        msg.textContent = (data.error && data.error.message) || "Lỗi " + res.status;
        msg.className = "msg err";
      }
    } catch (e) {
      msg.textContent = "Mất kết nối khi tải lên. Hãy thử lại.";
      msg.className = "msg err";
    }
  });
})();
