// The operator console's one script (docs/console.md): progressive enhancement only, every page
// works without it. It refreshes the regions marked data-refresh every 5 seconds while the page is
// visible, and asks before sending a form marked data-confirm.
(function () {
  'use strict';
  var INTERVAL_MS = 5000;

  document.addEventListener('submit', function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) event.preventDefault();
  });

  if (!document.querySelector('[data-refresh]')) return;

  function replaceRegions(fresh) {
    var regions = document.querySelectorAll('[data-refresh]');
    for (var i = 0; i < regions.length; i++) {
      var region = regions[i];
      // Never pull content from under the keyboard: a region holding the focus waits for the next round.
      if (!region.id || region.contains(document.activeElement)) continue;
      var next = fresh.getElementById(region.id);
      if (next) region.replaceWith(document.importNode(next, true));
    }
  }

  function schedule() {
    // A fresh page may have nothing left to refresh (a delivery that finished): then the refreshing stops.
    if (document.querySelector('[data-refresh]')) window.setTimeout(refresh, INTERVAL_MS);
  }

  function refresh() {
    if (document.hidden) return schedule();
    // The header marks a background refresh: it does not keep the session alive, and gets 401 once it ended.
    fetch(window.location.href, { headers: { 'X-Console-Refresh': '1' }, credentials: 'same-origin', cache: 'no-store', redirect: 'manual' })
      .then(function (response) {
        if (response.status === 401 || response.type === 'opaqueredirect') {
          window.location.reload();
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (text) {
        if (text !== null) replaceRegions(new DOMParser().parseFromString(text, 'text/html'));
      })
      .catch(function () {
        // Offline or restarting: try again at the next round.
      })
      .then(schedule);
  }

  schedule();
})();
