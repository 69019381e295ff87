package server

import (
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"

	"github.com/teamaccess/teamaccess/access"
	"github.com/teamaccess/teamaccess/errkind"
)

// handleConsentCallback receives Microsoft's redirect after the admin-consent page and answers
// the administrator with a page saying what happened. It needs no API key: the one-time state
// in the link identifies the organisation.
func handleConsentCallback(svc *access.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := svc.Callback(r.Context(), r.URL.Query())
		switch {
		case errors.Is(err, access.ErrBadState):
			consentPage(w, http.StatusBadRequest, "This consent link cannot be used",
				errkind.Message(err)+". Nothing was changed. Ask your teamaccess administrator for a new link.", false)
			return
		case err != nil:
			log.Error("consent callback", "err", err)
			consentPage(w, http.StatusInternalServerError, "Something went wrong",
				"teamaccess could not record the answer. Try again with a new consent link.", false)
			return
		}
		log.Info("consent callback", "organization", res.TeamAccess.OrgID, "outcome", res.Outcome, "status", res.TeamAccess.Status)
		consentPage(w, http.StatusOK, res.Title, res.Message, res.Outcome == access.Connected)
	})
}

// consentPage is the page the Microsoft 365 administrator lands on, in the style of the help
// article's "Office 365 Integration" panel. Plain string building with escaping, no templates
// (see DEPENDENCIES.md).
func consentPage(w http.ResponseWriter, status int, title, message string, ok bool) {
	mark := "&#9888;"
	if ok {
		mark = "&#10004;"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>%[1]s – teamaccess</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f6f8;color:#1f2933;margin:0}
main{max-width:34em;margin:4em auto;background:#fff;border-radius:8px;padding:2em 2.5em;box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.1em;color:#52606d;font-weight:600;margin:0 0 .2em}
h2{font-size:1.5em;margin:.2em 0 1em}
.result{font-size:1.15em;margin:1.5em 0}
.ok{color:#1f8a4c}.bad{color:#b4232c}
a.done{display:inline-block;background:#1f8a4c;color:#fff;padding:.6em 2.2em;border-radius:4px;text-decoration:none}
</style></head><body><main>
<h1>Office 365 Integration</h1>
<h2>Authorize the teamaccess application</h2>
<p class="result %[4]s" id="result">%[3]s <strong>%[1]s</strong></p>
<p id="message">%[2]s</p>
<p><a class="done" href="/">Done</a></p>
</main></body></html>
`, html.EscapeString(title), html.EscapeString(message), mark, map[bool]string{true: "ok", false: "bad"}[ok])
}
