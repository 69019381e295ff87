package graphsim

import (
	"fmt"
	"strings"
	"time"
)

// tenant is one Microsoft 365 organisation.
type tenant struct {
	id        string
	name      string
	domains   []string // the first is the default domain
	users     *collection
	mailboxes map[string]*mailbox // by user id
	consents  map[string]*consent // by app id
	policies  []policy            // application access policies, in the order made
}

// consent is an admin's grant of an app's application permissions in a tenant.
type consent struct {
	roles []string
	at    time.Time
}

// policy is an application access policy scoping an app to a group's mailboxes
// (concepts/auth-limit-mailbox-access.md). Allowed nil means the policy was removed.
type policy struct {
	appID       string
	allowed     map[string]bool // user ids in the policy's group; nil: no restriction
	effectiveAt time.Time
}

// mailbox is a user's Exchange Online mailbox.
type mailbox struct {
	folders        map[string]*MailFolder
	wellKnown      map[string]string      // well-known name -> folder id
	messages       map[string]*collection // by folder id
	messageFolder  map[string]string      // message id -> folder id
	events         *collection
	contactFolders map[string]*ContactFolder
	contacts       map[string]*collection // by contact folder id
	contactFolder  map[string]string      // contact id -> folder id
	defaultContact string                 // id of the default contacts folder
}

// wellKnownFolders are the mail folders every mailbox has
// (api-reference/v1.0/resources/mailfolder.md, "Well-known folder names").
var wellKnownFolders = []struct{ name, display string }{
	{"inbox", "Inbox"}, {"sentitems", "Sent Items"}, {"drafts", "Drafts"},
	{"deleteditems", "Deleted Items"}, {"archive", "Archive"}, {"junkemail", "Junk Email"},
}

func newMailbox() *mailbox {
	m := &mailbox{
		folders: map[string]*MailFolder{}, wellKnown: map[string]string{}, messages: map[string]*collection{},
		messageFolder: map[string]string{}, events: newCollection(),
		contactFolders: map[string]*ContactFolder{}, contacts: map[string]*collection{}, contactFolder: map[string]string{},
	}
	root := "AAMkAD" + randomID(24) + "AAA="
	for _, wk := range wellKnownFolders {
		id := "AAMkAD" + randomID(32) + "AAA="
		m.folders[id] = &MailFolder{ID: id, DisplayName: wk.display, ParentFolderID: root, wellKnown: wk.name}
		m.wellKnown[wk.name] = id
		m.messages[id] = newCollection()
	}
	cf := "AAMkAD" + randomID(32) + "AAA="
	m.contactFolders[cf] = &ContactFolder{ID: cf, DisplayName: "Contacts", ParentFolderID: root}
	m.contacts[cf] = newCollection()
	m.defaultContact = cf
	return m
}

// folderID resolves a folder id or well-known name.
func (m *mailbox) folderID(idOrName string) (string, bool) {
	if id, ok := m.wellKnown[strings.ToLower(idOrName)]; ok {
		return id, true
	}
	_, ok := m.folders[idOrName]
	return idOrName, ok
}

// TenantSpec describes a tenant to create.
type TenantSpec struct {
	ID     string // a GUID; generated if empty
	Name   string
	Domain string // e.g. contoso.onmicrosoft.com
}

// AddTenant creates a tenant and returns its id.
func (s *Sim) AddTenant(spec TenantSpec) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if spec.ID == "" {
		spec.ID = newGUID()
	}
	if spec.Domain == "" {
		spec.Domain = strings.ToLower(strings.ReplaceAll(spec.Name, " ", "")) + ".onmicrosoft.com"
	}
	t := &tenant{id: spec.ID, name: spec.Name, domains: []string{spec.Domain}, users: newCollection(),
		mailboxes: map[string]*mailbox{}, consents: map[string]*consent{}}
	s.tenants[t.id] = t
	s.domains[strings.ToLower(spec.Domain)] = t
	return t.id
}

// UserSpec describes a user to create.
type UserSpec struct {
	ID          string // a GUID; generated if empty
	DisplayName string
	// UPN is the user principal name; its domain becomes one of the tenant's domains.
	UPN        string
	JobTitle   string
	Department string
	Guest      bool
	Disabled   bool
	NoMailbox  bool // a user without an Exchange Online mailbox (no license, or on-premises)
	// Purpose makes the mailbox a shared, room or equipment mailbox (mailboxSettings'
	// userPurpose: shared, room, equipment). Exchange Online creates their accounts disabled
	// and without a license (exchange/recipients-in-exchange-online/manage-user-mailboxes and
	// shared-mailboxes: "the account is disabled by default"; shared mailboxes up to 50 GB need
	// no license), so that is how they appear in the directory.
	Purpose string
	// Unlicensed leaves a user mailbox without a license (its account is then typically
	// disabled: a departed employee's mailbox converted to shared looks the same).
	Unlicensed bool
}

// e3 is Microsoft 365 E3's SKU id, the license graphsim gives a user mailbox
// (enterprise/licensing-service-plan-reference: SPE_E3).
const e3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"

