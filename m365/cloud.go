package m365

import (
	"fmt"
	"net/url"
	"strings"
)

// Cloud names the endpoints of one Microsoft cloud.
type Cloud struct {
	Name string
	// AuthorityHost is the identity platform's base URL, ending in a slash.
	AuthorityHost string
	// GraphURL is Microsoft Graph's base URL with its version.
	GraphURL string
}

// The national clouds (docs: Microsoft Graph, "National cloud deployments").
var (
	Global = Cloud{Name: "global", AuthorityHost: "https://login.microsoftonline.com/", GraphURL: "https://graph.microsoft.com/v1.0"}
	USGov  = Cloud{Name: "usgov", AuthorityHost: "https://login.microsoftonline.us/", GraphURL: "https://graph.microsoft.us/v1.0"}
	China  = Cloud{Name: "china", AuthorityHost: "https://login.chinacloudapi.cn/", GraphURL: "https://microsoftgraph.chinacloudapi.cn/v1.0"}
)

// CloudByName returns a national cloud.
func CloudByName(name string) (Cloud, error) {
	switch strings.ToLower(name) {
	case "", "global", "public":
		return Global, nil
	case "usgov", "us-government", "usgovernment":
		return USGov, nil
	case "china":
		return China, nil
	}
	return Cloud{}, fmt.Errorf("unknown cloud %q: use global, usgov, china, or custom endpoints", name)
}

// CustomCloud checks custom endpoints: both HTTPS (azidentity refuses anything else for the
// authority; see DEPENDENCIES.md).
func CustomCloud(authority, graph string) (Cloud, error) {
	for _, u := range []string{authority, graph} {
		p, err := url.Parse(u)
		if err != nil || p.Scheme != "https" || p.Host == "" {
			return Cloud{}, fmt.Errorf("%q is not an https URL", u)
		}
	}
	return Cloud{Name: "custom", AuthorityHost: strings.TrimSuffix(authority, "/") + "/", GraphURL: strings.TrimSuffix(graph, "/")}, nil
}
