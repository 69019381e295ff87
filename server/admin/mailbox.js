// A mailbox's detail on the admin page, under its row: each sync round's health (last success,
// lag, items, the last error in Microsoft's words) and its change-notification subscriptions.
window.teamaccessMailbox = function (gql, tr, m, button) {
  'use strict';
  var next = tr.nextElementSibling;
  if (next && next.classList.contains('detail-row')) {
    next.remove();
    button.setAttribute('aria-expanded', 'false');
    return;
  }
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function when(iso) { return iso ? new Date(iso).toLocaleString() : 'never'; }
  function lag(s) { return s == null ? '' : s < 120 ? s + ' s' : s < 7200 ? Math.round(s / 60) + ' min' : Math.round(s / 3600) + ' h'; }
  var row = document.createElement('tr');
  row.className = 'detail-row';
  row.innerHTML = '<td colspan="5">Loading…</td>';
  tr.after(row);
  button.setAttribute('aria-expanded', 'true');
  gql('query($id: ID!, $f: ActivityFilter) { mailbox(id: $id) { syncHealth { scope lastSuccessAt lagSeconds lastError failures items resyncs inProgress backfill { complete capped itemsRead reachedBack estimatedDone } } ' +
    'changeNotifications { scope state expiresAt lastError failures } } activities(filter: $f, first: 1) { totalCount } }',
    { id: m.id, f: { mailboxIds: [m.id] } }).then(function (d) {
    var mb = d.mailbox;
    if (!mb) { row.firstChild.textContent = 'This mailbox is gone from the tenant.'; return; }
    var stored = '<p class="detail">' + esc(d.activities.totalCount) + ' activities stored from this mailbox.</p>';
    var sync = mb.syncHealth.map(function (h) {
      var b = h.backfill, back = b.complete ? (b.capped ? ' (backfill: the newest 5,000 messages)' : '') :
        ' (backfill: ' + b.itemsRead + ' read' + (b.reachedBack ? ', back to ' + when(b.reachedBack) : '') +
        (b.estimatedDone != null ? ', about ' + Math.round(100 * b.estimatedDone) + '%' : '') + ')';
      return '<tr><td>' + esc(h.scope + back) + '</td><td>' + esc(when(h.lastSuccessAt)) + (h.inProgress ? ' (a round is under way)' : '') +
        '</td><td>' + esc(lag(h.lagSeconds)) + '</td><td>' + esc(h.items) + '</td><td>' +
        (h.lastError ? esc(h.failures + ' failed in a row: ' + h.lastError) : 'ok') + '</td></tr>';
    }).join('') || '<tr><td colspan="5">Not synced yet.</td></tr>';
    var subs = mb.changeNotifications.map(function (n) {
      return '<tr><td>' + esc(n.scope) + '</td><td>' + esc(n.state) + '</td><td>' + esc(n.expiresAt ? 'until ' + when(n.expiresAt) : '') +
        '</td><td colspan="2">' + esc(n.lastError || '') + '</td></tr>';
    }).join('') || '<tr><td colspan="5">No change-notification subscriptions.</td></tr>';
    row.firstChild.innerHTML = stored + '<table><thead><tr><th scope="col">Sync</th><th scope="col">Last success</th><th scope="col">Lag</th>' +
      '<th scope="col">Items read</th><th scope="col">State</th></tr></thead><tbody>' + sync + '</tbody></table>' +
      '<table><thead><tr><th scope="col">Notifications</th><th scope="col">State</th><th scope="col">Expires</th><th scope="col" colspan="2">Last error</th></tr></thead><tbody>' +
      subs + '</tbody></table>';
  }).catch(function (err) { row.firstChild.textContent = err.message; });
};
