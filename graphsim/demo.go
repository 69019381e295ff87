package graphsim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Demo describes the seeded demo tenant.
type Demo struct {
	TenantID string
	Domain   string
	// Users by role in the story: Sales (in the app's access policy group), Blocked (outside
	// it), NoMailbox (an unlicensed account), Guest and Disabled.
	Sales, Blocked   []string
	NoMailbox, Guest string
	Disabled         string
	// Shared is the sales team's shared mailbox, Room a meeting room's: their accounts are
	// disabled and unlicensed, as Exchange Online makes them; both are in the policy group.
	Shared, Room string
	Customers    []EmailAddress
}

var demoPeople = []struct{ name, title, dept string }{
	{"Adele Vance", "Account Executive", "Sales"}, {"Alex Wilber", "Account Executive", "Sales"},
	{"Diego Siciliani", "Sales Director", "Sales"}, {"Grady Archie", "Sales Engineer", "Sales"},
	{"Henrietta Mueller", "Account Manager", "Sales"}, {"Isaiah Langer", "Sales Development Rep", "Sales"},
	{"Johanna Lorenz", "Account Executive", "Sales"}, {"Joni Sherman", "Customer Success Manager", "Sales"},
	{"Lee Gu", "Regional VP Sales", "Sales"}, {"Lidia Holloway", "Account Executive", "Sales"},
	{"Lynne Robbins", "Solutions Consultant", "Sales"}, {"Megan Bowen", "Marketing Manager", "Marketing"},
	{"Miriam Graham", "Sales Operations", "Sales"}, {"Nestor Wilke", "Account Manager", "Sales"},
	{"Patti Fernandez", "Chief Revenue Officer", "Executive"}, {"Pradeep Gupta", "Account Executive", "Sales"},
	{"Irvin Sayers", "Sales Engineer", "Sales"}, {"Debra Berger", "Executive Assistant", "Executive"},
	{"Christie Cline", "Account Executive", "Sales"},
	// Outside the policy group: HR and legal mailboxes the admin kept out of reach.
	{"Cameron White", "HR Director", "HR"}, {"Enrico Cattaneo", "General Counsel", "Legal"},
	{"Raul Razo", "Payroll Specialist", "Finance"},
}

var demoCustomers = []EmailAddress{
	{Name: "Carol Martinez", Address: "carol.martinez@fabrikam.com"}, {Name: "Ben Walters", Address: "ben@northwindtraders.com"},
	{Name: "Aiko Tanaka", Address: "aiko.tanaka@tailspintoys.com"}, {Name: "Omar Haddad", Address: "omar@wingtiptoys.com"},
	{Name: "Sofia Rossi", Address: "s.rossi@adventure-works.com"}, {Name: "Liam O'Brien", Address: "liam@litwareinc.com"},
	{Name: "Priya Nair", Address: "priya.nair@proseware.com"}, {Name: "Jonas Berg", Address: "jonas.berg@woodgrovebank.com"},
}

var demoSubjects = []string{
	"Pricing proposal for Q%d", "Re: Renewal terms", "Follow-up from our call", "Security questionnaire",
	"Intro: %s <> Contoso", "Contract redlines v%d", "Quick question about the pilot", "Re: Implementation timeline",
	"Executive sponsor meeting", "Invoice and PO number",
}

var demoMeetings = []string{"Discovery call", "Product demo", "Pricing review", "Quarterly business review",
	"Technical deep dive", "Contract negotiation", "Kickoff", "Executive alignment"}

