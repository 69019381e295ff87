package subscriptions

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/store"
)

// graphExample is the change notification collection of
// concepts/change-notifications-delivery-webhooks.md ("Change notification example"), for a
// message, with the fields Graph sends.
const graphExample = `{
  "value": [
    {
      "id": "lsgTZMr9KwAAA",
      "subscriptionId": "{subscription_guid}",
      "subscriptionExpirationDateTime": "2016-03-19T22:11:09.952Z",
      "clientState": "secretClientValue",
      "changeType": "created",
      "resource": "users/{user_guid}@{tenant_guid}/messages/{long_id_string}",
      "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
      "resourceData": {
        "@odata.type": "#Microsoft.Graph.Message",
        "@odata.id": "Users/{user_guid}@{tenant_guid}/Messages/{long_id_string}",
        "@odata.etag": "W/\"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf\"",
        "id": "{long_id_string}"
      }
    }
  ]
}`

// lifecycleExample is concepts/change-notifications-lifecycle-events.md's reauthorizationRequired.
const lifecycleExample = `{"value": [{"subscriptionId": "e1d3f4c9-5b55-4e4a-9cde-2b2bb9c1e0c1",
  "subscriptionExpirationDateTime": "2019-09-18T00:00:00.0000000Z", "tenantId": "<tenant_guid>",
  "clientState": "<secretClientState>", "lifecycleEvent": "reauthorizationRequired"}]}`

func TestParseReadsGraphsDocumentedPayloads(t *testing.T) {
	t.Parallel()
	ns, err := Parse([]byte(graphExample))
	require.NoError(t, err)
	require.Len(t, ns, 1)
	n := ns[0]
	require.Equal(t, "{subscription_guid}", n.SubscriptionID)
	require.Equal(t, "secretClientValue", *n.ClientState)
	require.Equal(t, "created", n.ChangeType)
	require.Equal(t, "{long_id_string}", n.ItemID)
	require.Equal(t, `W/"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf"`, n.ETag)
	require.Equal(t, time.Date(2016, 3, 19, 22, 11, 9, 952e6, time.UTC), n.ExpiresAt)

	ns, err = Parse([]byte(lifecycleExample))
	require.NoError(t, err)
	require.Equal(t, "reauthorizationRequired", ns[0].LifecycleEvent)
	require.Empty(t, ns[0].ChangeType)
}

// Lifecycle notifications as implementers have seen them (microsoft-graph-docs-contrib issue 84):
// organizationId instead of tenantId, and an empty resource. Both are read; a lifecycle event of
// a kind this version does not know is read and flagged, not refused (a 4xx would have Graph
// retry the batch, then drop it).
func TestParseReadsObservedLifecycleVariants(t *testing.T) {
	t.Parallel()
	ns, err := Parse([]byte(`{"value":[{"subscriptionId":"e1d3f4c9","subscriptionExpirationDateTime":"2019-09-18T00:00:00.0000000Z",
  "organizationId":"84bd8158-6d4d-4958-8b9f-9d6445542f95","resource":"","clientState":"c","lifecycleEvent":"subscriptionRemoved"}]}`))
	require.NoError(t, err)
	require.Equal(t, "84bd8158-6d4d-4958-8b9f-9d6445542f95", ns[0].TenantID)
	require.Equal(t, "subscriptionRemoved", ns[0].LifecycleEvent)
	require.False(t, ns[0].UnknownEvent)
	require.Empty(t, ns[0].Resource)

	ns, err = Parse([]byte(`{"value":[{"subscriptionId":"s","clientState":"c","lifecycleEvent":"somethingNew"}]}`))
	require.NoError(t, err)
	require.True(t, ns[0].UnknownEvent)
	require.Equal(t, "somethingNew", ns[0].LifecycleEvent)
}

