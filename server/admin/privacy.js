// The admin page's privacy section: the capture policy, its preview, erasure, retention.
window.teamaccessPrivacy = function (gql, isAdmin) {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  if (!isAdmin) { return; } // the policy names addresses: admins only
  var FIELDS = 'excludedAddresses excludedDomains excludeInternal excludedSensitivities excludeAutomatedSenders ' +
    'bulkRecipientLimit excludePrivateMeetings excludeSinglePersonMeetings metadataOnly optedOutMailboxes version';
  function lines(id) { return $(id).value.split('\n').map(function (s) { return s.trim(); }).filter(Boolean); }
  function show(p) {
    $('pv-addresses').value = p.excludedAddresses.join('\n');
    $('pv-domains').value = p.excludedDomains.join('\n');
    $('pv-internal').checked = p.excludeInternal;
    $('pv-automated').checked = p.excludeAutomatedSenders;
    $('pv-private').checked = p.excludePrivateMeetings;
    $('pv-solo').checked = p.excludeSinglePersonMeetings;
    $('pv-sensitive').checked = p.excludedSensitivities.length > 0;
    $('pv-bulk').value = p.bulkRecipientLimit || 0;
    $('pv-metadata').checked = p.metadataOnly;
  }
  function input() {
    return {
      excludedAddresses: lines('pv-addresses'), excludedDomains: lines('pv-domains'),
      excludeInternal: $('pv-internal').checked, excludeAutomatedSenders: $('pv-automated').checked,
      excludePrivateMeetings: $('pv-private').checked, excludeSinglePersonMeetings: $('pv-solo').checked,
      excludedSensitivities: $('pv-sensitive').checked ? ['PERSONAL', 'PRIVATE', 'CONFIDENTIAL'] : [],
      bulkRecipientLimit: parseInt($('pv-bulk').value || '0', 10), metadataOnly: $('pv-metadata').checked
    };
  }
  function counted(n) { return n.activities + ' activities and ' + n.contacts + ' contacts'; }
  function fail(id) { return function (err) { $(id).textContent = err.message; }; }
  function save(apply) {
    gql('mutation($in: CapturePolicyInput!, $apply: Boolean) { updateCapturePolicy(input: $in, applyToStoredData: $apply) { policy { ' + FIELDS +
      ' } removed { activities contacts } } }', { in: input(), apply: apply }).then(function (d) {
      var u = d.updateCapturePolicy;
      show(u.policy);
      $('pv-result').textContent = 'Saved (version ' + u.policy.version + ').' + (u.removed ? ' Removed ' + counted(u.removed) + '.' : '');
    }).catch(fail('pv-result'));
  }
  gql('{ capturePolicy { ' + FIELDS + ' } retentionPolicy { activityDays subjectDays previewDays contactDays } }').then(function (d) {
    show(d.capturePolicy);
    var r = d.retentionPolicy;
    var days = function (n) { return n ? n + ' days' : 'kept'; };
    $('retention').textContent = 'Kept: activities ' + days(r.activityDays) + ', subjects ' + days(r.subjectDays) + ', previews ' +
      days(r.previewDays) + ', contacts ' + days(r.contactDays) + ' (updateRetentionPolicy changes it). ' +
      d.capturePolicy.optedOutMailboxes.length + ' mailboxes opted out.';
    $('privacy').hidden = false;
  }).catch(fail('pv-result'));
  $('pv-preview').addEventListener('click', function () {
    gql('query($in: CapturePolicyInput!) { previewCapturePolicy(input: $in) { activities contacts } }', { in: input() }).then(function (d) {
      $('pv-result').textContent = 'This policy would remove ' + counted(d.previewCapturePolicy) + ' already stored.';
    }).catch(fail('pv-result'));
  });
  $('privacy-form').addEventListener('submit', function (e) { e.preventDefault(); save(false); });
  $('pv-apply').addEventListener('click', function () { save(true); });
  var confirmFor = '';
  $('erase-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var email = $('erase-email').value.trim();
    gql('mutation($e: String!, $c: Boolean) { eraseDataForEmailAddress(email: $e, confirm: $c) { activities contacts mailbox confirmationRequired } }',
      { e: email, c: confirmFor === email }).then(function (d) {
      var r = d.eraseDataForEmailAddress;
      if (r.confirmationRequired) {
        confirmFor = email;
        $('erase-result').textContent = 'This would erase ' + counted(r) + '. Press Erase again to confirm.';
        return;
      }
      confirmFor = '';
      $('erase-result').textContent = 'Erased ' + counted(r) + (r.mailbox ? ', and the mailbox this address owns' : '') +
        '. Nothing from this address will be captured again.';
    }).catch(fail('erase-result'));
  });
};