// SeedDemo creates the demo tenant, "Contoso": 27 users, most in sales and in the app's
// application access policy group, three outside it, one without a mailbox, a guest, a
// disabled account (still in the group), the sales team's shared mailbox and a meeting room,
// with a weekly series with an exception and a cancelled occurrence, and with a few hundred messages and meetings with external customers over the
// last 90 days and the next month. The policy is in effect at once. Consent is not granted:
// that is the demo's first step.
func (s *Sim) SeedDemo(appID string) (Demo, error) {
	d := Demo{Domain: "contoso.onmicrosoft.com", Customers: demoCustomers}
	d.TenantID = s.AddTenant(TenantSpec{Name: "Contoso", Domain: d.Domain})
	rng := rand.New(rand.NewPCG(42, 7))
	for i, p := range demoPeople {
		upn := strings.ToLower(strings.ReplaceAll(p.name, " ", ".")) + "@contoso.com"
		id, err := s.AddUser(d.TenantID, UserSpec{DisplayName: p.name, UPN: upn, JobTitle: p.title, Department: p.dept})
		if err != nil {
			return d, err
		}
		if i < 19 {
			d.Sales = append(d.Sales, id)
		} else {
			d.Blocked = append(d.Blocked, id)
		}
	}
	var err error
	if d.NoMailbox, err = s.AddUser(d.TenantID, UserSpec{DisplayName: "Conference Room Kiosk", UPN: "kiosk@contoso.com", NoMailbox: true}); err != nil {
		return d, err
	}
	if d.Guest, err = s.AddUser(d.TenantID, UserSpec{DisplayName: "Partner Consultant", UPN: "consultant_partner.com#EXT#@contoso.onmicrosoft.com", Guest: true, NoMailbox: true}); err != nil {
		return d, err
	}
	if d.Disabled, err = s.AddUser(d.TenantID, UserSpec{DisplayName: "Former Employee", UPN: "former.employee@contoso.com", Disabled: true}); err != nil {
		return d, err
	}
	if d.Shared, err = s.AddUser(d.TenantID, UserSpec{DisplayName: "Contoso Sales Team", UPN: "sales@contoso.com", Department: "Sales", Purpose: "shared"}); err != nil {
		return d, err
	}
	if d.Room, err = s.AddUser(d.TenantID, UserSpec{DisplayName: "Conference Room Rainier", UPN: "rainier@contoso.com", Purpose: "room"}); err != nil {
		return d, err
	}
	// The former employee is still in the sales group: readable, though disabled; so are the
	// team's shared mailbox and the meeting room.
	if err := s.setAccessPolicy(d.TenantID, appID, append(append([]string{}, d.Sales...), d.Disabled, d.Shared, d.Room), 0); err != nil {
		return d, err
	}
	now := s.now()
	for i := range 6 { // the team mailbox hears from customers too
		if err := s.demoMail(d, d.Shared, now.Add(-time.Duration(rng.IntN(60*24))*time.Hour-time.Duration(i)*time.Minute), rng); err != nil {
			return d, err
		}
	}
	if err := s.demoSeries(d, d.Sales[0], now, rng); err != nil {
		return d, err
	}
	for _, u := range append(append([]string{}, d.Sales...), d.Blocked...) {
		for range 8 + rng.IntN(8) {
			if err := s.demoMail(d, u, now.Add(-time.Duration(rng.IntN(90*24))*time.Hour), rng); err != nil {
				return d, err
			}
		}
		for range 3 + rng.IntN(4) {
			if err := s.demoMeeting(d, u, now.Add(time.Duration(rng.IntN(120*24)-90*24)*time.Hour), rng); err != nil {
				return d, err
			}
		}
		c := demoCustomers[rng.IntN(len(demoCustomers))]
		company := strings.Split(strings.Split(c.Address, "@")[1], ".")[0]
		if _, err := s.AddContact(d.TenantID, u, Contact{DisplayName: c.Name, GivenName: strings.Fields(c.Name)[0],
			Surname: strings.Fields(c.Name)[len(strings.Fields(c.Name))-1], CompanyName: &company, EmailAddresses: []EmailAddress{c}}); err != nil {
			return d, err
		}
	}
	return d, nil
}

// demoMail adds a message between a user and a customer, inbound or outbound.
func (s *Sim) demoMail(d Demo, userID string, at time.Time, rng *rand.Rand) error {
	s.mu.Lock()
	_, u, err := s.userLocked(d.TenantID, userID)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	me := EmailAddress{Name: u.DisplayName, Address: u.UserPrincipalName}
	c := demoCustomers[rng.IntN(len(demoCustomers))]
	subject := demoSubjects[rng.IntN(len(demoSubjects))]
	if strings.Contains(subject, "%d") {
		subject = fmt.Sprintf(subject, 1+rng.IntN(4))
	} else if strings.Contains(subject, "%s") {
		subject = fmt.Sprintf(subject, strings.Split(c.Address, "@")[1])
	}
	m := Message{Subject: subject, ReceivedDateTime: at, HasAttachments: rng.IntN(5) == 0,
		Body: ItemBody{ContentType: "text", Content: "Hi " + strings.Fields(c.Name)[0] + ",\n\nFollowing up on " + strings.ToLower(subject) + ". Let me know what works.\n\nBest,\n" + u.DisplayName}}
	folder := "inbox"
	if rng.IntN(2) == 0 {
		folder = "sentitems"
		m.From = &Recipient{EmailAddress: me}
		m.ToRecipients = []Recipient{{EmailAddress: c}}
		m.IsRead = true
	} else {
		m.From = &Recipient{EmailAddress: c}
		m.ToRecipients = []Recipient{{EmailAddress: me}}
	}
	_, err = s.AddMessage(d.TenantID, userID, folder, m)
	return err
}

