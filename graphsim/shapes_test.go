package graphsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The JSON shapes the simulator answers with, against the examples of Microsoft's documentation:
// every property the cited example shows must be present with the same JSON type (s string,
// b boolean, n number, o object, a array, z null; "s|z" either). The expectations are
// transcribed from the pages named, in the microsoft-graph-docs-contrib repository.
type shapeSpec map[string]string

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "s"
	case bool:
		return "b"
	case float64:
		return "n"
	case map[string]any:
		return "o"
	case []any:
		return "a"
	case nil:
		return "z"
	}
	return "?"
}

func checkShape(t *testing.T, page string, got map[string]any, want shapeSpec) {
	t.Helper()
	var problems []string
	for k, kinds := range want {
		v, ok := got[k]
		if !ok {
			problems = append(problems, "missing "+k)
			continue
		}
		kind := jsonKind(v)
		match := false
		for _, allowed := range splitKinds(kinds) {
			match = match || allowed == kind
		}
		if !match {
			problems = append(problems, fmt.Sprintf("%s is %s, the example has %s", k, kind, kinds))
		}
	}
	sort.Strings(problems)
	require.Empty(t, problems, "%s: %v", page, got)
}

func splitKinds(s string) []string {
	var out []string
	for i := 0; i < len(s); i += 2 {
		out = append(out, s[i:i+1])
	}
	return out
}

