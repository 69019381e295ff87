package deltasync

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDirectionComesFromTheTenantsDomains(t *testing.T) {
	t.Parallel()
	domains := map[string]bool{"contoso.com": true, "contoso.onmicrosoft.com": true}
	in, out := Address{Address: "alice@contoso.com"}, Address{Address: "carol@fabrikam.com"}
	for _, tc := range []struct {
		name string
		m    Message
		want string
	}{
		{"from a customer", Message{From: &out, To: []Address{in}}, "INBOUND"},
		{"to a customer", Message{From: &in, To: []Address{out}}, "OUTBOUND"},
		{"a customer in cc", Message{From: &in, To: []Address{in}, Cc: []Address{out}}, "OUTBOUND"},
		{"colleagues only", Message{From: &in, To: []Address{{Address: "bob@CONTOSO.COM"}}, Bcc: []Address{{Address: "x@contoso.onmicrosoft.com"}}}, "INTERNAL"},
		{"no sender", Message{To: []Address{in}}, "INBOUND"},
	} {
		require.Equal(t, tc.want, direction(domains, tc.m), tc.name)
	}
}
