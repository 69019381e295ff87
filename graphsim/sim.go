package graphsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// App is an application registered in the simulated identity platform: a multi-tenant app
// that tenant admins can consent to.
type App struct {
	ID           string
	Secret       string
	Name         string
	RedirectURIs []string
	// Permissions are the application permissions the app requests (its required resource
	// access), granted as app roles on admin consent.
	Permissions []string
	// Certificates the app may authenticate with instead of its secret, by signing a client
	// assertion (docs/identity-platform/certificate-credentials.md).
	Certificates []*x509.Certificate
}

// Options configure a simulator. Zero values take Microsoft's documented defaults.
type Options struct {
	Apps []App
	// TokenLifetime of app-only access tokens; Microsoft issues them for 60 to 90 minutes
	// (docs/identity-platform/access-tokens.md, "Token lifetime").
	TokenLifetime time.Duration
	// PolicyDelay is how long an application access policy change takes to apply: "can take
	// longer than 1 hour" (api-reference/.../concepts/auth-limit-mailbox-access.md); 30 minutes
	// by default.
	PolicyDelay time.Duration
	// PolicyDenial is the wording of a read outside the app's scope: DenialDocumented by default.
	PolicyDenial PolicyDenial
	// DeltaExpandFails makes a messages delta request with $expand answer 500, as field reports
	// have it (microsoft-graph-docs issues 1993 and 2270: "Value cannot be null. Parameter name:
	// type"); by default $expand=singleValueExtendedProperties works on it, as message-delta.md
	// documents.
	DeltaExpandFails bool
	// FilteredDeltaCap is how many messages the first round of a messages delta with $filter
	// returns at most before its deltaLink, as if it were done: "Applying $filter in a delta
	// query returns only up to 5,000 messages" (concepts/delta-query-messages.md). 5,000 if
	// zero; negative for no cap.
	FilteredDeltaCap int
	// MailboxConcurrency and MailboxRequests per RequestWindow are the Outlook limits per app
	// and mailbox: 4 concurrent requests, 10,000 requests in 10 minutes
	// (concepts/throttling-limits.md, "Outlook service limits").
	MailboxConcurrency int
	MailboxRequests    int
	RequestWindow      time.Duration
	// SubscriptionWrites is how many subscription writes (POST, PATCH, DELETE) an app may make
	// to a tenant per 20 seconds: 1,000 if zero, as Microsoft's page says; tests lower it.
	SubscriptionWrites int
	// IdentityQuota is the resource units an app may spend on a tenant's directory (users,
	// users/delta) per 10 seconds: by the tenant's size if zero, as Microsoft's page says (3,500
	// under 50 users, 5,000 up to 500, 8,000 above); tests lower it.
	IdentityQuota int
	// ConcurrencyPerTenant counts MailboxConcurrency over all of an app's requests to a tenant's
	// mailboxes, as implementers read the limit too; per mailbox by default, as the page says.
	ConcurrencyPerTenant bool
	// ConsentErrorWithoutState leaves the state out of the admin-consent page's error redirect,
	// as some are seen to arrive (the documented one carries it: v2-admin-consent.md).
	ConsentErrorWithoutState bool
	// FullExceptionsInDelta sends the exceptions of a series in full in calendarView/delta, as
	// some field reports have them; by default they come as bare as occurrences (series.go).
	FullExceptionsInDelta bool
	// OutlookMaxLifetime is the longest a message, event or contact subscription may live:
	// 10,080 minutes as documented (api-reference/v1.0/resources/subscription.md, "Subscription
	// lifetime") by default; 4,230 minutes plays what implementers reported in 2026
	// (microsoft-graph-docs-contrib issue 7726: "Subscription expiration can only be 4230
	// minutes in the future").
	OutlookMaxLifetime time.Duration
	// CompressedBodies is how a request body sent gzip-compressed (Content-Encoding: gzip) is
	// answered. 0: read, as most of Graph does. The SDKs' design says some APIs do not take
	// compressed bodies and answer 415 Unsupported Media Type or 400 with "Unable to read JSON
	// request payload. Please ensure Content-Type header is set and payload is of valid JSON
	// format." (msgraph-sdk-design, middleware/CompressionHandler.md; kiota issue 4995 is an
	// API answering 400 to them): http.StatusUnsupportedMediaType or http.StatusBadRequest
	// answers so. kiota-http-go's handler falls back to a plain body on 415 only.
	CompressedBodies int
	// FractionalRetryAfter makes throttling answers give the exact wait in seconds with
	// milliseconds ("2.128", as in the sample of concepts/throttling.md that
	// microsoft-graph-docs-contrib issue 2023 reports), instead of whole seconds rounded up.
	FractionalRetryAfter bool
	// NotificationTimeout is how long a webhook may take to answer a notification: 3 s
	// (concepts/change-notifications-delivery-webhooks.md, "Throttling"). ValidationTimeout is
	// for the validationToken handshake: 10 s (same page, "Notification endpoint validation").
	NotificationTimeout time.Duration
	ValidationTimeout   time.Duration
	// RetryBase is the first delay before a failed notification is delivered again; it doubles
	// each time. Microsoft retries for up to 4 hours with exponential backoff.
	RetryBase time.Duration
	// MaxDeliveryAttempts before a notification is dropped.
	MaxDeliveryAttempts int
	// OnDelivered, if set, hears of every batch an endpoint acknowledged with a 2xx: tests check
	// that nothing acknowledged is lost.
	OnDelivered func(url string, items []Notification)
	// Endpoint health (concepts/change-notifications-delivery-webhooks.md, "Throttling"): when
	// more than 10% of an endpoint's responses in DeliveryWindow (10 minutes) were slow or
	// failed, it is marked slow and each delivery waits SlowDelay (10 s); past 15%, it is marked
	// drop and its notifications are dropped for DropPeriod (10 minutes). A window needs at least
	// MinWindowResponses (10) responses before it counts.
	DeliveryWindow     time.Duration
	SlowDelay          time.Duration
	DropPeriod         time.Duration
	MinWindowResponses int
	Logger             *slog.Logger
	// IdentityAddr, GraphAddr and ControlAddr are the listen addresses; 127.0.0.1:0 (a free
	// port) when empty.
	IdentityAddr, GraphAddr, ControlAddr string
}

