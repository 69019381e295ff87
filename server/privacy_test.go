package server

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/privacy"
)

// The privacy controls through the API as an admin uses them: the policy read and changed (bad
// input changes nothing), a dry run that counts what applying it backwards removes, then the
// purge; an erasure; retention; a person's own opt-out from a reader key, which cannot undo it.
func TestPrivacyControlsThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t, activities.HubOptions{Interval: 10 * time.Millisecond})
	e.res.Privacy = privacy.New(e.st, privacy.Options{Audit: e.dir})
	e.add(t, 4) // two emails, two meetings; each names buyer@fabrikam.com
	admin := func(query string, vars map[string]any) gqlResponse {
		t.Helper()
		_, out := postGraphQLVars(t, e.url, query, vars, "Authorization", "Bearer "+e.key)
		return out
	}

	out := admin(`{ capturePolicy { excludedAddresses excludedDomains excludeInternal bulkRecipientLimit metadataOnly optedOutMailboxes version }
		retentionPolicy { activityDays subjectDays previewDays contactDays } }`, nil)
	require.Empty(t, out.Errors)
	require.JSONEq(t, `{"capturePolicy":{"excludedAddresses":[],"excludedDomains":[],"excludeInternal":false,"bulkRecipientLimit":null,
		"metadataOnly":false,"optedOutMailboxes":[],"version":0},
		"retentionPolicy":{"activityDays":730,"subjectDays":730,"previewDays":15,"contactDays":null}}`, string(out.Data), "the defaults the README states")

	const update = `mutation($in: CapturePolicyInput!, $apply: Boolean) { updateCapturePolicy(input: $in, applyToStoredData: $apply) {
		policy { excludedDomains excludedSensitivities version } removed { activities contacts byRule { rule count } } } }`
	out = admin(update, map[string]any{"in": map[string]any{"excludedDomains": []string{"fabrikam.com"}, "excludedAddresses": []string{"not an address"}}})
	require.Equal(t, "BAD_USER_INPUT", out.Errors[0].Extensions["code"])
	require.Contains(t, out.Errors[0].Message, `"not an address" is not an email address`)
	out = admin(`{ capturePolicy { excludedDomains version } }`, nil)
	require.JSONEq(t, `{"capturePolicy":{"excludedDomains":[],"version":0}}`, string(out.Data), "bad input changed nothing")

	out = admin(`query($in: CapturePolicyInput!) { previewCapturePolicy(input: $in) { activities contacts byRule { rule count } } }`,
		map[string]any{"in": map[string]any{"excludedDomains": []string{"Fabrikam.com"}}})
	require.Empty(t, out.Errors)
	require.JSONEq(t, `{"previewCapturePolicy":{"activities":4,"contacts":1,"byRule":[{"rule":"domain","count":5}]}}`, string(out.Data))
	n, _, err := e.st.Org(e.org).CountNaming(t.Context(), "buyer@fabrikam.com", "")
	require.NoError(t, err)
	require.EqualValues(t, 4, n, "a preview changes nothing")

	out = admin(update, map[string]any{"in": map[string]any{"excludedDomains": []string{"fabrikam.com"}, "excludedSensitivities": []string{"PRIVATE"}}, "apply": true})
	require.Empty(t, out.Errors)
	require.JSONEq(t, `{"updateCapturePolicy":{"policy":{"excludedDomains":["fabrikam.com"],"excludedSensitivities":["PRIVATE"],"version":1},
		"removed":{"activities":4,"contacts":1,"byRule":[{"rule":"domain","count":5}]}}}`, string(out.Data))
	_, list := postGraphQL(t, e.url, e.key, `{ activities(first: 10) { totalCount } contacts(first: 10) { edges { node { id } } } }`)
	require.JSONEq(t, `{"activities":{"totalCount":0},"contacts":{"edges":[]}}`, string(list.Data), "applied backwards")
	out = admin(update, map[string]any{"in": map[string]any{"excludedDomains": []string{}}})
	require.JSONEq(t, `{"updateCapturePolicy":{"policy":{"excludedDomains":[],"excludedSensitivities":["PRIVATE"],"version":2},"removed":null}}`, string(out.Data),
		"an empty list clears it; what is left out stays")

	e.add(t, 2)
	out = admin(`mutation { eraseDataForEmailAddress(email: "buyer@fabrikam.com") { activities contacts mailbox confirmationRequired } }`, nil)
	require.Empty(t, out.Errors)
	require.JSONEq(t, `{"eraseDataForEmailAddress":{"activities":2,"contacts":0,"mailbox":null,"confirmationRequired":false}}`, string(out.Data))
	out = admin(`mutation { eraseDataForEmailAddress(email: "<script>") { activities } }`, nil)
	require.Equal(t, "BAD_USER_INPUT", out.Errors[0].Extensions["code"])

	out = admin(`mutation { updateRetentionPolicy(input: {activityDays: 365, previewDays: -1}) { activityDays } }`, nil)
	require.Equal(t, "BAD_USER_INPUT", out.Errors[0].Extensions["code"])
	out = admin(`mutation { updateRetentionPolicy(input: {activityDays: 365, previewDays: 7}) { activityDays subjectDays previewDays contactDays } }`, nil)
	require.JSONEq(t, `{"updateRetentionPolicy":{"activityDays":365,"subjectDays":null,"previewDays":7,"contactDays":null}}`, string(out.Data))

	_, reader, err := e.dir.CreateKey(t.Context(), auth.CommandLine(e.org), auth.NewKey{Name: "frontend", Role: auth.RoleReader})
	require.NoError(t, err)
	_, out = postGraphQL(t, e.url, reader, `mutation { requestCaptureOptOut(email: "Ann@Contoso.com") }`)
	require.Empty(t, out.Errors)
	require.JSONEq(t, `{"requestCaptureOptOut":true}`, string(out.Data))
	_, out = postGraphQL(t, e.url, reader, `mutation { requestCaptureOptOut(email: "nobody@contoso.com") }`)
	require.JSONEq(t, `{"requestCaptureOptOut":false}`, string(out.Data))
	_, out = postGraphQL(t, e.url, reader, `mutation { setMailboxCaptureOptOut(id: "mbx_u1", optedOut: false) { optedOutMailboxes } }`)
	require.Equal(t, "FORBIDDEN", out.Errors[0].Extensions["code"], "only an admin withdraws an opt-out")
	out = admin(`mutation { setMailboxMetadataOnly(id: "mbx_u2", metadataOnly: true) { optedOutMailboxes mailboxMetadataOnly { mailbox metadataOnly } } }`, nil)
	require.JSONEq(t, `{"setMailboxMetadataOnly":{"optedOutMailboxes":["mbx_u1"],"mailboxMetadataOnly":[{"mailbox":"mbx_u2","metadataOnly":true}]}}`, string(out.Data))
	out = admin(`mutation { setMailboxCaptureOptOut(id: "mbx_nope", optedOut: true) { version } }`, nil)
	require.Equal(t, "NOT_FOUND", out.Errors[0].Extensions["code"])

	var audit struct {
		AuditLog struct {
			Edges []struct {
				Node struct{ Action, Summary string }
			}
		}
	}
	out = admin(`{ auditLog(first: 20) { edges { node { action summary } } } }`, nil)
	require.NoError(t, json.Unmarshal(out.Data, &audit))
	var actions []string
	for _, ed := range audit.AuditLog.Edges {
		actions = append(actions, ed.Node.Action)
		require.NotContains(t, strings.ToLower(ed.Node.Summary), "buyer@", "no audit entry names an erased or excluded address")
	}
	for _, a := range []string{"capturePolicy.update", "capturePolicy.apply", "privacy.erase", "retentionPolicy.update", "capturePolicy.optOut", "capturePolicy.metadataOnly"} {
		require.Contains(t, actions, a)
	}
}
