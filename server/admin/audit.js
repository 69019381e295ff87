// The admin page's audit log: who did what, newest first, filtered as one types.
window.teamaccessAudit = function (gql, isAdmin) {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  if (!isAdmin) { return; }
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  var entries = [], cursor = null;
  function draw() {
    var f = $('audit-filter').value.trim().toLowerCase();
    $('audit-rows').innerHTML = entries.filter(function (e) {
      return !f || (e.action + ' ' + e.actorName + ' ' + e.summary).toLowerCase().indexOf(f) >= 0;
    }).map(function (e) {
      return '<tr><td>' + esc(new Date(e.at).toLocaleString()) + '</td><td>' + esc(e.actorName) + '</td><td><code>' + esc(e.action) +
        '</code></td><td>' + esc(e.summary) + '</td></tr>';
    }).join('') || '<tr><td colspan="4">No entry matches.</td></tr>';
  }
  function load(more) {
    gql('query($after: String) { auditLog(first: 50, after: $after) { edges { node { at action actorName summary } } pageInfo { hasNextPage endCursor } } }',
      { after: more ? cursor : null }).then(function (d) {
      var page = d.auditLog.edges.map(function (e) { return e.node; });
      entries = more ? entries.concat(page) : page;
      cursor = d.auditLog.pageInfo.endCursor;
      $('audit-more').hidden = !d.auditLog.pageInfo.hasNextPage;
      $('audit').hidden = false;
      draw();
    }).catch(function (err) { $('audit-rows').innerHTML = '<tr><td colspan="4">' + esc(err.message) + '</td></tr>'; });
  }
  $('audit-filter').addEventListener('input', draw);
  $('audit-more').addEventListener('click', function () { load(true); });
  $('audit-reload').addEventListener('click', function () { load(false); });
  load(false);
};
