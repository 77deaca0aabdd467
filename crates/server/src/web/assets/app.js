// dayshift dashboard: live countdowns and the live build log. Pages work
// without this script; it only keeps them current. Written here, no
// dependencies.
"use strict";
(function () {
  // The server's clock when the page was rendered. Countdowns measure the
  // time elapsed since then with the monotonic performance clock, so the
  // browser's (possibly wrong) wall clock never matters.
  var serverNow = Number(document.body.dataset.serverNow || 0);
  var loadedAt = performance.now();
  function now() { return serverNow + (performance.now() - loadedAt); }

  // The same compact form as the server's format_duration: 1d6h, 2h5m, <1m.
  function compact(ms) {
    var secs = Math.floor(ms / 1000);
    if (secs < 60) return "<1m";
    var days = Math.floor(secs / 86400), hours = Math.floor((secs % 86400) / 3600);
    var minutes = secs > 86400 ? 0 : Math.floor((secs % 3600) / 60);
    return (days ? days + "d" : "") + (hours ? hours + "h" : "") + (minutes ? minutes + "m" : "");
  }
  function relative(ms) {
    var rounded = Math.abs(ms) < 30000 ? ms : Math.sign(ms) * Math.round(Math.abs(ms) / 60000) * 60000;
    if (rounded === 0) return "now";
    return rounded > 0 ? "in " + compact(rounded) : compact(-rounded) + " ago";
  }
  function tick() {
    var t = now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      el.textContent = relative(Number(el.dataset.deadline) - t);
    });
  }
  if (serverNow) { tick(); setInterval(tick, 1000); }

  // Live build log: long-polls the log of an unfinished build and appends
  // each line as text (never as markup).
  var log = document.querySelector("pre.log[data-live]");
  if (log) {
    var after = Number(log.dataset.after || 0);
    var follow = function () {
      fetch(log.dataset.live + "?wait=true&after=" + after, { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (answer) {
          answer.lines.forEach(function (line) {
            var span = document.createElement("span");
            span.className = line.stream;
            span.textContent = line.output + "\n";
            log.appendChild(span);
            after = line.id;
          });
          log.scrollTop = log.scrollHeight;
          if (answer.finished) {
            var status = document.getElementById("build-finished");
            if (status) status.hidden = false;
          } else {
            follow();
          }
        })
        .catch(function () { setTimeout(follow, 5000); });
    };
    follow();
  }

  // Zone pickers and selects marked to submit on change.
  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
})();
