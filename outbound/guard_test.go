package outbound

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/teamaccess/teamaccess/errkind"
)

func TestTheGuardRefusesEveryAddressThatIsNotPublic(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"127.0.0.1": "loopback", "::1": "loopback", "10.1.2.3": "private", "172.16.0.9": "private", "192.168.1.1": "private",
		"fd00:ec2::254": "private", "169.254.169.254": "link-local", "fe80::1": "link-local", "100.100.100.200": "reserved",
		"0.0.0.0": "unspecified", "::": "unspecified", "224.0.0.1": "link-local", "239.1.2.3": "multicast", "ff05::1": "multicast", "240.0.0.1": "reserved",
		"::ffff:10.0.0.1": "private", "64:ff9b::a9fe:a9fe": "link-local", "198.18.0.1": "reserved",
		"93.184.216.34": "", "2606:2800:220:1:248:1893:25c8:1946": "", "8.8.8.8": "",
	} {
		require.Equal(t, want, refused(netip.MustParseAddr(addr)), addr)
	}
}

func TestEndpointURLsAreHTTPSToPublicHostsUnlessAllowed(t *testing.T) {
	t.Parallel()
	g := NewGuard([]string{"127.0.0.1", "receiver.test"})
	for _, bad := range []string{"http://hooks.example.com/x", "https://10.0.0.1/x", "https://169.254.169.254/latest/meta-data",
		"https://[::1]:8443/", "ftp://hooks.example.com", "https://user:pw@hooks.example.com/", "/relative", "https://"} {
		_, err := g.CheckURL(bad)
		require.ErrorIs(t, err, errkind.ErrInvalid, bad)
	}
	for _, ok := range []string{"https://hooks.example.com/teamaccess", "http://127.0.0.1:9000/hooks", "http://receiver.test/x"} {
		_, err := g.CheckURL(ok)
		require.NoError(t, err, ok)
	}
}

// stubDNS answers every A question with ip, on loopback: a name that resolves to a metadata
// address when dialled (DNS rebinding). The guard must refuse the connection, whatever the name.
func stubDNS(t *testing.T, ip [4]byte) *net.Resolver {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for range 100 { // bounded
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if q.Type == dnsmessage.TypeA {
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}, dnsmessage.AResource{A: ip})
			}
			msg, _ := b.Finish()
			_, _ = pc.WriteTo(msg, from)
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", pc.LocalAddr().String()) // only ever the stub, on loopback
	}}
}

func TestDeliveriesToRefusedAddressesAreStoppedBeforeConnecting(t *testing.T) {
	t.Parallel()
	g := NewGuard(nil)
	// Only loopback is ever dialled here: 127.0.0.1 is refused by Control before connect(2), as
	// 169.254.169.254 behind a name would be; the stub resolver answers every name with
	// 127.0.0.2, and a broken guard would connect to loopback, never out.
	c := g.Client(stubDNS(t, [4]byte{127, 0, 0, 2}))
	for _, u := range []string{"https://127.0.0.1:1/x", "https://metadata.rebind.test:1/latest"} {
		resp, err := c.Post(u, "application/json", nil)
		if resp != nil {
			resp.Body.Close()
		}
		require.ErrorIs(t, err, errRefusedAddress, u)
	}
	// No redirect is followed.
	require.ErrorIs(t, c.CheckRedirect(&http.Request{}, nil), http.ErrUseLastResponse)
}
