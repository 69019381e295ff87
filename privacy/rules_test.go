package privacy

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/store"
)

func email(from string, to ...string) *store.Activity {
	a := &store.Activity{Kind: "EMAIL", MailboxID: "u1", OccurredAt: time.Now(), Subject: "s", BodyPreview: "p",
		Participants: []store.Participant{{Address: from, Role: "from"}}}
	for _, t := range to {
		a.Participants = append(a.Participants, store.Participant{Address: t, Role: "to"})
	}
	return a
}

// Each rule decides what it names, and nothing more: a sender that merely contains "noreply"
// is a person, a domain excludes its subdomains but not a look-alike.
func TestRulesExcludeWhatTheyNameAndNothingMore(t *testing.T) {
	r := Compile(store.PrivacyPolicy{ExcludedAddresses: []string{"CEO@fabrikam.com"}, ExcludedDomains: []string{"lawfirm.example"},
		ExcludeAutomated: true, BulkRecipients: 2}, nil)
	now := time.Now()
	for _, tc := range []struct {
		a    *store.Activity
		rule string
	}{
		{email("ceo@fabrikam.com"), RuleAddress},
		{email("carol@fabrikam.com"), ""},
		{email("a@eu.lawfirm.example"), RuleDomain},
		{email("a@lawfirm.example"), RuleDomain},
		{email("a@notlawfirm.example"), ""},
		{email("noreply@x.example"), RuleAutomated},
		{email("no-reply-billing@x.example"), RuleAutomated},
		{email("NoReply+tag@x.example"), RuleAutomated},
		{email("mailer-daemon@x.example"), RuleAutomated},
		{email("noreplyjones@x.example"), ""},
		{email("carol@x.example", "a@y.example", "b@y.example"), ""},
		{email("carol@x.example", "a@y.example", "b@y.example", "c@y.example"), RuleBulk},
	} {
		require.Equal(t, tc.rule, r.Activity(tc.a, now), tc.a.Participants)
	}
}

func TestBadPolicyInputIsRefusedWithAReason(t *testing.T) {
	for _, c := range []CaptureChange{
		{ExcludedAddresses: &[]string{"Carol <carol@x.example>"}},
		{ExcludedAddresses: &[]string{"@x.example"}},
		{ExcludedDomains: &[]string{"x"}},
		{ExcludedDomains: &[]string{"-x.example"}},
		{ExcludedDomains: &[]string{"x..example"}},
		{ExcludedSensitivities: &[]string{"secret"}},
		{BulkRecipients: new(-1)},
	} {
		_, err := c.apply(store.PrivacyPolicy{})
		require.Error(t, err, "%+v", c)
	}
	p, err := CaptureChange{ExcludedDomains: &[]string{"@Fabrikam.COM", "fabrikam.com"}, ExcludedAddresses: &[]string{" Carol@X.example "}}.apply(store.PrivacyPolicy{})
	require.NoError(t, err)
	require.Equal(t, []string{"fabrikam.com"}, p.ExcludedDomains, "normalised and deduplicated")
	require.Equal(t, []string{"carol@x.example"}, p.ExcludedAddresses)
}

// Metadata only blanks texts but keeps the activity; a mailbox's override wins.
func TestMetadataOnlyBlanksTextsAndAMailboxOverrideWins(t *testing.T) {
	r := Compile(store.PrivacyPolicy{MetadataOnly: true, MailboxMetadataOnly: map[string]bool{"u2": false}}, nil)
	a := email("carol@x.example")
	require.Empty(t, r.Activity(a, time.Now()))
	require.Empty(t, a.Subject+a.BodyPreview)
	b := email("carol@x.example")
	b.MailboxID = "u2"
	require.Empty(t, r.Activity(b, time.Now()))
	require.Equal(t, "s", b.Subject)
}
