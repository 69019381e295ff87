package deltasync_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/graphsim"
	"github.com/teamaccess/teamaccess/m365"
	"github.com/teamaccess/teamaccess/store"
	"github.com/teamaccess/teamaccess/testenv"
)

const appID = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"

// env is the real stack a syncer runs on: graphsim, the m365 client, the embedded store.
type env struct {
	sim         *graphsim.Sim
	st          *store.Store
	mc          *m365.Client
	org, tenant string
	alice       string
	now         time.Time
}

func newEnv(t testing.TB, opts graphsim.Options) *env {
	t.Helper()
	opts.Apps = []graphsim.App{{ID: appID, Secret: "s", Name: "teamaccess",
		Permissions: []string{"Calendars.Read", "User.Read.All", "Mail.Read", "Contacts.Read"}}}
	sim := testenv.Sim(t, opts)
	cl, _ := m365.CustomCloud(sim.AuthorityURL(), sim.GraphURL())
	mc, err := m365.New(m365.Config{ClientID: appID, ClientSecret: "s", Cloud: cl, RootCAs: sim.CertPool()})
	require.NoError(t, err)
	e := &env{sim: sim, st: testenv.Store(t), mc: mc, org: "org_sync", now: time.Now().UTC()}
	e.tenant = sim.AddTenant(graphsim.TenantSpec{Name: "Contoso", Domain: "contoso.onmicrosoft.com"})
	e.alice, _ = sim.AddUser(e.tenant, graphsim.UserSpec{DisplayName: "Alice Adams", UPN: "alice@contoso.com"})
	require.NoError(t, sim.GrantConsent(e.tenant, appID))
	require.NoError(t, e.st.Org(e.org).UpsertDirectoryUsers(t.Context(), e.tenant, []store.Mailbox{
		{UserID: e.alice, DisplayName: "Alice Adams", UserPrincipalName: "alice@contoso.com", Mail: "alice@contoso.com", AccountEnabled: true},
	}, e.now))
	return e
}

var customer = graphsim.EmailAddress{Name: "Carol Customer", Address: "carol@fabrikam.com"}

func (e *env) meeting(t *testing.T, subject string, start time.Time) string {
	id, err := e.sim.AddEvent(e.tenant, e.alice, graphsim.Event{Subject: subject, Start: graphsim.LocalTime(start), End: graphsim.LocalTime(start.Add(time.Hour)),
		Organizer: graphsim.Recipient{EmailAddress: graphsim.EmailAddress{Name: "Alice Adams", Address: "alice@contoso.com"}},
		Attendees: []graphsim.Attendee{{Type: "required", EmailAddress: customer, Status: graphsim.ResponseStatus{Response: "accepted"}}}})
	require.NoError(t, err)
	return id
}

// meetings is what the store has of the calendar, by Graph id.
func (e *env) meetings(t *testing.T) map[string]store.Activity {
	as, err := e.st.Org(e.org).LiveActivities(t.Context(), e.alice)
	require.NoError(t, err)
	out := map[string]store.Activity{}
	for _, a := range as {
		if a.Scope == "calendar" {
			out[a.GraphID] = a
		}
	}
	return out
}
