package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/teamaccess/teamaccess/errkind"
)

// Guard decides where deliveries may go: HTTPS to public addresses only, checked when the
// connection is made (a dialer's Control sees the address actually dialled, so a name that
// resolves to a public address when checked and to 169.254.169.254 when dialled, DNS
// rebinding, is still refused), unless the operator allows the host (--webhook-allow-hosts),
// which may then be plain HTTP too.
type Guard struct {
	allow map[string]bool // lower-case host names and IP addresses
}

// NewGuard allows the given hosts besides public HTTPS ones.
func NewGuard(allowHosts []string) *Guard {
	g := &Guard{allow: map[string]bool{}}
	for _, h := range allowHosts {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			g.allow[h] = true
		}
	}
	return g
}

// CheckURL reads an endpoint URL as a caller gives it.
func (g *Guard) CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || len(raw) > 2000 {
		return nil, errkind.E(errkind.ErrInvalid, "url %q is not an absolute URL such as https://hooks.example.com/teamaccess", raw)
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case g.allow[host]:
		if u.Scheme != "https" && u.Scheme != "http" {
			return nil, errkind.E(errkind.ErrInvalid, "url %q: only https (or http to an allowed host)", raw)
		}
	case u.Scheme != "https":
		return nil, errkind.E(errkind.ErrInvalid, "url %q: webhooks are delivered over https only", raw)
	default:
		if ip, err := netip.ParseAddr(host); err == nil {
			if why := refused(ip); why != "" {
				return nil, errkind.E(errkind.ErrInvalid, "url %q: %s addresses are not reachable from teamaccess", raw, why)
			}
		}
	}
	return u, nil
}

// refused says why an address may not be dialled ("" when it may): loopback, private,
// link-local (cloud metadata services live at 169.254.169.254), shared (100.64.0.0/10, another
// metadata range), multicast, unspecified and reserved ones.
func refused(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() && nat64.Contains(ip) { // an IPv4 address behind NAT64
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:16]))
	}
	switch {
	case !ip.IsValid(), ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return "reserved"
		}
	}
	return ""
}

var (
	nat64    = netip.MustParsePrefix("64:ff9b::/96")
	reserved = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("240.0.0.0/4"), netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("100::/64"),
	}
)

// errRefusedAddress is a dial the guard stopped.
var errRefusedAddress = errors.New("refused by the egress guard")

// control is the dialer's check of each address it connects to, after resolution.
func control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", errRefusedAddress, address)
	}
	if why := refused(ap.Addr()); why != "" {
		return fmt.Errorf("%w: %s is a %s address", errRefusedAddress, ap.Addr(), why)
	}
	return nil
}

// Client is the HTTP client deliveries use: the guard at connect time, no proxy from the
// environment, no redirects followed, 10 s per attempt.
func (g *Guard) Client(resolver *net.Resolver) *http.Client {
	guarded := &net.Dialer{Timeout: 5 * time.Second, Control: control, Resolver: resolver}
	allowed := &net.Dialer{Timeout: 5 * time.Second, Resolver: resolver}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, _, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				if g.allow[strings.ToLower(host)] {
					return allowed.DialContext(ctx, network, addr)
				}
				return guarded.DialContext(ctx, network, addr)
			},
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 10 * time.Second,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
