package graphsim

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// controlHandler serves the control API over HTTP, for the standalone simulator: the same
// operations as the Go methods on *Sim, on a listener of its own so that nothing on the Graph
// surface can reach them.
func (s *Sim) controlHandler() http.Handler {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, v any, err error) {
		switch {
		case errors.Is(err, ErrNotFound):
			writeJSONBody(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		case err != nil:
			writeJSONBody(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		case v == nil:
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSONBody(w, http.StatusOK, v)
		}
	}
	decode := func(w http.ResponseWriter, r *http.Request, v any) bool {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(v); err != nil {
			writeJSONBody(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON: " + err.Error()})
			return false
		}
		return true
	}
	mux.HandleFunc("GET /ca.pem", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(s.CACertPEM())
	})
	mux.HandleFunc("GET /endpoints", func(w http.ResponseWriter, _ *http.Request) {
		ok(w, map[string]string{"authority": s.AuthorityURL(), "graph": s.GraphURL(), "control": s.ControlURL()}, nil)
	})
	mux.HandleFunc("POST /tenants", func(w http.ResponseWriter, r *http.Request) {
		var spec TenantSpec
		if decode(w, r, &spec) {
			ok(w, map[string]string{"id": s.AddTenant(spec)}, nil)
		}
	})
	mux.HandleFunc("POST /tenants/{t}/users", func(w http.ResponseWriter, r *http.Request) {
		var spec UserSpec
		if decode(w, r, &spec) {
			id, err := s.AddUser(r.PathValue("t"), spec)
			ok(w, map[string]string{"id": id}, err)
		}
	})
	mux.HandleFunc("DELETE /tenants/{t}/users/{u}", func(w http.ResponseWriter, r *http.Request) {
		ok(w, nil, s.DeleteUser(r.PathValue("t"), r.PathValue("u"), r.URL.Query().Get("permanent") == "true"))
	})
	mux.HandleFunc("POST /tenants/{t}/users/{u}/messages", func(w http.ResponseWriter, r *http.Request) {
		var m Message
		if decode(w, r, &m) {
			id, err := s.AddMessage(r.PathValue("t"), r.PathValue("u"), r.URL.Query().Get("folder"), m)
			ok(w, map[string]string{"id": id}, err)
		}
	})
	mux.HandleFunc("GET /tenants/{t}/users/{u}/messages", func(w http.ResponseWriter, r *http.Request) {
		folder := r.URL.Query().Get("folder")
		if folder == "" {
			folder = "inbox"
		}
		ms, err := s.Messages(r.PathValue("t"), r.PathValue("u"), folder)
		ok(w, ms, err)
	})
	mux.HandleFunc("PATCH /tenants/{t}/users/{u}/messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		var patch json.RawMessage
		if decode(w, r, &patch) {
			ok(w, nil, s.UpdateMessage(r.PathValue("t"), r.PathValue("u"), r.PathValue("id"), func(m *Message) { _ = json.Unmarshal(patch, m) }))
		}
	})
	mux.HandleFunc("DELETE /tenants/{t}/users/{u}/messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		ok(w, nil, s.DeleteMessage(r.PathValue("t"), r.PathValue("u"), r.PathValue("id")))
	})
	mux.HandleFunc("POST /tenants/{t}/users/{u}/events", func(w http.ResponseWriter, r *http.Request) {
		var e Event
		if decode(w, r, &e) {
			id, err := s.AddEvent(r.PathValue("t"), r.PathValue("u"), e)
			ok(w, map[string]string{"id": id}, err)
		}
	})
	mux.HandleFunc("DELETE /tenants/{t}/users/{u}/events/{id}", func(w http.ResponseWriter, r *http.Request) {
		ok(w, nil, s.DeleteEvent(r.PathValue("t"), r.PathValue("u"), r.PathValue("id")))
	})
	mux.HandleFunc("POST /tenants/{t}/users/{u}/contacts", func(w http.ResponseWriter, r *http.Request) {
		var c Contact
		if decode(w, r, &c) {
			id, err := s.AddContact(r.PathValue("t"), r.PathValue("u"), c)
			ok(w, map[string]string{"id": id}, err)
		}
	})
	mux.HandleFunc("POST /tenants/{t}/users/{u}/reset/{resource}", func(w http.ResponseWriter, r *http.Request) {
		ok(w, nil, s.ResetDelta(r.PathValue("t"), r.PathValue("u"), r.PathValue("resource")))
	})
	mux.HandleFunc("PUT /tenants/{t}/consents/{app}", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Roles []string }
		if decode(w, r, &in) {
			ok(w, nil, s.GrantConsent(r.PathValue("t"), r.PathValue("app"), in.Roles...))
		}
	})
	mux.HandleFunc("DELETE /tenants/{t}/consents/{app}", func(w http.ResponseWriter, r *http.Request) {
		ok(w, nil, s.RevokeConsent(r.PathValue("t"), r.PathValue("app")))
	})
	mux.HandleFunc("PUT /tenants/{t}/policies/{app}", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Users []string }
		if decode(w, r, &in) {
			ok(w, nil, s.SetAccessPolicy(r.PathValue("t"), r.PathValue("app"), in.Users))
		}
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if decode(w, r, &f) {
			s.InjectFault(f)
			ok(w, nil, nil)
		}
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, _ *http.Request) { s.ClearFaults(); ok(w, nil, nil) })
	mux.HandleFunc("POST /subscriptions/{id}/lifecycle/{event}", func(w http.ResponseWriter, r *http.Request) {
		ok(w, nil, s.TriggerLifecycle(r.PathValue("id"), r.PathValue("event")))
	})
	mux.HandleFunc("GET /subscriptions", func(w http.ResponseWriter, _ *http.Request) { ok(w, s.Subscriptions(), nil) })
	mux.HandleFunc("POST /clock/advance", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Seconds float64 }
		if decode(w, r, &in) {
			s.Advance(time.Duration(in.Seconds * float64(time.Second)))
			ok(w, map[string]time.Time{"now": s.Now()}, nil)
		}
	})
	mux.HandleFunc("GET /requests", func(w http.ResponseWriter, _ *http.Request) { ok(w, s.Requests(), nil) })
	return mux
}
