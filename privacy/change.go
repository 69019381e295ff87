package privacy

import (
	"net/mail"
	"slices"
	"strings"

	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/store"
)

// CaptureChange is what updateCapturePolicy changes; nil fields stay.
type CaptureChange struct {
	ExcludedAddresses, ExcludedDomains, ExcludedSensitivities                                    *[]string
	ExcludeInternal, ExcludeAutomated, ExcludePrivateMeetings, ExcludeSoloMeetings, MetadataOnly *bool
	BulkRecipients                                                                               *int
}

// Sensitivities are Outlook's sensitivities a policy can exclude.
var Sensitivities = []string{"personal", "private", "confidential"}

// maxList bounds each list of a policy.
const maxList = 1000

// apply checks a change and applies it to a copy of p: bad input changes nothing.
func (c CaptureChange) apply(p store.PrivacyPolicy) (store.PrivacyPolicy, error) {
	if c.ExcludedAddresses != nil {
		as, err := addresses(*c.ExcludedAddresses)
		if err != nil {
			return p, err
		}
		p.ExcludedAddresses = as
	}
	if c.ExcludedDomains != nil {
		ds, err := domains(*c.ExcludedDomains)
		if err != nil {
			return p, err
		}
		p.ExcludedDomains = ds
	}
	if c.ExcludedSensitivities != nil {
		var out []string
		for _, x := range *c.ExcludedSensitivities {
			x = strings.ToLower(x)
			if !slices.Contains(Sensitivities, x) {
				return p, errkind.E(errkind.ErrInvalid, "sensitivity %q is none of personal, private, confidential", x)
			}
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
		p.ExcludedSensitivities = out
	}
	if c.BulkRecipients != nil {
		if *c.BulkRecipients < 0 || *c.BulkRecipients > 10_000 {
			return p, errkind.E(errkind.ErrInvalid, "bulkRecipients is from 1 to 10,000, or 0 for no limit")
		}
		p.BulkRecipients = *c.BulkRecipients
	}
	for _, b := range []struct {
		from *bool
		to   *bool
	}{{c.ExcludeInternal, &p.ExcludeInternal}, {c.ExcludeAutomated, &p.ExcludeAutomated}, {c.ExcludePrivateMeetings, &p.ExcludePrivateMeetings},
		{c.ExcludeSoloMeetings, &p.ExcludeSoloMeetings}, {c.MetadataOnly, &p.MetadataOnly}} {
		if b.from != nil {
			*b.to = *b.from
		}
	}
	return p, nil
}

func addresses(in []string) ([]string, error) {
	if len(in) > maxList {
		return nil, errkind.E(errkind.ErrInvalid, "at most %d excluded addresses", maxList)
	}
	out := []string{}
	for _, a := range in {
		n, err := Address(a)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// Address normalises an email address (lower case, no name), or says why it is none.
func Address(a string) (string, error) {
	a = strings.TrimSpace(a)
	if len(a) > 254 {
		return "", errkind.E(errkind.ErrInvalid, "an email address is at most 254 characters")
	}
	p, err := mail.ParseAddress(a)
	if err != nil || p.Name != "" || !strings.Contains(p.Address, "@") {
		return "", errkind.E(errkind.ErrInvalid, "%q is not an email address", a)
	}
	return strings.ToLower(p.Address), nil
}

func domains(in []string) ([]string, error) {
	if len(in) > maxList {
		return nil, errkind.E(errkind.ErrInvalid, "at most %d excluded domains", maxList)
	}
	out := []string{}
	for _, d := range in {
		d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
		if !validDomain(d) {
			return nil, errkind.E(errkind.ErrInvalid, "%q is not a domain (such as example.com)", d)
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out, nil
}

func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
