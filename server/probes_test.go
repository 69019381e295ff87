package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/teamaccess/teamaccess/activities"
)

// probe is one of the exhaustion probes: a request that once took the server's CPU for
// seconds or minutes, or its memory, and the code its refusal must carry.
type probe struct {
	name, query string
	vars        map[string]any
	code        string
}

func repeatDoc(open, item, close string, n int, args ...func(i int) any) string {
	var b strings.Builder
	b.WriteString(open)
	for i := range n {
		if len(args) > 0 {
			fmt.Fprintf(&b, item, args[0](i))
		} else {
			b.WriteString(item)
		}
	}
	b.WriteString(close)
	return b.String()
}

func exhaustionProbes() []probe {
	id := func(i int) any { return i }
	var c strings.Builder
	c.WriteString("{ ...F0 }\n")
	for i := range 3000 {
		fmt.Fprintf(&c, "fragment F%d on Query { ...F%d }\n", i, i+1)
	}
	c.WriteString("fragment F3000 on Query { viewer { role } }")
	chain := c.String()
	var d strings.Builder
	d.WriteString("{ ...F0 }\n")
	for i := range 24 {
		fmt.Fprintf(&d, "fragment F%d on Query { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	d.WriteString("fragment F24 on Query { viewer { role } }")
	return []probe{
		{"a 900 KB string variable", `query($t: String!) { activities(filter: {text: $t}) { totalCount } }`,
			map[string]any{"t": strings.Repeat("a", 900_000)}, "BAD_USER_INPUT"},
		{"1,000 aliases of activities(first: 1)", repeatDoc("{ ", "a%d: activities(first: 1) { edges { node { id } } } ", "}", 1000, id), nil, "GRAPHQL_PARSE_FAILED"},
		{"1,000 aliases of node(id:)", repeatDoc("{ ", `n%[1]d: node(id: "ak_%[1]d") { id } `, "}", 1000, id), nil, "GRAPHQL_PARSE_FAILED"},
		{"10,000 duplicated fields", repeatDoc("{ viewer { ", "role ", "} }", 10000), nil, "GRAPHQL_PARSE_FAILED"},
		{"20,000 duplicated fields", repeatDoc("{ viewer { ", "role ", "} }", 20000), nil, "GRAPHQL_PARSE_FAILED"},
		{"10,000 inline fragments", repeatDoc("{ ", "... on Query { viewer { role } } ", "}", 10000), nil, "GRAPHQL_PARSE_FAILED"},
		{"a 3,000-fragment chain", chain, nil, "GRAPHQL_PARSE_FAILED"},
		{"fragments that each spread the next twice", d.String(), nil, "COMPLEXITY_LIMIT_EXCEEDED"},
		{"4,000 aliases of one field with different arguments", repeatDoc("{ ", `a: node(id: "ak_%d") { id } `, "}", 4000, id), nil, "GRAPHQL_PARSE_FAILED"},
		{"250 aliases of one field with different arguments (31,000 conflicts)", repeatDoc("{ ", `a: node(id: "%d") { id } `, "}", 250, id), nil, "GRAPHQL_VALIDATION_FAILED"},
		{"60 aliases of activities(first: 100)", repeatDoc("{ ", "a%d: activities(first: 100) { edges { node { id } } } ", "}", 60, id), nil, "COMPLEXITY_LIMIT_EXCEEDED"},
	}
}

// Each probe is refused with its limit's code over HTTP, a websocket and an event stream,
// within 100 ms of the process's CPU, and the heap does not keep what they brought. (Not
// parallel: the CPU is the whole process's.)
func TestExhaustionProbesAreRefusedCheaplyOverEveryTransport(t *testing.T) {
	e := newActivityEnv(t, activities.HubOptions{})
	ctx := wsContext(t)
	ws := dialGraphQL(t, ctx, e.url, "graphql-transport-ws", e.key)
	t.Cleanup(func() { _ = ws.CloseNow() }) // the server's reader ends with it (goroutine-counting tests follow)
	transports := map[string]func(p probe) []gqlError{
		"http": func(p probe) []gqlError {
			_, out := postGraphQLVars(t, e.url, p.query, p.vars, "Authorization", "Bearer "+e.key)
			return out.Errors
		},
		"websocket": func(p probe) []gqlError {
			payload, _ := json.Marshal(map[string]any{"query": p.query, "variables": p.vars})
			require.NoError(t, wsjson.Write(ctx, ws, wsMessage{ID: p.name, Type: "subscribe", Payload: payload}))
			m := readWS(t, ctx, ws)
			require.Equal(t, p.name, m.ID)
			var errs []gqlError
			switch m.Type {
			case "error": // a request error: the payload is the errors
				require.NoError(t, json.Unmarshal(m.Payload, &errs))
			case "next":
				var r gqlResponse
				require.NoError(t, json.Unmarshal(m.Payload, &r))
				errs = r.Errors
				require.Equal(t, "complete", readWS(t, ctx, ws).Type)
			default:
				t.Fatalf("%s: websocket answered %s", p.name, m.Type)
			}
			return errs
		},
		"sse": func(p probe) []gqlError {
			resp := openEventStream(t, ctx, e.url, e.key, p.query, p.vars)
			defer resp.Body.Close() // now: each probe opens one
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.Contains(data, "errors") {
					var r gqlResponse
					require.NoError(t, json.Unmarshal([]byte(data), &r), data)
					return r.Errors
				}
			}
			t.Fatalf("%s: the event stream ended without errors (status %d)", p.name, resp.StatusCode)
			return nil
		},
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, p := range exhaustionProbes() {
		for _, tr := range []string{"http", "websocket", "sse"} {
			start := cpuTime()
			errs := transports[tr](p)
			spent := cpuTime() - start
			require.NotEmpty(t, errs, "%s over %s", p.name, tr)
			require.LessOrEqual(t, len(errs), maxValidationErrors+1, "%s over %s", p.name, tr)
			require.Equal(t, p.code, errs[0].Extensions["code"], "%s over %s: %s", p.name, tr, errs[0].Message)
			require.Less(t, spent, 100*time.Millisecond, "%s over %s", p.name, tr)
			t.Logf("%-52s %-9s %6.1f ms CPU  %s", p.name, tr, float64(spent.Microseconds())/1000, firstLine(errs[0].Message))
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap in use: %d MiB before the probes, %d MiB after", before.HeapInuse>>20, after.HeapInuse>>20)
	require.Less(t, grown, int64(64<<20), "the probes left their memory behind")
}

type gqlError = struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 70 {
		s = s[:70] + "…"
	}
	return s
}
