// The Team Access settings page: talks to /graphql with the admin's API key, kept in this tab's
// sessionStorage only, and follows teamAccessChanged over a graphql-transport-ws websocket, so
// the status changes as soon as the Microsoft 365 administrator consents.
(function () {
  'use strict';
  var KEY = 'teamaccess.apiKey';
  var $ = function (id) { return document.getElementById(id); };
  var FIELDS = 'status tenantId consentedAt requiredPermissions grantedPermissions missingPermissions ' +
    'extraPermissions lastVerifiedAt lastError { code message at } applicationId tenantDomain' +
    ' issues { kind severity message action since mailbox { displayName } }';
  var PERMISSIONS = {
    'Calendars.Read': 'Read calendars in all mailboxes',
    'User.Read.All': "Read all users' full profiles",
    'Mail.Read': 'Read mail in all mailboxes',
    'Contacts.Read': 'Read contacts in all mailboxes'
  };
  var socket = null;
  var isAdmin = false;
  var MBX = 'id displayName userPrincipalName kind access accessReason capture captured';
  var KINDS = { USER: 'User', DISABLED_USER: 'User, sign-in blocked', SHARED_OR_RESOURCE: 'Shared, room or equipment mailbox',
    GUEST: 'Guest' };
  var LABELS = { ACCESSIBLE: 'Readable', BLOCKED_BY_POLICY: 'Blocked by policy', NO_MAILBOX: 'No mailbox',
    MISSING_PERMISSION: 'Missing permission', ERROR: 'Error', UNKNOWN: 'Not checked yet' };
  var mbxCursor = null;

  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  // The capture cell: the admin's switch while the mailbox is readable; otherwise never a ticked
  // box, since nothing is captured, and whether it will be once readable.
  function captureCell(m) {
    if (m.access !== 'ACCESSIBLE') {
      return '<td><label><input type="checkbox" class="capture" disabled> not captured</label>' +
        (m.capture ? '<div class="upn">captured once readable</div>' : '') + '</td>';
    }
    return '<td><label><input type="checkbox" class="capture"' + (m.capture ? ' checked' : '') + (isAdmin ? '' : ' disabled') +
      '> ' + (m.captured ? 'captured' : 'not captured') + '</label></td>';
  }

  function mailboxRow(m) {
    var tr = document.createElement('tr');
    tr.dataset.id = m.id;
    tr.innerHTML = '<td>' + esc(m.displayName) + '<div class="upn">' + esc(m.userPrincipalName) + '</div>' +
      '<div class="upn kind">' + esc(KINDS[m.kind] || m.kind) + '</div></td>' +
      '<td><span class="badge ' + esc(m.access) + '">' + esc(LABELS[m.access] || m.access) + '</span></td>' +
      '<td>' + (m.access === 'ACCESSIBLE' ? '' : esc(m.accessReason)) + '</td>' + captureCell(m) +
      '<td><button class="secondary-neutral recheck"' + (isAdmin ? '' : ' disabled') + ' aria-label="Recheck ' + esc(m.displayName) + '">Recheck</button>' +
      ' <button class="secondary-neutral details" aria-expanded="false" aria-label="Details of ' + esc(m.displayName) + '">Details</button></td>';
    tr.querySelector('.capture').addEventListener('change', function (e) {
      gql('mutation($id: ID!, $on: Boolean!) { setMailboxCapture(id: $id, enabled: $on) { ' + MBX + ' } }', { id: m.id, on: e.target.checked })
        .then(function (d) { updateRow(d.setMailboxCapture); })
        .catch(function (err) { $('summary').textContent = err.message; });
    });
    tr.querySelector('.details').addEventListener('click', function (e) { window.teamaccessMailbox(gql, tr, m, e.target); });
    tr.querySelector('.recheck').addEventListener('click', function () {
      gql('mutation($id: ID!) { recheckMailboxAccess(ids: [$id]) { ' + MBX + ' } }', { id: m.id })
        .then(function (d) { updateRow(d.recheckMailboxAccess[0]); loadSummary(); })
        .catch(function (err) { $('summary').textContent = err.message; });
    });
    return tr;
  }

  var reloadTimer = null;
  function updateRow(m) {
    var old = document.querySelector('#mbx-rows tr[data-id="' + CSS.escape(m.id) + '"]');
    if (old) {
      if (old.nextElementSibling && old.nextElementSibling.classList.contains('detail-row')) { old.nextElementSibling.remove(); } // stale now
      old.replaceWith(mailboxRow(m));
      return;
    }
    // A mailbox not shown yet (discovery is filling the list): reload, once things settle.
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(function () { loadMailboxes(false); }, 300);
  }

  function filterVars() {
    var f = {};
    if ($('mbx-search').value.trim()) { f.search = $('mbx-search').value.trim(); }
    if ($('mbx-access').value) { f.access = [$('mbx-access').value]; }
    return f;
  }

  function loadMailboxes(more) {
    var vars = { filter: filterVars(), after: more ? mbxCursor : null };
    gql('query($filter: MailboxFilter, $after: String) { mailboxes(filter: $filter, first: 50, after: $after) { edges { cursor node { ' + MBX + ' } } pageInfo { hasNextPage endCursor } } }', vars)
      .then(function (d) {
        if (!more) { $('mbx-rows').innerHTML = ''; }
        d.mailboxes.edges.forEach(function (e) { $('mbx-rows').appendChild(mailboxRow(e.node)); });
        mbxCursor = d.mailboxes.pageInfo.endCursor;
        $('mbx-more').hidden = !d.mailboxes.pageInfo.hasNextPage;
      }).catch(function (err) { $('summary').textContent = err.message; });
  }

  var summaryTimer = null;
  // backfillLine says how far the captured mailboxes' backfill has come, while it runs.
  function backfillLine(b) {
    if (!b.resources || b.complete === b.resources && !b.capped) return '';
    var line = b.complete === b.resources ? ' \u00b7 backfill done' : ' \u00b7 backfill ' + b.complete + ' of ' + b.resources + ' done' +
      (b.estimatedDone != null ? ' (about ' + Math.round(100 * b.estimatedDone) + '%)' : '') + ', ' + b.itemsRead + ' items read';
    return line + (b.capped ? '; ' + b.capped + ' mail folder(s) held at the 5,000 newest messages Microsoft Graph returns' : '');
  }

  function loadSummary() {
    clearTimeout(summaryTimer);
    summaryTimer = setTimeout(function () {
      gql('{ teamAccess { tenantDomain totals { mailboxesCaptured activities contacts lastChangeAt } backfill { resources complete capped itemsRead estimatedDone } mailboxSummary { total accessible blockedByPolicy noMailbox missingPermission errors notChecked } changeNotifications { mode reason active failing pending } } }').then(function (d) {
        if (shown && d.teamAccess.tenantDomain !== shown.tenantDomain) { shown.tenantDomain = d.teamAccess.tenantDomain; render(shown); } // discovery named it
        var tt = d.teamAccess.totals;
        $('totals').textContent = tt.mailboxesCaptured + ' mailboxes captured \u00b7 ' + tt.activities + ' activities and ' + tt.contacts +
          ' contacts stored \u00b7 last change received ' + (tt.lastChangeAt ? when(tt.lastChangeAt) : 'none yet') + backfillLine(d.teamAccess.backfill);
        var s = d.teamAccess.mailboxSummary;
        $('summary').textContent = s.total + ' users: ' + s.accessible + ' readable, ' + s.blockedByPolicy +
          ' blocked by an application access policy, ' + s.noMailbox + ' without a mailbox, ' +
          (s.missingPermission ? s.missingPermission + ' without a granted permission, ' : '') + s.errors + ' with errors' +
          (s.notChecked ? ', ' + s.notChecked + ' not checked yet.' : '.');
        var n = d.teamAccess.changeNotifications;
        $('live').textContent = n.mode === 'WEBHOOKS'
          ? 'Live updates: Microsoft Graph change notifications, ' + n.active + ' subscriptions active' +
            (n.pending ? ', ' + n.pending + ' being created' : '') + (n.failing ? ', ' + n.failing + ' failing (retried)' : '') + '.'
          : 'Live updates are off: ' + n.reason;
      });
      summaryTimer = setTimeout(loadSummary, 15000); // subscriptions come and go without a mailbox event
    }, 200);
  }

  function gql(query, variables) {
    return fetch('/graphql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Authorization': 'Bearer ' + sessionStorage.getItem(KEY) },
      body: JSON.stringify({ query: query, variables: variables || {} })
    }).then(function (r) {
      return r.json().then(function (body) {
        if (r.status === 401) { signOut(body.errors && body.errors[0] && body.errors[0].message); throw new Error('unauthenticated'); }
        if (body.errors && body.errors.length) { throw new Error(body.errors[0].message); }
        return body.data;
      });
    });
  }

  function signOut(problem) {
    clearTimeout(summaryTimer);
    sessionStorage.removeItem(KEY);
    if (socket) { socket.close(); socket = null; }
    $('settings').hidden = true;
    $('login').hidden = false;
    $('login-problem').textContent = problem || '';
    $('api-key').focus();
  }

  function when(iso) { return iso ? new Date(iso).toLocaleString() : ''; }

  var shown = null; // the Team Access last drawn
  function render(ta) {
    shown = ta;
    if (window.teamaccessIssues) { window.teamaccessIssues.show(ta.issues || []); }
    var status = $('status'), detail = $('status-detail');
    status.className = 'status';
    detail.textContent = '';
    switch (ta.status) {
      case 'ACTIVE':
        status.textContent = '\u2714 Team access to Office 365 is active.';
        status.classList.add('ok');
        detail.textContent = 'Tenant ' + (ta.tenantDomain ? ta.tenantDomain + ' (' + ta.tenantId + ')' : ta.tenantId) + ', authorized ' + when(ta.consentedAt) + '; last checked ' + when(ta.lastVerifiedAt) + '.';
        break;
      case 'DEGRADED':
        status.textContent = 'Team access to Office 365 is active, but some permissions are missing: ' + ta.missingPermissions.join(', ') + '.';
        status.classList.add('warn');
        detail.textContent = 'Ask the Microsoft 365 administrator to grant them, then authorize again.';
        break;
      case 'PENDING_CONSENT':
        status.textContent = 'Waiting for the Microsoft 365 administrator to authorize Team Access.';
        status.classList.add('warn');
        break;
      case 'REVOKED':
        status.textContent = 'Team access to Office 365 was revoked in Microsoft 365.';
        status.classList.add('bad');
        detail.textContent = (ta.lastError ? ta.lastError.message + ' ' : '') + 'Authorize again to restore it; nothing stored was lost.';
        break;
      case 'ERROR':
        status.textContent = 'Team access to Office 365 has a problem.';
        status.classList.add('bad');
        detail.textContent = ta.lastError ? ta.lastError.message : '';
        break;
      default:
        status.textContent = 'Team access to Office 365 is not configured.';
        if (ta.lastError) { detail.textContent = ta.lastError.message; }
    }
    if (ta.extraPermissions && ta.extraPermissions.length) {
      detail.textContent += ' Least-privilege warning: the app was also granted ' + ta.extraPermissions.join(', ') + ', which teamaccess does not need.';
    }
    var connected = ta.status === 'ACTIVE' || ta.status === 'DEGRADED';
    var showCoverage = !!ta.tenantId;
    if (showCoverage && $('coverage').hidden) { loadMailboxes(false); }
    $('coverage').hidden = !showCoverage;
    if (showCoverage) { loadSummary(); }
    $('authorize').textContent = connected ? 'Authorize again' : 'Authorize Team Access';
    $('disconnect').hidden = !(connected || ta.status === 'REVOKED' || ta.status === 'ERROR');
    if (connected) { $('link-box').hidden = true; }

    var rows = '';
    ta.requiredPermissions.forEach(function (p) {
      var granted = ta.grantedPermissions.indexOf(p) >= 0;
      rows += '<tr><td>' + p + '</td><td>' + PERMISSIONS[p] + '</td><td>Application</td><td>' +
        (ta.tenantId ? (granted ? '\u2714 yes' : '\u2718 missing') : '') + '</td></tr>';
    });
    $('perms').innerHTML = rows;
    $('policy-cmd').textContent = 'New-ApplicationAccessPolicy -AppId ' + ta.applicationId +
      ' -PolicyScopeGroupId sales-team@contoso.com -AccessRight RestrictAccess ' +
      '-Description "Restrict teamaccess to members of sales-team"';
    $('test-cmd').textContent = 'Test-ApplicationAccessPolicy -Identity user1@contoso.com -AppId ' + ta.applicationId;
  }

  // subscribe follows teamAccessChanged with the graphql-transport-ws protocol, reconnecting
  // after a pause if the connection drops.
  function subscribe(delay) {
    var ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws');
    socket = ws;
    ws.onopen = function () {
      ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: 'Bearer ' + sessionStorage.getItem(KEY) } }));
    };
    ws.onmessage = function (ev) {
      var msg = JSON.parse(ev.data);
      if (msg.type === 'connection_ack') {
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { teamAccessChanged { ' + FIELDS + ' } }' } }));
        ws.send(JSON.stringify({ id: '2', type: 'subscribe', payload: { query: 'subscription { mailboxChanged { ' + MBX + ' } }' } }));
      } else if (msg.type === 'next' && msg.id === '2' && msg.payload.data) {
        updateRow(msg.payload.data.mailboxChanged);
        loadSummary();
      } else if (msg.type === 'next' && msg.payload.data) {
        render(msg.payload.data.teamAccessChanged);
      } else if (msg.type === 'ping') {
        ws.send(JSON.stringify({ type: 'pong' }));
      }
    };
    ws.onclose = function (ev) {
      if (socket !== ws) { return; }
      if (ev.code === 4403) { signOut('The API key was refused.'); return; }
      var next = Math.min((delay || 500) * 2, 30000);
      setTimeout(function () { if (socket === ws) { subscribe(next); } }, next);
    };
  }

  // The webhook endpoints, their health and their last attempts (admins only).
  function loadWebhooks() {
    if (!isAdmin) { return; }
    gql('{ webhookEndpoints { id url description status disabledReason lastSuccessAt failingSince attempts nextAttemptAt ' +
        'deliveries(first: 3) { edges { node { at status error attempt } } } } }').then(function (d) {
      var eps = d.webhookEndpoints;
      $('webhooks').hidden = eps.length === 0;
      $('hook-rows').innerHTML = eps.map(function (e) {
        var state = e.status === 'DISABLED' ? 'Disabled: ' + esc(e.disabledReason || '') :
          e.failingSince ? 'Failing since ' + esc(when(e.failingSince)) + ' (' + e.attempts + ' attempts; next ' + esc(when(e.nextAttemptAt)) + ')' :
          e.lastSuccessAt ? 'Delivering; last at ' + esc(when(e.lastSuccessAt)) : 'Waiting for the first change';
        var last = e.deliveries.edges.map(function (x) {
          var n = x.node;
          return esc(when(n.at)) + ': ' + (n.status ? 'HTTP ' + n.status : esc(n.error || 'no answer'));
        }).join('<br>') || 'none yet';
        return '<tr><td>' + esc(e.url) + (e.description ? '<br><span class="detail">' + esc(e.description) + '</span>' : '') + '</td>' +
          '<td>' + state + '</td><td class="hook-last">' + last + '</td>' +
          '<td><button class="secondary-neutral hook-test" data-id="' + esc(e.id) + '">Send test</button>' +
          '<span class="detail hook-result" role="status"></span></td></tr>';
      }).join('');
      document.querySelectorAll('.hook-test').forEach(function (b) {
        b.addEventListener('click', function () {
          var out = b.nextElementSibling;
          out.textContent = ' Sending…';
          gql('mutation($id: ID!) { sendTestWebhook(id: $id) { status error } }', { id: b.dataset.id }).then(function (r) {
            var t = r.sendTestWebhook;
            out.textContent = ' ' + (t.status ? 'Answered HTTP ' + t.status : 'No answer: ' + t.error);
          }).catch(function (err) { out.textContent = ' ' + err.message; });
        });
      });
    }).catch(function (err) { $("webhooks").hidden = false; $("hook-rows").innerHTML = "<tr><td colspan=4>" + esc(err.message) + "</td></tr>"; });
  }

  // API keys (admins only): created with the secret shown once, listed with their last use, revoked.
  function loadKeys() {
    if (!isAdmin) { return; }
    $('keys').hidden = false;
    gql('{ apiKeys { id name prefix role status expiresAt lastUsedAt } }').then(function (d) {
      $('key-rows').innerHTML = d.apiKeys.map(function (k) {
        var state = k.status === 'ACTIVE' ? (k.expiresAt ? 'Active until ' + esc(when(k.expiresAt)) : 'Active') : k.status === 'EXPIRED' ? 'Expired' : 'Revoked';
        return '<tr><td>' + esc(k.name) + '<br><code>' + esc(k.prefix) + '</code></td><td>' + esc(k.role) + '</td><td>' + state +
          '</td><td>' + (k.lastUsedAt ? esc(when(k.lastUsedAt)) : 'never') + '</td><td>' + (k.status === 'ACTIVE'
          ? '<button type="button" class="secondary-neutral key-revoke" data-id="' + esc(k.id) + '" aria-label="Revoke ' + esc(k.name) + '">Revoke</button>' : '') +
          '</td></tr>';
      }).join('');
      document.querySelectorAll('.key-revoke').forEach(function (b) {
        b.addEventListener('click', function () {
          if (!confirm('Revoke this key? Whatever uses it stops working at once.')) { return; }
          gql('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: b.dataset.id }).then(loadKeys)
            .catch(function (err) { $('key-problem').textContent = err.message; });
        });
      });
    }).catch(function (err) { $('key-problem').textContent = err.message; });
  }

  $('key-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var days = $('key-expiry').value;
    var vars = { name: $('key-name').value, role: $('key-role').value,
      expiresAt: days ? new Date(Date.now() + days * 86400000).toISOString() : null };
    gql('mutation($name: String!, $role: Role!, $expiresAt: DateTime) { createApiKey(name: $name, role: $role, expiresAt: $expiresAt) { secret } }', vars)
      .then(function (d) {
        $('key-secret').value = d.createApiKey.secret;
        $('key-secret-box').hidden = false;
        $('key-problem').textContent = '';
        $('key-name').value = '';
        loadKeys();
      }).catch(function (err) { $('key-problem').textContent = err.message; });
  });
  $('key-copy').addEventListener('click', function () {
    if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText($('key-secret').value); } else { $('key-secret').select(); document.execCommand('copy'); }
  });

  function start() {
    $('login').hidden = true;
    $('settings').hidden = false;
    gql('{ viewer { organization { name } role apiKey { name } } serverInfo { demoMode } teamAccess { ' + FIELDS + ' } }').then(function (d) {
      $('demo-banner').hidden = !d.serverInfo.demoMode;
      document.body.classList.toggle('demo', d.serverInfo.demoMode);
      $('who').textContent = d.viewer.organization.name + ' \u00b7 ' + d.viewer.apiKey.name + ' (' + d.viewer.role + ')';
      isAdmin = d.viewer.role === 'ADMIN';
      $('authorize').disabled = $('disconnect').disabled = $('recheck-all').disabled = !isAdmin;
      render(d.teamAccess);
      subscribe();
      loadWebhooks();
      loadKeys();
      if (window.teamaccessPrivacy) { window.teamaccessPrivacy(gql, isAdmin); }
      if (window.teamaccessIssues) { window.teamaccessIssues.poll(gql); }
      if (window.teamaccessAudit) { window.teamaccessAudit(gql, isAdmin); }
    }).catch(function (e) { if (e.message !== 'unauthenticated') { $('status').textContent = e.message; } });
  }

  $('login-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var key = $('api-key').value.trim();
    if (key.indexOf('tak_') !== 0) { $('login-problem').textContent = 'That is not a teamaccess API key.'; return; }
    sessionStorage.setItem(KEY, key);
    $('api-key').value = '';
    start();
  });

  $('authorize').addEventListener('click', function () {
    gql('mutation { createConsentLink(input: {}) { url expiresAt } }').then(function (d) {
      $('consent-url').value = d.createConsentLink.url;
      $('link-expires').textContent = when(d.createConsentLink.expiresAt);
      $('link-box').hidden = false;
      $('copied').textContent = '';
    }).catch(function (e) { $('status-detail').textContent = e.message; });
  });

  $('copy').addEventListener('click', function () {
    var url = $('consent-url').value;
    var done = function () { $('copied').textContent = 'Copied.'; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(url).then(done);
    } else {
      $('consent-url').select();
      document.execCommand('copy');
      done();
    }
  });

  $('disconnect').addEventListener('click', function () {
    if (!confirm('Disconnect Office 365? Syncs stop; stored activities are kept.')) { return; }
    gql('mutation { disconnectTeamAccess(input: {}) { ' + FIELDS + ' } }').then(function (d) {
      render(d.disconnectTeamAccess);
    }).catch(function (e) { $('status-detail').textContent = e.message; });
  });

  var searchTimer = null;
  $('mbx-search').addEventListener('input', function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () { loadMailboxes(false); }, 250);
  });
  $('mbx-access').addEventListener('change', function () { loadMailboxes(false); });
  $('mbx-more').addEventListener('click', function () { loadMailboxes(true); });
  $('recheck-all').addEventListener('click', function () {
    $('summary').textContent = 'Rechecking every mailbox…';
    gql('mutation { recheckMailboxAccess { id } }').then(function () { loadMailboxes(false); loadSummary(); })
      .catch(function (err) { $('summary').textContent = err.message; });
  });

  document.querySelectorAll('.tabs button').forEach(function (tab) {
    tab.addEventListener('click', function () {
      document.querySelectorAll('.tabs button').forEach(function (t) { t.setAttribute('aria-selected', String(t === tab)); });
      document.querySelectorAll('.panel').forEach(function (p) { p.hidden = p.dataset.panel !== tab.dataset.tab; });
    });
  });

  if (sessionStorage.getItem(KEY)) { start(); } else { signOut(); }
})();
