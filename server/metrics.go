package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/teamaccess/teamaccess/activities"
	"github.com/teamaccess/teamaccess/store"
)

// metrics are the Prometheus series the server exports at /metrics. They live in a registry
// of the server's own, not the global one, so tests can run many servers in one process.
type metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	gqlResponses *prometheus.CounterVec
	gqlDuration  *prometheus.HistogramVec
	gqlErrors    *prometheus.CounterVec
	webhooks     *prometheus.CounterVec
	outbound     *prometheus.HistogramVec
	excluded     *prometheus.CounterVec
	partitions   prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teamaccess_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "teamaccess_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern (websocket upgrades excluded).",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "teamaccess_partitions_held",
			Help: "Partitions of the Graph work (of 64) this process holds: its mailboxes' syncs, probes, subscriptions and notifications, and its tenants' discovery.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "teamaccess_http_requests_in_flight",
			Help: "HTTP requests being answered now, open websockets and event streams included.",
		}),
		gqlResponses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teamaccess_graphql_responses_total",
			Help: "GraphQL responses sent (one per query or mutation, one per subscription event), by operation type and outcome.",
		}, []string{"operation", "outcome"}),
		gqlDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "teamaccess_graphql_response_duration_seconds",
			Help:    "Time to produce a GraphQL response, by operation type.",
			Buckets: prometheus.DefBuckets,
		}, []string{"operation"}),
		gqlErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teamaccess_graphql_errors_total",
			Help: "GraphQL errors returned to callers, by extensions.code.",
		}, []string{"code"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teamaccess_change_notifications_total",
			Help: "Change notifications and lifecycle events Graph delivered, by result: accepted, dropped_client_state, dropped_unknown, unavailable (answered 503), malformed (bodies answered 400).",
		}, []string{"result"}),
		outbound: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "teamaccess_partner_webhook_attempts_seconds",
			Help:    "Attempts to deliver partners' webhooks, by result (2xx, 4xx, 5xx, error) and their duration (a count per result too).",
			Buckets: prometheus.DefBuckets,
		}, []string{"result"}),
		excluded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teamaccess_capture_excluded_total",
			Help: "Activities and contacts the capture policy kept out of the store, by rule (address, domain, internal, sensitivity, automated, bulk, private_meeting, single_attendee, opt_out, excluded_mailbox, erased, retention). No series names an address.",
		}, []string{"rule"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.inFlight, m.gqlResponses, m.gqlDuration, m.gqlErrors, m.webhooks, m.outbound, m.excluded, m.partitions,
	)
	return m
}

// handler serves the registry in the Prometheus exposition format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// observeRequest records one answered HTTP request.
func (m *metrics) observeRequest(route, method string, code int, took time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	if code != http.StatusSwitchingProtocols {
		m.duration.WithLabelValues(route, method).Observe(took.Seconds())
	}
}

// watch registers the gauges read from the service's parts: the notification inbox's backlog
// and the live activityChanged subscriptions.
func (m *metrics) watch(st *store.Store, hub *activities.Hub) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "teamaccess_notification_inbox_pending",
		Help: "Change notifications acknowledged to Graph and not yet worked off (-1 when the store does not answer).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := st.PendingInbox(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "teamaccess_activity_subscribers",
		Help: "activityChanged subscriptions this process is delivering to.",
	}, func() float64 { return float64(hub.Subscribers()) }))
}

// watchWebhooks exports the partners' webhook backlog, read when scraped.
func (m *metrics) watchWebhooks(backlog func(ctx context.Context) (int64, error)) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "teamaccess_partner_webhook_backlog",
		Help: "Changes not yet delivered to partners' active webhook endpoints, all organizations summed (-1 when the store does not answer).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := backlog(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}

// observeWebhookAttempt counts and times an attempt to deliver a partner's webhook.
func (m *metrics) observeWebhookAttempt(status int, took time.Duration) {
	result := "error"
	if status > 0 {
		result = strconv.Itoa(status/100) + "xx"
	}
	m.outbound.WithLabelValues(result).Observe(took.Seconds())
}