// demoParty is a demo user and a customer, for a meeting between them.
func (s *Sim) demoParty(d Demo, userID string, rng *rand.Rand) (*User, EmailAddress, error) {
	s.mu.Lock()
	_, u, err := s.userLocked(d.TenantID, userID)
	s.mu.Unlock()
	return u, demoCustomers[rng.IntN(len(demoCustomers))], err
}

// demoMeeting adds a meeting a user organises with a customer.
func (s *Sim) demoMeeting(d Demo, userID string, at time.Time, rng *rand.Rand) error {
	u, c, err := s.demoParty(d, userID, rng)
	if err != nil {
		return err
	}
	start := at.Truncate(30 * time.Minute)
	join := "https://teams.microsoft.com/l/meetup-join/" + randomID(24)
	_, err = s.AddEvent(d.TenantID, userID, Event{
		Subject: demoMeetings[rng.IntN(len(demoMeetings))] + " – " + strings.Split(c.Address, "@")[1],
		Start:   LocalTime(start), End: LocalTime(start.Add(time.Duration(30+30*rng.IntN(3)) * time.Minute)),
		IsOrganizer: true, IsOnlineMeeting: true, OnlineMeeting: &OnlineMeetingInfo{JoinURL: join},
		Organizer: Recipient{EmailAddress: EmailAddress{Name: u.DisplayName, Address: u.UserPrincipalName}},
		Attendees: []Attendee{{Type: "required", EmailAddress: c, Status: ResponseStatus{Response: []string{"accepted", "tentativelyAccepted", "none"}[rng.IntN(3)]}}},
	})
	return err
}

// demoSeries adds a weekly pipeline review a user organises with a customer: ten occurrences
// from next week, the third moved (an exception), the fifth cancelled.
func (s *Sim) demoSeries(d Demo, userID string, now time.Time, rng *rand.Rand) error {
	u, c, err := s.demoParty(d, userID, rng)
	if err != nil {
		return err
	}
	first := now.AddDate(0, 0, 7).Truncate(24 * time.Hour).Add(16 * time.Hour)
	_, occ, err := s.AddSeries(d.TenantID, userID, Event{
		Subject: "Weekly pipeline review – " + strings.Split(c.Address, "@")[1], Start: LocalTime(first), End: LocalTime(first.Add(30 * time.Minute)),
		IsOrganizer: true, Organizer: Recipient{EmailAddress: EmailAddress{Name: u.DisplayName, Address: u.UserPrincipalName}},
		Attendees: []Attendee{{Type: "required", EmailAddress: c, Status: ResponseStatus{Response: "accepted"}}},
	}, 10)
	if err != nil {
		return err
	}
	moved := first.AddDate(0, 0, 14).Add(time.Hour)
	if err := s.UpdateOccurrence(d.TenantID, userID, occ[2], func(e *Event) {
		e.Subject += " (moved)"
		e.Start, e.End = LocalTime(moved), LocalTime(moved.Add(30*time.Minute))
	}); err != nil {
		return err
	}
	return s.DeleteOccurrence(d.TenantID, userID, occ[4])
}

// RunDemoGenerator adds a new message or meeting to a random demo mailbox, the nth (from 0)
// pace(n) after the one before, until ctx ends, so that change notifications and delta syncs
// have something to carry.
func (s *Sim) RunDemoGenerator(ctx context.Context, d Demo, pace func(n int) time.Duration) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	users := append(append([]string{}, d.Sales...), d.Blocked...)
	t := time.NewTimer(pace(0))
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			t.Reset(pace(n))
			u := users[rng.IntN(len(users))]
			var err error
			if rng.IntN(4) == 0 {
				err = s.demoMeeting(d, u, s.now().Add(time.Duration(24+rng.IntN(14*24))*time.Hour), rng)
			} else {
				err = s.demoMail(d, u, s.now(), rng)
			}
			if err != nil {
				s.log.Warn("graphsim: demo generator", "err", err)
			}
		}
	}
}