func (o *Options) defaults() {
	if o.TokenLifetime == 0 {
		o.TokenLifetime = 3599 * time.Second
	}
	if o.PolicyDelay == 0 {
		o.PolicyDelay = 30 * time.Minute
	}
	if o.MailboxConcurrency == 0 {
		o.MailboxConcurrency = 4
	}
	if o.MailboxRequests == 0 {
		o.MailboxRequests = 10000
	}
	if o.RequestWindow == 0 {
		o.RequestWindow = 10 * time.Minute
	}
	if o.NotificationTimeout == 0 {
		o.NotificationTimeout = 3 * time.Second
	}
	if o.ValidationTimeout == 0 {
		o.ValidationTimeout = 10 * time.Second
	}
	if o.RetryBase == 0 {
		o.RetryBase = 2 * time.Second
	}
	if o.MaxDeliveryAttempts == 0 {
		o.MaxDeliveryAttempts = 8
	}
	if o.DeliveryWindow == 0 {
		o.DeliveryWindow = 10 * time.Minute
	}
	if o.SlowDelay == 0 {
		o.SlowDelay = 10 * time.Second
	}
	if o.DropPeriod == 0 {
		o.DropPeriod = 10 * time.Minute
	}
	if o.MinWindowResponses == 0 {
		o.MinWindowResponses = 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Sim is a running simulator. Its methods are the control API; all are safe for concurrent use.
type Sim struct {
	opts Options
	ca   *authority
	key  *rsa.PrivateKey
	kid  string
	log  *slog.Logger

	identity, graph, control *server

	mu sync.Mutex
	// earlyRetries counts requests throttled again for coming back before Retry-After.
	earlyRetries int
	apps         map[string]App
	tenants      map[string]*tenant // by id
	domains      map[string]*tenant // by domain name
	offset       time.Duration      // Advance moves the clock
	requests     []Request
	faults       []*Fault
	throttle     map[string]*mailboxLimit
	subLimits    map[string]*subscriptionLimit // by app and tenant
	ruBuckets    map[string]*identityBucket    // by app and tenant: identity resource units
	subs         map[string]*subscription
	deliver      *deliverer
}

// server is one of the simulator's listeners.
type server struct {
	srv *http.Server
	url string
}

func serve(addr string, h http.Handler, tlsCert *tls.Certificate, log *slog.Logger) (*server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &server{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}}
	scheme := "http"
	if tlsCert != nil {
		scheme = "https"
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*tlsCert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, s.srv.TLSConfig)
	}
	s.url = scheme + "://" + ln.Addr().String()
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Start runs a simulator on loopback: the identity platform and Graph over HTTPS, the control
// API over HTTP.
func Start(opts Options) (*Sim, error) {
	opts.defaults()
	ca, err := newAuthority()
	if err != nil {
		return nil, fmt.Errorf("graphsim: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("graphsim: %w", err)
	}
	s := &Sim{
		opts: opts, ca: ca, key: key, kid: randomID(12), log: opts.Logger,
		apps: map[string]App{}, tenants: map[string]*tenant{}, domains: map[string]*tenant{},
		throttle: map[string]*mailboxLimit{}, subLimits: map[string]*subscriptionLimit{}, ruBuckets: map[string]*identityBucket{}, subs: map[string]*subscription{},
	}
	for _, a := range opts.Apps {
		s.apps[a.ID] = a
	}
	s.deliver = newDeliverer(s)
	if s.identity, err = serve(opts.IdentityAddr, s.identityHandler(), &ca.serving, s.log); err != nil {
		s.Close()
		return nil, fmt.Errorf("graphsim: identity platform: %w", err)
	}
	if s.graph, err = serve(opts.GraphAddr, s.graphHandler(), &ca.serving, s.log); err != nil {
		s.Close()
		return nil, fmt.Errorf("graphsim: graph: %w", err)
	}
	if s.control, err = serve(opts.ControlAddr, s.controlHandler(), nil, s.log); err != nil {
		s.Close()
		return nil, fmt.Errorf("graphsim: control API: %w", err)
	}
	return s, nil
}

// Close stops the listeners and notification delivery.
func (s *Sim) Close() {
	s.deliver.stop()
	for _, srv := range []*server{s.identity, s.graph, s.control} {
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = srv.srv.Shutdown(ctx)
			cancel()
		}
	}
}

// AuthorityURL is the identity platform's base URL (the "authority host"), e.g.
// https://127.0.0.1:PORT; tenants are path segments under it as under
// https://login.microsoftonline.com.
func (s *Sim) AuthorityURL() string { return s.identity.url }

// GraphURL is Microsoft Graph's base URL including the version, e.g. https://127.0.0.1:PORT/v1.0.
func (s *Sim) GraphURL() string { return s.graph.url + "/v1.0" }

// ControlURL is the control API's base URL.
func (s *Sim) ControlURL() string { return s.control.url }

// CACertPEM is the certificate of the simulator's certificate authority, PEM-encoded.
func (s *Sim) CACertPEM() []byte { return s.ca.certPEM }

// CertPool holds the simulator's certificate authority, for clients' TLS roots.
func (s *Sim) CertPool() *x509.CertPool { return s.ca.pool }

// HTTPClient is a client that trusts the simulator.
func (s *Sim) HTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: s.ca.pool, MinVersion: tls.VersionTLS12}
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// now is the simulator's clock: real time moved by Advance.
func (s *Sim) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Sim) nowLocked() time.Time { return time.Now().Add(s.offset).UTC() }

// Now is the simulator's current time.
func (s *Sim) Now() time.Time { return s.now() }

// Advance moves the simulator's clock forward: policies take effect, tokens and subscriptions
// expire, without waiting.
func (s *Sim) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
	s.deliver.expire()
}

// RegisterApp adds or replaces an application registration.
func (s *Sim) RegisterApp(a App) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[a.ID] = a
}

// ErrNotFound reports an unknown tenant, user or item in a control call.
var ErrNotFound = errors.New("graphsim: not found")

// ErrInvalid reports a control call with input the simulator cannot model.
var ErrInvalid = errors.New("graphsim: invalid input")

func randomID(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = io.ReadFull(rand.Reader, b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// newGUID returns a random GUID in the 8-4-4-4-12 form Microsoft uses for ids.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