func TestParseRefusesMalformedBodies(t *testing.T) {
	t.Parallel()
	item := func(fields string) string {
		return `{"value":[{"subscriptionId":"s","clientState":"c",` + fields + `}]}`
	}
	for name, body := range map[string]string{
		"empty":                 ``,
		"not JSON":              `hello`,
		"array":                 `[]`,
		"no value":              `{}`,
		"value null":            `{"value":null}`,
		"empty value":           `{"value":[]}`,
		"value not array":       `{"value":{}}`,
		"item not object":       `{"value":[1]}`,
		"trailing data":         item(`"changeType":"created"`) + `x`,
		"two objects":           item(`"changeType":"created"`) + item(`"changeType":"created"`),
		"no subscription":       `{"value":[{"changeType":"created"}]}`,
		"numeric subscription":  `{"value":[{"subscriptionId":7,"changeType":"created"}]}`,
		"empty subscription":    `{"value":[{"subscriptionId":"","changeType":"created"}]}`,
		"unknown change":        item(`"changeType":"exploded"`),
		"neither kind":          item(`"resource":"x"`),
		"both kinds":            item(`"changeType":"created","lifecycleEvent":"missed"`),
		"empty lifecycle":       item(`"lifecycleEvent":""`),
		"bad expiry":            item(`"changeType":"created","subscriptionExpirationDateTime":"tomorrow"`),
		"resourceData array":    item(`"changeType":"created","resourceData":[]`),
		"resourceData bad id":   item(`"changeType":"created","resourceData":{"id":{}}`),
		"long clientState":      `{"value":[{"subscriptionId":"s","clientState":"` + strings.Repeat("a", 129) + `","changeType":"created"}]}`,
		"long resource":         item(`"changeType":"created","resource":"` + strings.Repeat("r", 3000) + `"`),
		"not UTF-8":             "{\"value\":[{\"subscriptionId\":\"\xff\",\"changeType\":\"created\"}]}",
		"clientState is number": `{"value":[{"subscriptionId":"s","clientState":5,"changeType":"created"}]}`,
	} {
		_, err := Parse([]byte(body))
		require.ErrorIs(t, err, ErrMalformed, name)
	}
	// Fields Graph may add later are ignored, not refused.
	_, err := Parse([]byte(item(`"changeType":"updated","somethingNew":{"a":[1,2]}`)))
	require.NoError(t, err)
}

// recordingStore is a Store that only records inbox writes, for the fuzz test.
type recordingStore struct {
	Store
	writes int
	sub    store.GraphSubscription
}

func (r *recordingStore) InsertInbox(_ context.Context, es []store.InboxEntry) error {
	r.writes += len(es)
	return nil
}

func (r *recordingStore) GraphSubscriptionsBySubscriptionID(context.Context, []string) ([]store.GraphSubscription, error) {
	return []store.GraphSubscription{r.sub}, nil
}

func (r *recordingStore) PendingGraphSubscriptionByHash(context.Context, []byte) (store.GraphSubscription, bool, error) {
	return store.GraphSubscription{}, false, nil
}

