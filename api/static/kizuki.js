// Keeps the SLA countdowns on a page current without reloading it.
(function () {
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
      var left = (Date.parse(el.dataset.due) - Date.now()) / 1000;
      var fmt = left < 0 ? el.dataset.fmtOver : el.dataset.fmtDue;
      el.textContent = fmt.replace("{t}", duration(left, el.dataset.units));
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 4 * 3600);
    });
  }
  setInterval(tick, 30000);
})();
