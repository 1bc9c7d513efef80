// Small progressive enhancements; every page works without them.
(function () {
  // The server's clock (the demo's clock in the demo): SLA countdowns follow it. While
  // the demo replays history its clock runs hours per second, so the page shows the
  // server's values (refreshed with the queue) instead of counting at the wall's pace.
  var root = document.documentElement;
  var serverNow = Date.parse(root.dataset.now || "");
  var offset = isNaN(serverNow) ? 0 : serverNow - Date.now();
  var replaying = root.dataset.clock === "replay";
  function now() { return Date.now() + offset; }

  // units: "d|h|m| " (English) or "日|時間|分|" (Japanese): day, hour, minute, gap
  function duration(seconds, units) {
    var u = (units || "d|h|m| ").split("|");
    seconds = Math.abs(Math.floor(seconds));
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600),
        m = Math.floor(seconds % 3600 / 60);
    if (d) return d + u[0] + u[3] + h + u[1];
    return h ? h + u[1] + u[3] + m + u[2] : m + u[2];
  }
  function tick() {
    if (replaying) return;
    document.querySelectorAll(".sla[data-due]").forEach(function (el) {
      var left = (Date.parse(el.dataset.due) - now()) / 1000;
      var fmt = left < 0 ? el.dataset.fmtOver : el.dataset.fmtDue;
      el.textContent = fmt.replace("{t}", duration(left, el.dataset.units));
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 4 * 3600);
    });
  }
  setInterval(tick, 30000);
  document.addEventListener("kizuki:queue-updated", tick);

  // SMS segments as tickets/sms.py counts them (GSM-7 160/153, else UCS-2 70/67).
  var GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXT = "^{}\\[~]|€\f";
  function segments(text) {
    if (!text) return 0;
    var gsm = true, units = 0;
    for (var ch of text) {
      if (GSM.indexOf(ch) < 0 && EXT.indexOf(ch) < 0) gsm = false;
    }
    for (var c of text) units += gsm ? (EXT.indexOf(c) >= 0 ? 2 : 1) : (c.length > 1 ? 2 : 1);
    var single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    return units <= single ? 1 : Math.ceil(units / multi);
  }
  var reply = document.getElementById("reply-text");
  var counter = document.getElementById("sms-count");
  function count() {
    if (!reply || !counter || reply.dataset.sms !== "true") return;
    var n = segments(reply.value.replace(/\s+/g, " ").trim() + " (Case #000000)");
    counter.textContent = reply.dataset.fmtSegments.replace("{n}", n);
    counter.classList.toggle("err", n > 2);
  }
  if (reply) reply.addEventListener("input", count);
  var insert = document.getElementById("insert-kb");
  if (insert && reply) insert.addEventListener("click", function () {
    reply.value = (reply.value ? reply.value + "\n" : "") + insert.dataset.snippet;
    reply.focus();
    count();
  });
  count();
})();

// The queue: live updates (the same URL, so every filter is kept), select all, and keys.
(function () {
  var layout = document.querySelector("[data-live]");
  var table = document.getElementById("queue-table");
  if (layout && table) {
    setInterval(function () {
      if (document.hidden || document.querySelector("#queue-table input:checked")) return;
      fetch(window.location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var body = fresh.querySelector("#queue-table tbody");
          var current = document.querySelector("#queue-table tbody");
          if (body && current && body.innerHTML !== current.innerHTML) {
            current.innerHTML = body.innerHTML;
            document.dispatchEvent(new Event("kizuki:queue-updated"));
          }
        })
        .catch(function () {});
    }, Number(layout.dataset.live || 20) * 1000);
  }
  var all = document.getElementById("select-all");
  if (all) all.addEventListener("change", function () {
    document.querySelectorAll("#queue-table input[name=case_id]").forEach(function (box) {
      box.checked = all.checked;
    });
  });
  var row = -1;
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.case-row")); }
  function mark(i) {
    var list = rows();
    if (!list.length) return;
    row = Math.max(0, Math.min(i, list.length - 1));
    list.forEach(function (r, k) { r.classList.toggle("current", k === row); });
    list[row].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
    var search = document.getElementById("search");
    var reply = document.getElementById("reply-text");
    if (e.key === "/" && search) { e.preventDefault(); search.focus(); }
    else if (e.key === "j") mark(row + 1);
    else if (e.key === "k") mark(row - 1);
    else if (e.key === "Enter" && row >= 0) {
      var link = rows()[row] && rows()[row].querySelector("a.case-title");
      if (link) link.click();
    } else if (e.key === "a") {
      var ack = document.querySelector("button[data-action=acknowledge]");
      if (ack) ack.click();
    } else if (e.key === "r" && reply) { e.preventDefault(); reply.focus(); }
  });
})();