// FuzzAccept feeds arbitrary bodies to intake: it never panics, a body Parse refuses is answered
// ErrMalformed with nothing written, and what is written is exactly the items whose
// subscription and clientState match.
func FuzzAccept(f *testing.F) {
	f.Add([]byte(graphExample))
	f.Add([]byte(lifecycleExample))
	f.Add([]byte(`{"value":[{"subscriptionId":"sub-1","clientState":"right","changeType":"deleted","resourceData":{"id":"x"}}]}`))
	f.Add([]byte(`{"value":[{"subscriptionId":"sub-1","clientState":"wrong","changeType":"created"},{"subscriptionId":"sub-1","clientState":"right","lifecycleEvent":"missed"}]}`))
	f.Add([]byte(`{"value":[]}`))
	f.Add([]byte(`{"value":[{"subscriptionId":"sub-1","clientState":"right","lifecycleEvent":"later","organizationId":"t"}]}`))
	f.Add([]byte(`{"value":[{"subscriptionId":"sub-1","clientState":null,"changeType":"updated"}]} `))
	f.Add([]byte(`{"value":[{"subscriptionId":"sub-1","changeType":"created","resourceData":null}]}{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rs := &recordingStore{sub: store.GraphSubscription{SubscriptionID: "sub-1", OrgID: "o", MailboxID: "m", Scope: "mail:inbox", ClientStateHash: HashClientState("right")}}
		s := New(rs, nil, nil, Options{BaseURL: "https://example.com"})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s.batch.run(ctx, 1)
		res, err := s.Accept(ctx, body)
		ns, perr := Parse(body)
		if perr != nil {
			require.ErrorIs(t, err, ErrMalformed)
			require.Zero(t, rs.writes, "nothing written for a malformed body")
			return
		}
		require.NoError(t, err)
		want := 0
		for _, n := range ns {
			if n.SubscriptionID == "sub-1" && n.ClientState != nil && *n.ClientState == "right" && !n.UnknownEvent {
				want++
			}
		}
		require.Equal(t, want, rs.writes)
		require.Equal(t, want, res.Accepted)
		require.Equal(t, len(ns)-want, res.Dropped)
		// Whatever Parse accepted re-encodes: its fields are valid strings.
		_, err = json.Marshal(ns)
		require.NoError(t, err)
	})
}

func TestBatcherGroupsConcurrentDeliveriesIntoOneInsert(t *testing.T) {
	t.Parallel()
	inserts := make(chan int, 100)
	release := make(chan struct{})
	b := newBatcher(func(_ context.Context, es []store.InboxEntry) error {
		<-release
		inserts <- len(es)
		return nil
	}, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.run(ctx, 1)
	errs := make(chan error, 50)
	for range 50 {
		go func() { errs <- b.add(ctx, make([]store.InboxEntry, 2)) }()
	}
	time.Sleep(100 * time.Millisecond) // the first insert holds; the others queue behind it
	close(release)
	for range 50 {
		require.NoError(t, <-errs)
	}
	total, n := 0, 0
	for total < 100 {
		total += <-inserts
		n++
	}
	require.Equal(t, 100, total)
	require.LessOrEqual(t, n, 3, "50 deliveries, one insert for the first and one or two for the rest")

	// A failed insert fails every delivery in it.
	bad := newBatcher(func(context.Context, []store.InboxEntry) error { return errors.New("down") }, 1000)
	bad.run(ctx, 1)
	require.Error(t, bad.add(ctx, make([]store.InboxEntry, 1)))
}

type scopes []string

func (s scopes) Scopes() []string { return s }
func (scopes) SyncScopes(context.Context, string, string, string, []string) error {
	return nil
}

// The sweep recognises this service's resources as Graph lists them, in any case, and nothing
// else.
func TestSweepRecognisesOurResources(t *testing.T) {
	t.Parallel()
	s := &Service{sync: scopes{"mail:inbox", "mail:sentitems", "calendar", "contacts"}}
	for res, want := range map[string][2]string{
		"/users/AbC-1/mailFolders('inbox')/messages": {"AbC-1", "mail:inbox"},
		"Users/AbC-1/MailFolders('Inbox')/Messages":  {"AbC-1", "mail:inbox"},
		"users/u2/mailFolders('sentitems')/messages": {"u2", "mail:sentitems"},
		"/users/u2/events":                           {"u2", "calendar"},
		"/users/u2/contacts":                         {"u2", "contacts"},
		"/users/u2/mailFolders('archive')/messages":  {},
		"/groups/g1/events":                          {},
		"/users/u2/events/extra":                     {},
		"us":                                         {},
	} {
		mailbox, scope, ok := s.parseResource(res)
		require.Equal(t, want[0] != "", ok, res)
		require.Equal(t, want, [2]string{mailbox, scope}, res)
	}
}

// A lifecycle event of an unknown kind with a good clientState is acknowledged (no error: the
// webhook answers 202), counted and not written to the inbox; the good items beside it are.
func TestAcceptAcknowledgesUnknownLifecycleEvents(t *testing.T) {
	t.Parallel()
	rs := &recordingStore{sub: store.GraphSubscription{SubscriptionID: "sub-1", OrgID: "o", MailboxID: "m", Scope: "mail:inbox", ClientStateHash: HashClientState("right")}}
	counted := map[string]int{}
	s := New(rs, nil, nil, Options{BaseURL: "https://example.com", Counted: func(r string, n int) { counted[r] += n }})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s.batch.run(ctx, 1)
	res, err := s.Accept(ctx, []byte(`{"value":[{"subscriptionId":"sub-1","clientState":"right","lifecycleEvent":"somethingNew"},
		{"subscriptionId":"sub-1","clientState":"right","lifecycleEvent":"missed","organizationId":"t","resource":""}]}`))
	require.NoError(t, err)
	require.Equal(t, Intake{Accepted: 1, Dropped: 1}, res)
	require.Equal(t, 1, rs.writes, "only the known event reaches the inbox")
	require.Equal(t, 1, counted[ResultUnknownEvent])
}
