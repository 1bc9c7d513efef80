// Small progressive enhancements; every page works without them.
(function () {
  // The server's clock (the demo replays simulated time): SLA countdowns follow it.
  var serverNow = Date.parse(document.documentElement.dataset.now || "");
  var offset = isNaN(serverNow) ? 0 : serverNow - Date.now();
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
    document.querySelectorAll(".sla[data-due]").forEach(function (el) {
      var left = (Date.parse(el.dataset.due) - now()) / 1000;
      var fmt = left < 0 ? el.dataset.fmtOver : el.dataset.fmtDue;
      el.textContent = fmt.replace("{t}", duration(left, el.dataset.units));
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 4 * 3600);
    });
  }
  setInterval(tick, 30000);

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
