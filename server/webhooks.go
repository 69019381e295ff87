package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/teamaccess/teamaccess/subscriptions"
)

// webhookBase is the URL Graph delivers to, or why there is none. Microsoft delivers only to
// HTTPS endpoints it can reach (concepts/change-notifications-delivery-webhooks.md); graphsim,
// in demo mode or as a custom cloud, also delivers to plain HTTP on loopback, where it runs.
func webhookBase(cfg *config) (string, string) {
	u := cfg.publicURL
	if u.Scheme == "https" {
		return u.String(), ""
	}
	h := u.Hostname()
	loopback := h == "localhost"
	if ip := net.ParseIP(h); ip != nil {
		loopback = ip.IsLoopback()
	}
	if loopback && (cfg.m365.demo() || cfg.m365.cloudName == "custom") {
		return u.String(), ""
	}
	return "", "change notifications need an HTTPS --public-url (TEAMACCESS_PUBLIC_URL) that Microsoft can reach; until one is set, mail, meetings and contacts arrive by delta sync alone, every --sync-interval"
}

// maxValidationToken bounds the token echoed back; Graph's are about a hundred bytes.
const maxValidationToken = 4096

// handleGraphWebhook answers Graph at /webhooks/graph/notifications and /webhooks/graph/lifecycle:
// the validation handshake (200, text/plain, the decoded token and nothing else), then
// deliveries: 202 once the batch is durable in the inbox, 400 for a malformed body (nothing
// kept), 503 when the inbox cannot be written (Graph delivers again), never a 4xx for that.
func handleGraphWebhook(subs *subscriptions.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
			return
		}
		if tokens, ok := r.URL.Query()["validationToken"]; ok {
			// concepts/change-notifications-delivery-webhooks.md, "Notification endpoint
			// validation": 200 OK, Content-Type text/plain, the URL-decoded token as the body,
			// within 10 seconds. nosniff and a CSP that allows nothing keep a browser from ever
			// running what a forged token might contain.
			if len(tokens) != 1 || len(tokens[0]) > maxValidationToken {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "one validationToken of at most 4096 bytes"})
				return
			}
			h := w.Header()
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
			h.Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, tokens[0])
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, subscriptions.MaxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("notification body over %d bytes", subscriptions.MaxBody)})
				return
			}
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "could not read the body"})
			return
		}
		// Graph waits 3 s; answer 503 before that rather than be counted slow.
		ctx, cancel := context.WithTimeout(r.Context(), webhookDeadline)
		defer cancel()
		_, err = subs.Accept(ctx, body)
		switch {
		case errors.Is(err, subscriptions.ErrMalformed):
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		case err != nil:
			log.Warn("change notifications not acknowledged: the inbox is unavailable", "err", err)
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily unavailable; deliver again"})
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	})
}

// webhookDeadline is how long a delivery may wait for the inbox.
const webhookDeadline = 2500 * time.Millisecond