func TestShapesMatchTheDocumentation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	mid, _ := f.sim.AddMessage(f.tenant, f.alice, "inbox", msg("concert"))
	start := time.Now().Add(24 * time.Hour)
	ev := eventAt("review", start)
	ev.IsOnlineMeeting = true
	ev.OnlineMeeting = &OnlineMeetingInfo{JoinURL: "https://teams.microsoft.com/l/meetup-join/x"}
	eid, _ := f.sim.AddEvent(f.tenant, f.alice, ev)
	cid, _ := f.sim.AddContact(f.tenant, f.alice, Contact{DisplayName: "Pavel Bansky", GivenName: "Pavel", Surname: "Bansky",
		EmailAddresses: []EmailAddress{{Name: "Pavel Bansky", Address: "pavelb@fabrikam.onmicrosoft.com"}}})

	get := func(path string) map[string]any {
		resp, body := f.do(t, http.MethodGet, path, nil)
		require.Equal(t, 200, resp.StatusCode, "%s: %v", path, body)
		return body
	}

	// api-reference/v1.0/api/message-get.md, Example 1 response.
	checkShape(t, "message-get.md", get("/users/"+f.alice+"/messages/"+mid), shapeSpec{
		"@odata.context": "s", "@odata.etag": "s", "id": "s", "createdDateTime": "s", "lastModifiedDateTime": "s",
		"changeKey": "s", "categories": "a", "receivedDateTime": "s", "sentDateTime": "s", "hasAttachments": "b",
		"internetMessageId": "s", "subject": "s", "bodyPreview": "s", "importance": "s", "parentFolderId": "s",
		"conversationId": "s", "isDeliveryReceiptRequested": "b", "isReadReceiptRequested": "b", "isRead": "b",
		"isDraft": "b", "webLink": "s", "inferenceClassification": "s", "body": "o", "sender": "o", "from": "o",
		"toRecipients": "a", "ccRecipients": "a", "bccRecipients": "a", "replyTo": "a", "flag": "o",
	})
	m := get("/users/" + f.alice + "/messages/" + mid)
	checkShape(t, "message-get.md from", m["from"].(map[string]any)["emailAddress"].(map[string]any), shapeSpec{"name": "s", "address": "s"})
	checkShape(t, "message-get.md body", m["body"].(map[string]any), shapeSpec{"contentType": "s", "content": "s"})

	// api-reference/v1.0/api/user-get.md, Example 1 response: the default properties.
	u := get("/users/" + f.alice)
	checkShape(t, "user-get.md", u, shapeSpec{
		"@odata.context": "s", "businessPhones": "a", "displayName": "s", "givenName": "s", "jobTitle": "s|z",
		"mail": "s|z", "mobilePhone": "s|z", "officeLocation": "s|z", "preferredLanguage": "s|z", "surname": "s",
		"userPrincipalName": "s", "id": "s",
	})
	require.NotContains(t, u, "accountEnabled", "not a default property")

	// api-reference/v1.0/api/event-get.md, Example 1 response.
	e := get("/users/" + f.alice + "/events/" + eid)
	checkShape(t, "event-get.md", e, shapeSpec{
		"@odata.etag": "s", "id": "s", "createdDateTime": "s", "lastModifiedDateTime": "s", "changeKey": "s",
		"categories": "a", "originalStartTimeZone": "s", "originalEndTimeZone": "s", "iCalUId": "s",
		"isReminderOn": "b", "hasAttachments": "b", "subject": "s", "bodyPreview": "s", "importance": "s",
		"sensitivity": "s", "isAllDay": "b", "isCancelled": "b", "isOrganizer": "b", "responseRequested": "b",
		"seriesMasterId": "s|z", "showAs": "s", "type": "s", "webLink": "s", "onlineMeetingUrl": "s|z",
		"isOnlineMeeting": "b", "onlineMeetingProvider": "s", "isDraft": "b", "recurrence": "o|z",
		"responseStatus": "o", "body": "o", "start": "o", "end": "o", "location": "o", "locations": "a",
		"attendees": "a", "organizer": "o", "onlineMeeting": "o|z",
	})
	checkShape(t, "event-get.md start", e["start"].(map[string]any), shapeSpec{"dateTime": "s", "timeZone": "s"})
	checkShape(t, "event-get.md attendee", e["attendees"].([]any)[0].(map[string]any), shapeSpec{"type": "s", "status": "o", "emailAddress": "o"})

	// api-reference/v1.0/api/contact-get.md, response.
	checkShape(t, "contact-get.md", get("/users/"+f.alice+"/contacts/"+cid), shapeSpec{
		"@odata.etag": "s", "id": "s", "createdDateTime": "s", "lastModifiedDateTime": "s", "changeKey": "s",
		"categories": "a", "parentFolderId": "s", "fileAs": "s", "displayName": "s", "givenName": "s",
		"middleName": "s|z", "surname": "s", "title": "s|z", "imAddresses": "a", "jobTitle": "s|z",
		"companyName": "s|z", "department": "s|z", "officeLocation": "s|z", "mobilePhone": "s|z",
		"homePhones": "a", "businessPhones": "a", "personalNotes": "s", "emailAddresses": "a",
	})

	// api-reference/v1.0/api/message-delta.md, responses: a page has @odata.context, value, and
	// @odata.nextLink or @odata.deltaLink.
	page := get("/users/" + f.alice + "/mailFolders/inbox/messages/delta")
	checkShape(t, "message-delta.md", page, shapeSpec{"@odata.context": "s", "value": "a", "@odata.deltaLink": "s"})
	link, _ := url.Parse(page["@odata.deltaLink"].(string))
	require.NotEmpty(t, link.Query().Get("$deltatoken"))

	// api-reference/v1.0/api/user-delta.md: the same envelope for users.
	checkShape(t, "user-delta.md", get("/users/delta"), shapeSpec{"@odata.context": "s", "value": "a", "@odata.deltaLink": "s"})

	// concepts/errors.md, "Error resource type".
	_, errBody := f.do(t, http.MethodGet, "/users/"+f.joe+"/messages", nil)
	checkShape(t, "errors.md", errBody, shapeSpec{"error": "o"})
	checkShape(t, "errors.md error", errBody["error"].(map[string]any), shapeSpec{"code": "s", "message": "s", "innerError": "o"})
	checkShape(t, "errors.md innerError", errBody["error"].(map[string]any)["innerError"].(map[string]any),
		shapeSpec{"date": "s", "request-id": "s", "client-request-id": "s"})

	// docs/identity-platform/v2-oauth2-client-creds-grant-flow.md, "Successful response".
	_, tok := f.tokenResponse(t, f.tenant, testSecret)
	checkShape(t, "client-creds token", tok, shapeSpec{"token_type": "s", "expires_in": "n", "access_token": "s"})

	// api-reference/v1.0/api/subscription-post-subscriptions.md, response; and the change
	// notification of concepts/change-notifications-delivery-webhooks.md.
	hook := newWebhook(t)
	resp, sub := f.subscribe(t, "/users/"+f.alice+"/messages", hook.srv.URL, nil)
	require.Equal(t, 201, resp.StatusCode)
	checkShape(t, "subscription-post-subscriptions.md", sub, shapeSpec{
		"@odata.context": "s", "id": "s", "resource": "s", "applicationId": "s", "changeType": "s",
		"clientState": "s|z", "notificationUrl": "s", "lifecycleNotificationUrl": "s|z",
		"expirationDateTime": "s", "creatorId": "s", "latestSupportedTlsVersion": "s",
		"encryptionCertificate": "s|z", "encryptionCertificateId": "s|z", "includeResourceData": "b|z",
		"notificationUrlAppId": "s|z",
	})
	_, _ = f.sim.AddMessage(f.tenant, f.alice, "inbox", msg("notify me"))
	hook.waitFor(t, 1)
	raw, _ := json.Marshal(hook.got()[0])
	var n map[string]any
	require.NoError(t, json.Unmarshal(raw, &n))
	checkShape(t, "change-notifications-delivery-webhooks.md", n, shapeSpec{
		"subscriptionId": "s", "subscriptionExpirationDateTime": "s", "changeType": "s", "resource": "s",
		"resourceData": "o", "clientState": "s|z", "tenantId": "s",
	})
	checkShape(t, "change notification resourceData", n["resourceData"].(map[string]any),
		shapeSpec{"@odata.type": "s", "@odata.id": "s", "@odata.etag": "s", "id": "s"})
}
