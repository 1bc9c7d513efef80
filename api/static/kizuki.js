// Keeps the SLA countdowns on a page current without reloading it.
(function () {
  function duration(seconds) {
    seconds = Math.abs(Math.floor(seconds));
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600),
        m = Math.floor(seconds % 3600 / 60);
    if (d) return d + "d " + h + "h";
    return h ? h + "h " + m + "m" : m + "m";
  }
  function tick() {
    document.querySelectorAll(".sla[data-due]").forEach(function (el) {
      var left = (Date.parse(el.dataset.due) - Date.now()) / 1000;
      var fmt = left < 0 ? el.dataset.fmtOver : el.dataset.fmtDue;
      el.textContent = fmt.replace("{t}", duration(left));
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 4 * 3600);
    });
  }
  setInterval(tick, 30000);
})();
