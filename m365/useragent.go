package m365

import "net/http"

// decorated adds the application's product token to each Graph request's User-Agent, after
// the SDK's own: how a request in Graph's (or graphsim's) logs is told apart by the process
// that sent it. Microsoft asks ISVs to decorate their traffic so
// (https://learn.microsoft.com/sharepoint/dev/general-development/how-to-avoid-getting-throttled-or-blocked-in-sharepoint-online#how-to-decorate-your-http-traffic).
type decorated struct {
	next    http.RoundTripper
	product string
}

// RoundTrip implements http.RoundTripper, on a copy of the request's headers.
func (d decorated) RoundTrip(req *http.Request) (*http.Response, error) {
	if d.product == "" {
		return d.next.RoundTrip(req)
	}
	r := *req
	r.Header = req.Header.Clone()
	if ua := r.Header.Get("User-Agent"); ua != "" {
		r.Header.Set("User-Agent", ua+" "+d.product)
	} else {
		r.Header.Set("User-Agent", d.product)
	}
	return d.next.RoundTrip(&r)
}