// AddUser creates a user, with a mailbox unless NoMailbox, and returns its id.
func (s *Sim) AddUser(tenantID string, spec UserSpec) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[tenantID]
	if !ok {
		return "", fmt.Errorf("tenant %s: %w", tenantID, ErrNotFound)
	}
	if spec.ID == "" {
		spec.ID = newGUID()
	}
	u := &User{
		ID: spec.ID, DisplayName: spec.DisplayName, UserPrincipalName: spec.UPN,
		AccountEnabled: !spec.Disabled, UserType: "Member", BusinessPhones: []string{}, HasMailbox: !spec.NoMailbox,
		AssignedLicenses: []AssignedLicense{}, Purpose: "user",
	}
	switch {
	case spec.Purpose != "" && spec.Purpose != "user":
		u.AccountEnabled, u.Purpose = false, spec.Purpose
	case !spec.NoMailbox && !spec.Guest && !spec.Unlicensed:
		u.AssignedLicenses = []AssignedLicense{{SkuID: e3, DisabledPlans: []string{}}}
	}
	if first, last, ok := strings.Cut(spec.DisplayName, " "); ok {
		u.GivenName, u.Surname = first, last
	}
	if spec.Guest {
		u.UserType = "Guest"
	}
	if spec.JobTitle != "" {
		u.JobTitle = &spec.JobTitle
	}
	if spec.Department != "" {
		u.Department = &spec.Department
	}
	if !spec.NoMailbox {
		mail := spec.UPN
		u.Mail = &mail
		t.mailboxes[u.ID] = newMailbox()
	}
	if _, domain, ok := strings.Cut(spec.UPN, "@"); ok && !spec.Guest {
		domain = strings.ToLower(domain)
		if _, known := s.domains[domain]; !known {
			s.domains[domain] = t
			t.domains = append(t.domains, domain)
		}
	}
	t.users.put(u.ID, u)
	s.notifyLocked(t, "users", "", u.ID, "created")
	return u.ID, nil
}

// UpdateUser changes a user through fn and records the change for users/delta.
func (s *Sim) UpdateUser(tenantID, userID string, fn func(u *User)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, u, err := s.userLocked(tenantID, userID)
	if err != nil {
		return err
	}
	c := *u
	fn(&c)
	t.users.put(userID, &c)
	return nil
}

// DeleteUser removes a user. A soft delete keeps it restorable for 30 days and users/delta
// reports it with @removed reason "changed"; a permanent one with reason "deleted"
// (api-reference/v1.0/api/user-delta.md).
func (s *Sim) DeleteUser(tenantID, userID string, permanent bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, _, err := s.userLocked(tenantID, userID)
	if err != nil {
		return err
	}
	reason := "changed"
	if permanent {
		reason = "deleted"
	}
	t.users.remove(userID, reason)
	delete(t.mailboxes, userID)
	return nil
}

func (s *Sim) userLocked(tenantID, userID string) (*tenant, *User, error) {
	t, ok := s.tenants[tenantID]
	if !ok {
		return nil, nil, fmt.Errorf("tenant %s: %w", tenantID, ErrNotFound)
	}
	v, ok := t.users.get(userID)
	if !ok {
		return nil, nil, fmt.Errorf("user %s: %w", userID, ErrNotFound)
	}
	return t, v.(*User), nil
}

func (s *Sim) mailboxLocked(tenantID, userID string) (*tenant, *mailbox, error) {
	t, _, err := s.userLocked(tenantID, userID)
	if err != nil {
		return nil, nil, err
	}
	m, ok := t.mailboxes[userID]
	if !ok {
		return nil, nil, fmt.Errorf("mailbox of %s: %w", userID, ErrNotFound)
	}
	return t, m, nil
}

// GrantConsent records a tenant admin's consent to an app. With no roles, the app's requested
// permissions are granted, as when the admin accepts the consent page.
func (s *Sim) GrantConsent(tenantID, appID string, roles ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[tenantID]
	if !ok {
		return fmt.Errorf("tenant %s: %w", tenantID, ErrNotFound)
	}
	if roles == nil {
		roles = s.apps[appID].Permissions
	}
	t.consents[appID] = &consent{roles: append([]string(nil), roles...), at: s.nowLocked()}
	return nil
}

// RevokeConsent removes an app from a tenant (its service principal deleted): new tokens are
// refused with AADSTS700016; tokens already issued work until they expire, as with Microsoft.
func (s *Sim) RevokeConsent(tenantID, appID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[tenantID]
	if !ok {
		return fmt.Errorf("tenant %s: %w", tenantID, ErrNotFound)
	}
	delete(t.consents, appID)
	return nil
}

// SetAccessPolicy restricts an app to the mailboxes of the given users (the members of the
// policy's mail-enabled security group), as New-ApplicationAccessPolicy -AccessRight
// RestrictAccess does; nil users removes the restriction. Like Microsoft's, the change applies
// only after the configured PolicyDelay (concepts/auth-limit-mailbox-access.md: "Changes to
// application access policies can take longer than 1 hour to take effect").
func (s *Sim) SetAccessPolicy(tenantID, appID string, users []string) error {
	return s.setAccessPolicy(tenantID, appID, users, s.opts.PolicyDelay)
}

// setAccessPolicy records a policy taking effect after delay.
func (s *Sim) setAccessPolicy(tenantID, appID string, users []string, delay time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[tenantID]
	if !ok {
		return fmt.Errorf("tenant %s: %w", tenantID, ErrNotFound)
	}
	p := policy{appID: appID, effectiveAt: s.nowLocked().Add(delay)}
	if users != nil {
		p.allowed = map[string]bool{}
		for _, u := range users {
			p.allowed[u] = true
		}
	}
	t.policies = append(t.policies, p)
	return nil
}

// allowedLocked applies the latest policy in effect for the app.
func (t *tenant) allowedLocked(appID, userID string, now time.Time) bool {
	var current *policy
	for i := range t.policies {
		p := &t.policies[i]
		if p.appID == appID && !p.effectiveAt.After(now) {
			current = p
		}
	}
	return current == nil || current.allowed == nil || current.allowed[userID]
}

// CanAccess reports whether the app can read the user's mailbox now (what
// Test-ApplicationAccessPolicy would say once the policy has applied).
func (s *Sim) CanAccess(tenantID, appID, userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[tenantID]
	return ok && t.allowedLocked(appID, userID, s.nowLocked())
}
