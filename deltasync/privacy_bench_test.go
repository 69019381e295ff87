package deltasync_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/auth"
	"github.com/teamaccess/teamaccess/deltasync"
	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/privacy"
	"github.com/teamaccess/teamaccess/store"
)

// BenchmarkBackfillCapturePolicy backfills one mailbox (600 messages, 100 meetings, 50
// contacts) with no policy and with every rule on (100 excluded addresses, 50 domains, an
// erased address), in turns in the same run: the policy is to cost at most 5% of the
// throughput (throughput-ratio at least 0.95).
//
//	go test ./deltasync -run '^$' -bench BackfillCapturePolicy -count 6
func BenchmarkBackfillCapturePolicy(b *testing.B) {
	e := newEnv(b, graphsim.Options{})
	ctx := b.Context()
	for i := range 600 {
		from := addr("", fmt.Sprintf("buyer%d@customer%d.example", i%40, i%7))
		switch i % 20 {
		case 0:
			from = addr("", "no-reply@vendor.example")
		case 1:
			from = addr("", "excluded3@customer2.example")
		}
		_, err := e.sim.AddMessage(e.tenant, e.alice, "inbox", graphsim.Message{Subject: fmt.Sprintf("Deal %d", i), From: &from,
			ToRecipients: []graphsim.Recipient{addr("Alice Adams", "alice@contoso.com"), addr("", "team@contoso.com")}, ReceivedDateTime: e.now.Add(-time.Duration(i) * time.Hour)})
		require.NoError(b, err)
	}
	for i := range 100 {
		start := e.now.Add(time.Duration(i-50) * 24 * time.Hour)
		_, err := e.sim.AddEvent(e.tenant, e.alice, graphsim.Event{Subject: fmt.Sprintf("Call %d", i), Start: graphsim.LocalTime(start), End: graphsim.LocalTime(start.Add(time.Hour)),
			Organizer: addr("Alice Adams", "alice@contoso.com"), Attendees: []graphsim.Attendee{{Type: "required", EmailAddress: graphsim.EmailAddress{Address: fmt.Sprintf("buyer%d@customer%d.example", i%40, i%7)}}}})
		require.NoError(b, err)
	}
	for i := range 50 {
		_, err := e.sim.AddContact(e.tenant, e.alice, graphsim.Contact{DisplayName: fmt.Sprintf("Buyer %d", i), EmailAddresses: []graphsim.EmailAddress{{Address: fmt.Sprintf("buyer%d@customer%d.example", i, i%7)}}})
		require.NoError(b, err)
	}
	users := []store.Mailbox{{UserID: e.alice, DisplayName: "Alice Adams", UserPrincipalName: "alice@contoso.com", Mail: "alice@contoso.com", AccountEnabled: true}}
	var excluded []string
	for i := range 100 {
		excluded = append(excluded, fmt.Sprintf("excluded%d@customer%d.example", i, i%7))
	}
	var domains []string
	for i := range 50 {
		domains = append(domains, fmt.Sprintf("competitor%d.example", i))
	}
	backfill := func(org string, policy bool) time.Duration {
		require.NoError(b, e.st.Org(org).UpsertDirectoryUsers(ctx, e.tenant, users, e.now))
		o := deltasync.Options{Now: func() time.Time { return e.now }}
		if policy {
			pol := privacy.New(e.st, privacy.Options{})
			_, err := pol.UpdateCapture(ctx, auth.CommandLine(org), privacy.CaptureChange{ExcludedAddresses: &excluded, ExcludedDomains: &domains,
				ExcludeInternal: ptr(true), ExcludedSensitivities: ptr([]string{"personal", "private", "confidential"}), ExcludeAutomated: ptr(true),
				BulkRecipients: ptr(20), ExcludePrivateMeetings: ptr(true), ExcludeSoloMeetings: ptr(true)})
			require.NoError(b, err)
			_, err = pol.Erase(ctx, auth.CommandLine(org), "someone@customer1.example", false)
			require.NoError(b, err)
			o.Policy = pol
		}
		start := time.Now()
		require.NoError(b, deltasync.New(e.st, e.mc, o).SyncMailbox(ctx, org, e.tenant, e.alice))
		took := time.Since(start)
		require.NoError(b, e.st.Org(org).DeleteCapturedData(ctx)) // the next backfill finds the store as this one did
		return took
	}
	// Both in each iteration, in turns, on a store of the same size: the baseline is measured
	// beside the policy, not before it.
	var none, full time.Duration
	n := 0
	for b.Loop() {
		n++
		if n%2 == 0 {
			none += backfill(fmt.Sprintf("org_none_%d", n), false)
			full += backfill(fmt.Sprintf("org_full_%d", n), true)
		} else {
			full += backfill(fmt.Sprintf("org_full_%d", n), true)
			none += backfill(fmt.Sprintf("org_none_%d", n), false)
		}
	}
	b.ReportMetric(750*float64(n)/none.Seconds(), "items/s-no-policy")
	b.ReportMetric(750*float64(n)/full.Seconds(), "items/s-policy")
	b.ReportMetric(none.Seconds()/full.Seconds(), "throughput-ratio")
}
