package server

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/teamaccess/teamaccess/m365"
)

// m365Settings are the Microsoft app registration and cloud, checked at start-up. With no client
// id, the service runs in demo mode against an in-process graphsim.
type m365Settings struct {
	clientID, clientSecret string
	certs                  []*x509.Certificate
	key                    crypto.PrivateKey
	cloudName              string
	authorityURL, graphURL string
	roots                  *x509.CertPool
	concurrencyScope       string
	redirectURI            string
}

func (s m365Settings) demo() bool { return s.clientID == "" }

// check looks at the settings together.
func (s m365Settings) check() error {
	if s.demo() {
		if s.clientSecret != "" || s.certs != nil {
			return errors.New("--m365-client-secret or --m365-certificate given without --m365-client-id (TEAMACCESS_M365_CLIENT_ID)")
		}
		return nil
	}
	if s.clientSecret == "" && s.certs == nil {
		return errors.New("--m365-client-id needs --m365-client-secret (TEAMACCESS_M365_CLIENT_SECRET) or --m365-certificate (TEAMACCESS_M365_CERTIFICATE)")
	}
	if s.cloudName == "custom" && (s.authorityURL == "" || s.graphURL == "") {
		return errors.New("--m365-cloud custom needs --m365-authority-url and --m365-graph-url")
	}
	return nil
}

// cloud resolves the configured cloud.
func (s m365Settings) cloud() (m365.Cloud, error) {
	if s.cloudName == "custom" {
		return m365.CustomCloud(s.authorityURL, s.graphURL)
	}
	return m365.CloudByName(s.cloudName)
}

func applyClientID(c *config, v string) error {
	if v != "" && !guidLike(v) {
		return fmt.Errorf("%q is not an application id (a GUID)", v)
	}
	c.m365.clientID = v
	return nil
}

func guidLike(v string) bool {
	if len(v) != 36 {
		return false
	}
	for i, r := range v {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F'):
			return false
		}
	}
	return true
}

func applyClientSecret(c *config, v string) error { c.m365.clientSecret = v; return nil }

func applyCertificate(c *config, v string) error {
	if v == "" {
		return nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return err
	}
	certs, key, err := parsePEMCredential(b)
	if err != nil {
		return fmt.Errorf("%s: %w", v, err)
	}
	c.m365.certs, c.m365.key = certs, key
	return nil
}

func applyCloud(c *config, v string) error {
	if v != "custom" {
		if _, err := m365.CloudByName(v); err != nil {
			return err
		}
	}
	c.m365.cloudName = v
	return nil
}

func applyConcurrencyScope(c *config, v string) error {
	if v != m365.ConcurrencyPerMailbox && v != m365.ConcurrencyPerTenant {
		return fmt.Errorf("%q is neither mailbox nor tenant", v)
	}
	c.m365.concurrencyScope = v
	return nil
}

func applyAuthorityURL(c *config, v string) error { return httpsURL(&c.m365.authorityURL, v) }
func applyGraphURL(c *config, v string) error     { return httpsURL(&c.m365.graphURL, v) }

func httpsURL(dst *string, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an https URL", v)
	}
	*dst = v
	return nil
}

func applyCAFile(c *config, v string) error {
	if v == "" {
		return nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return fmt.Errorf("%s holds no PEM certificate", v)
	}
	c.m365.roots = pool
	return nil
}

func applyRedirectURI(c *config, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", v)
	}
	c.m365.redirectURI = v
	return nil
}

// probesInFlight is how many access probes a tenant has in flight: each asks about another
// mailbox, and Outlook's 4 concurrent requests are per mailbox (m365 keeps them, before each
// attempt), so 16; 4 where the setting counts the 4 over the tenant, which m365 holds every
// request of the tenant to (more would only wait there, and hold a chunk's record back).
func probesInFlight(c *config) int {
	if c.m365.concurrencyScope == m365.ConcurrencyPerTenant {
		return 4
	}
	return 16
}
