// The admin page's issues panel: what needs the admin, each with what to do. Fed by the
// teamAccessChanged subscription and read again every 10 seconds.
window.teamaccessIssues = (function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  var LABEL = { CRITICAL: 'Critical', WARNING: 'Warning' };
  function show(issues) {
    $('issues').hidden = issues.length === 0;
    $('issue-list').innerHTML = issues.map(function (i) {
      var since = i.since ? ' <span class="detail">(since ' + esc(new Date(i.since).toLocaleString()) + ')</span>' : '';
      return '<li class="' + esc(i.severity) + '" data-kind="' + esc(i.kind) + '"><span class="sev">' + esc(LABEL[i.severity] || i.severity) + ':</span>' +
        esc(i.message) + since + '<span class="action">' + esc(i.action) + '</span></li>';
    }).join('');
  }
  var timer = null;
  function poll(gql) {
    clearInterval(timer);
    timer = setInterval(function () {
      gql('{ teamAccess { issues { kind severity message action since mailbox { displayName } } } }')
        .then(function (d) { show(d.teamAccess.issues); })
        .catch(function () { /* the status line reports a lost session */ });
    }, 10000);
  }
  return { show: show, poll: poll };
}());
