package privacy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/teamaccess/teamaccess/store"
)

// The rules that exclude an item, as counted (teamaccess_capture_excluded_total{rule}) and
// reported by a preview. No count or log line ever names the address that matched.
const (
	RuleAddress        = "address"
	RuleDomain         = "domain"
	RuleInternal       = "internal"
	RuleSensitivity    = "sensitivity"
	RuleAutomated      = "automated"
	RuleBulk           = "bulk"
	RulePrivateMeeting = "private_meeting"
	RuleSoloMeeting    = "single_attendee"
	RuleOptOut         = "opt_out"
	RuleMailbox        = "excluded_mailbox"
	RuleSuppressed     = "erased"
	RuleRetention      = "retention"
)

// Rules are a policy compiled for deciding, item by item, what is captured. A Rules is read
// only once made, so the syncers of every mailbox share one.
type Rules struct {
	version       int64
	addresses     map[string]bool
	domains       map[string]bool
	internal      bool
	sensitivities map[string]bool
	automated     bool
	bulk          int
	private, solo bool
	metadataOnly  bool
	mailboxMeta   map[string]bool
	optedOut      map[string]bool
	key           []byte
	suppressed    map[string]bool
	retention     store.Retention
}

// Compile makes the rules of a policy and its suppressed hashes.
func Compile(p store.PrivacyPolicy, suppressed []string) *Rules {
	r := &Rules{version: p.Version, addresses: set(p.ExcludedAddresses), domains: set(p.ExcludedDomains), internal: p.ExcludeInternal,
		sensitivities: set(p.ExcludedSensitivities), automated: p.ExcludeAutomated, bulk: p.BulkRecipients,
		private: p.ExcludePrivateMeetings, solo: p.ExcludeSoloMeetings, metadataOnly: p.MetadataOnly,
		mailboxMeta: p.MailboxMetadataOnly, optedOut: map[string]bool{}, key: p.SuppressionKey, suppressed: set(suppressed), retention: p.Retention}
	for id := range p.OptedOut {
		r.optedOut[id] = true
	}
	return r
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[strings.ToLower(x)] = true
	}
	return m
}

// Version is the version of the policy the rules were made from.
func (r *Rules) Version() int64 { return r.version }

// Hash is an address's keyed hash, as suppressions keep it.
func Hash(key []byte, address string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.ToLower(strings.TrimSpace(address))))
	return hex.EncodeToString(m.Sum(nil))
}

// address is the rule that excludes an address, "" for none.
func (r *Rules) address(a string) string {
	a = strings.ToLower(a)
	if r.addresses[a] {
		return RuleAddress
	}
	if len(r.domains) > 0 {
		if _, d, ok := strings.Cut(a, "@"); ok {
			for d != "" {
				if r.domains[d] {
					return RuleDomain
				}
				_, d, _ = strings.Cut(d, ".") // a subdomain's parent
			}
		}
	}
	if len(r.suppressed) > 0 && a != "" && r.suppressed[Hash(r.key, a)] {
		return RuleSuppressed
	}
	return ""
}

// Mailbox is the rule that excludes everything of a mailbox (by its user id and addresses),
// "" when its items are decided one by one.
func (r *Rules) Mailbox(userID string, addresses []string) string {
	if r.optedOut[userID] {
		return RuleOptOut
	}
	for _, a := range addresses {
		if rule := r.address(a); rule != "" {
			if rule == RuleSuppressed {
				return rule
			}
			return RuleMailbox
		}
	}
	return ""
}

// MetadataOnly says whether a mailbox's subjects and previews are never stored.
func (r *Rules) MetadataOnly(userID string) bool {
	if v, ok := r.mailboxMeta[userID]; ok {
		return v
	}
	return r.metadataOnly
}

// Activity decides an activity of a mailbox whose rule (Mailbox) is "": the rule that
// excludes it, or "" to keep it, blanking what it may not keep (metadata only, the subject's
// and the preview's retention).
func (r *Rules) Activity(a *store.Activity, now time.Time) string {
	if rule := r.Exclude(a, now); rule != "" {
		return rule
	}
	if r.MetadataOnly(a.MailboxID) {
		a.Subject, a.BodyPreview = "", ""
	}
	if expired(r.retention.SubjectDays, a.OccurredAt, now) {
		a.Subject = ""
	}
	if expired(r.retention.PreviewDays, a.OccurredAt, now) {
		a.BodyPreview = ""
	}
	return ""
}

func expired(days int, at, now time.Time) bool {
	return days > 0 && at.Before(now.AddDate(0, 0, -days))
}

// Exclude is the rule that excludes a stored or captured activity, "" for none.
func (r *Rules) Exclude(a *store.Activity, now time.Time) string {
	if r.optedOut[a.MailboxID] {
		return RuleOptOut
	}
	if expired(r.retention.ActivityDays, a.OccurredAt, now) {
		return RuleRetention
	}
	everyoneInside, people := true, map[string]bool{}
	for _, p := range a.Participants {
		if rule := r.address(p.Address); rule != "" {
			return rule
		}
		everyoneInside = everyoneInside && p.Internal
		if p.Type != "resource" {
			people[p.Address] = true
		}
	}
	if r.sensitivities[a.Sensitivity] {
		return RuleSensitivity
	}
	switch a.Kind {
	case "EMAIL":
		if r.automated && automatedSender(a.Participants) {
			return RuleAutomated
		}
		if r.bulk > 0 && recipients(a.Participants) > r.bulk {
			return RuleBulk
		}
	case "MEETING":
		if r.private && a.Sensitivity == "private" {
			return RulePrivateMeeting
		}
		if r.solo && len(people) < 2 {
			return RuleSoloMeeting
		}
	}
	if r.internal && len(a.Participants) > 0 && (everyoneInside || a.Direction == "INTERNAL") {
		return RuleInternal
	}
	return ""
}

// Contact is the rule that excludes a contact, "" for none.
func (r *Rules) Contact(c *store.PersonalContact) string {
	if r.optedOut[c.MailboxID] {
		return RuleOptOut
	}
	for _, e := range c.Emails {
		if rule := r.address(e); rule != "" {
			return rule
		}
	}
	return ""
}

// ContactExpired says whether a stored contact is past its retention.
func (r *Rules) ContactExpired(c *store.PersonalContact, now time.Time) bool {
	return expired(r.retention.ContactDays, c.ChangedAt, now)
}

func recipients(ps []store.Participant) int {
	n := 0
	for _, p := range ps {
		if p.Role == "to" || p.Role == "cc" || p.Role == "bcc" {
			n++
		}
	}
	return n
}

// automatedLocalParts are the mailbox names of machines rather than people (RFC 2142's
// postmaster, bounce handlers, no-reply senders).
var automatedLocalParts = []string{"noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "do_not_reply",
	"mailer-daemon", "mailerdaemon", "postmaster", "bounce", "bounces", "auto-reply", "autoreply", "notification", "notifications"}

// automatedSender says whether an email's sender is a machine: its local part (without a
// +tag) is one of automatedLocalParts, alone or followed by a separator (no-reply-billing@).
func automatedSender(ps []store.Participant) bool {
	for _, p := range ps {
		if p.Role != "from" {
			continue
		}
		local, _, _ := strings.Cut(strings.ToLower(p.Address), "@")
		local, _, _ = strings.Cut(local, "+")
		for _, a := range automatedLocalParts {
			if rest, ok := strings.CutPrefix(local, a); ok && (rest == "" || strings.ContainsAny(rest[:1], "-_.")) {
				return true
			}
		}
	}
	return false
}
