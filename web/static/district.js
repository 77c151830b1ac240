// The hub's publishing page: the file goes up with the resumable uploader (window.Tram.upload
// in app.js, chunks to the hub's own sessions), then one JSON call publishes it; a refusal
// shows the hub's reason and nothing is published.
"use strict";
(function () {
  const wire = (formId, prefix, publishUrl, body) => {
    const form = document.getElementById(formId);
    if (!form) return;
    const msg = document.getElementById(prefix + "-msg");
    const bar = document.getElementById(prefix + "-progress");
    const say = (t, ok) => { msg.textContent = t; msg.className = "msg " + (ok ? "ok" : "err"); };
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const file = document.getElementById(prefix + "-file").files[0];
      if (!file) { say("Chọn một tệp.", false); return; }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const upload = await window.Tram.upload(file, "/district/api/uploads", bar, say);
        // The link may drop between the last chunk and this call: ask again with the same
        // upload (the hub answers a repeat with what it published, never publishes twice).
        const payload = JSON.stringify(Object.assign({ upload }, body(form)));
        let r = await window.Tram.call(publishUrl, "POST", payload, true);
        for (let tries = 1; r.status === undefined && tries <= 30; tries += 1) {
          say("Mất kết nối, đang thử lại…", false);
          await new Promise((res) => setTimeout(res, Math.min(1000 * tries, 10000)));
          r = await window.Tram.call(publishUrl, "POST", payload, true);
        }
        if (!r.ok) throw new Error((r.data.error && r.data.error.message) || ("Lỗi " + r.status));
        say("Đã phát hành: " + r.data.published.name + " (" + r.data.published.to + ").", true);
        setTimeout(() => location.reload(), 1500);
      } catch (e) {
        say(e.message, false);
      } finally {
        button.disabled = false;
      }
    });
  };
  wire("pub-update", "pu", "/district/api/publish/update", () => ({}));
  wire("pub-library", "pl", "/district/api/publish/library", (f) => {
    const val = (n) => (f.elements[n].value || "").trim();
    return {
      title: val("title"), kind: val("kind"), subject: val("subject") || null,
      grade: val("grade") ? Number(val("grade")) : null, description: val("description"),
    };
  });
})();
