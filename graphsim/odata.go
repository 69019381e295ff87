package graphsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// pageSize reads the page size from `Prefer: odata.maxpagesize=n` (concepts/
// delta-query-messages.md: "use the Prefer: odata.maxpagesize header") or $top, within max.
// It reports whether the preference was applied, for the Preference-Applied header.
func pageSize(r *http.Request, def, max int) (int, bool) {
	n, applied := def, false
	for _, pref := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(pref, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "odata.maxpagesize="); ok {
				if k, err := strconv.Atoi(v); err == nil && k > 0 {
					n, applied = k, true
				}
			}
		}
	}
	if top := r.URL.Query().Get("$top"); top != "" {
		if k, err := strconv.Atoi(top); err == nil && k > 0 {
			n = k
		}
	}
	return min(n, max), applied
}

// selectFields reads $select.
func selectFields(r *http.Request) []string {
	sel := r.URL.Query().Get("$select")
	if sel == "" {
		return nil
	}
	var out []string
	for _, f := range strings.Split(sel, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// shape renders an item as JSON properties, keeping only the selected ones (id always), and
// adding the Outlook items' @odata.etag (api-reference/v1.0/api/message-get.md, response
// example).
func shape(v any, sel []string, etag string) map[string]any {
	return selectProperties(toProperties(v), sel, etag)
}

// toProperties renders an item as its JSON properties.
func toProperties(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// selectProperties copies the selected properties (all if sel is empty, id always) and adds the
// etag.
func selectProperties(all map[string]any, sel []string, etag string) map[string]any {
	m := make(map[string]any, len(all)+1)
	if len(sel) == 0 {
		for k, v := range all {
			m[k] = v
		}
	} else {
		m["id"] = all["id"]
		for _, f := range sel {
			if v, ok := all[f]; ok {
				m[f] = v
			}
		}
	}
	if etag != "" {
		m["@odata.etag"] = `W/"` + etag + `"`
	}
	return m
}

// etagOf is an Outlook item's changeKey, the value of its etag.
func etagOf(v any) string {
	switch x := v.(type) {
	case *Message:
		return x.ChangeKey
	case *Event:
		return x.ChangeKey
	case *Contact:
		return x.ChangeKey
	}
	return ""
}

// writeCollection answers a collection page with @odata.context, value, and either
// @odata.nextLink or @odata.deltaLink (concepts/paging.md; concepts/delta-query-overview.md).
func (s *Sim) writeCollection(w http.ResponseWriter, context string, value []map[string]any, nextLink, deltaLink string, applied int) {
	body := map[string]any{"@odata.context": s.graph.url + "/v1.0/$metadata#" + context}
	if value == nil {
		value = []map[string]any{}
	}
	body["value"] = value
	if nextLink != "" {
		body["@odata.nextLink"] = nextLink
	}
	if deltaLink != "" {
		body["@odata.deltaLink"] = deltaLink
	}
	if applied > 0 {
		w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(applied))
	}
	writeJSONBody(w, http.StatusOK, body)
}

// link is a URL on the Graph surface with one query parameter.
func (s *Sim) link(path, param, value string) string {
	return s.graph.url + "/v1.0/" + path + "?" + param + "=" + url.QueryEscape(value)
}

// receivedFilter is the one $filter messages delta supports: receivedDateTime ge (or gt)
// a date-time (api-reference/v1.0/api/message-delta.md, "Optional query parameters").
var receivedFilter = regexp.MustCompile(`^receivedDateTime\s+(ge|gt)\s+(\S+)$`)

func parseReceivedFilter(f string) (string, error) {
	if f == "" {
		return "", nil
	}
	m := receivedFilter.FindStringSubmatch(strings.TrimSpace(f))
	if m == nil {
		return "", fmt.Errorf("unsupported filter")
	}
	return m[2], nil
}
