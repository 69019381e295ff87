package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Plan is how the database runs one of the queries the API offers.
type Plan struct {
	Query      string // what the API asks
	Collection string
	Index      string // the index the plan uses, "" for none (a collection scan)
	Summary    string // the plan's stages, or FerretDB's pushdown report
}

// ExplainQueries asks the database how it runs each query shape the API and the workers use,
// for a query plan review (`teamaccess explain`). MongoDB names the winning plan's stages and
// index; FerretDB says which parts it pushes down to its backend.
func (s *Store) ExplainQueries(ctx context.Context) ([]Plan, error) {
	o := s.Org("org_explain")
	t := time.Now().UTC()
	act := func(name string, q ActivityQuery) query {
		q.Limit = 51
		f, sort := o.activityFind(q)
		return query{name, activityCollection, f, sort, 51}
	}
	con := func(name string, q ContactQuery) query {
		q.Limit = 51
		f, sort := o.contactFind(q)
		return query{name, contactCollection, f, sort, 51}
	}
	qs := []query{
		act("activities(first: 50)", ActivityQuery{}),
		act("activities(first: 50, after: cursor)", ActivityQuery{AfterAt: &t, AfterID: "x"}),
		act("activities(filter: {mailboxIds: [one], occurredAfter})", ActivityQuery{MailboxIDs: []string{"u"}, OccurredAfter: &t}),
		act("activities(filter: {mailboxIds: [two]})", ActivityQuery{MailboxIDs: []string{"u", "v"}}),
		act("activities(filter: {participantEmail})", ActivityQuery{ParticipantEmail: "a@example.com"}),
		act("activities(filter: {domain})", ActivityQuery{Domain: "example.com"}),
		act("activities(filter: {kinds: [EMAIL], direction})", ActivityQuery{Kinds: []string{"EMAIL"}, Direction: "INBOUND"}),
		act("activities(filter: {text})", ActivityQuery{Text: "renewal"}),
		act("activities(last: 50) (ascending)", ActivityQuery{Ascending: true}),
		con("contacts(first: 50)", ContactQuery{}),
		con("contacts(filter: {email})", ContactQuery{Email: "a@example.com"}),
		con("contacts(filter: {search})", ContactQuery{Search: "contoso"}),
		{"activity(id)", activityCollection, o.filter(bson.E{Key: "_id", Value: "x"}), nil, 1},
		{"an activity by _id alone", activityCollection, bson.D{{Key: "_id", Value: "x"}}, nil, 1},
		{"live feed: changes after a number", changeCollection,
			append(o.filter(), bson.E{Key: "seq", Value: bson.D{{Key: "$gt", Value: int64(1)}}}), bson.D{{Key: "seq", Value: 1}}, 500},
		{"notification worker: due inbox entries", inboxCollection,
			bson.D{{Key: "notBefore", Value: bson.D{{Key: "$lte", Value: t}}}}, bson.D{{Key: "_id", Value: 1}}, 500},
		{"notification intake: subscriptions by id", graphSubscriptionCollection,
			bson.D{{Key: "subscriptionId", Value: bson.D{{Key: "$in", Value: bson.A{"x"}}}}}, nil, 0},
		{"mailboxes due a probe", mailboxCollection,
			o.filter(bson.E{Key: "nextCheckAt", Value: bson.D{{Key: "$lte", Value: t}}}), nil, 0},
	}
	out := make([]Plan, 0, len(qs))
	for _, q := range qs {
		p, err := s.explain(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("explain %s: %w", q.name, err)
		}
		out = append(out, p)
	}
	return out, nil
}

type query struct {
	name, collection string
	filter, sort     bson.D
	limit            int
}

func (s *Store) explain(ctx context.Context, q query) (Plan, error) {
	find := bson.D{{Key: "find", Value: q.collection}, {Key: "filter", Value: q.filter}}
	if q.sort != nil {
		find = append(find, bson.E{Key: "sort", Value: q.sort})
	}
	if q.limit > 0 {
		find = append(find, bson.E{Key: "limit", Value: q.limit})
	}
	var res bson.M
	if err := s.db.RunCommand(ctx, bson.D{{Key: "explain", Value: find}, {Key: "verbosity", Value: "queryPlanner"}}).Decode(&res); err != nil {
		return Plan{}, err
	}
	p := Plan{Query: q.name, Collection: q.collection}
	qp := asM(res["queryPlanner"])
	if qp != nil {
		if wp := asM(qp["winningPlan"]); wp != nil { // MongoDB
			var stages []string
			for st := wp; st != nil; {
				stage, _ := st["stage"].(string)
				if name, ok := st["indexName"].(string); ok {
					stage += " " + name
					p.Index = name
				}
				stages = append(stages, stage)
				next := asM(st["inputStage"])
				if next == nil {
					if in, ok := st["inputStages"].(bson.A); ok && len(in) > 0 {
						next = asM(in[0])
					}
				}
				st = next
			}
			p.Summary = strings.Join(stages, " ← ")
			return p, nil
		}
	}
	// FerretDB: which parts its backend runs, and the backend's own plan.
	var parts []string
	for _, k := range []string{"filterPushdown", "sortPushdown", "limitPushdown"} {
		if v, ok := res[k].(bool); ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	if plan := asM(qp["Plan"]); plan != nil {
		var stages []string
		stages, p.Index = pgPlan(plan)
		parts = append(parts, strings.Join(stages, " ← "))
	} else if qp != nil {
		parts = append(parts, fmt.Sprint(qp["Plan"]))
	}
	p.Summary = strings.Join(parts, " ")
	return p, nil
}

// pgPlan reads a PostgreSQL plan (EXPLAIN's JSON, as FerretDB over PostgreSQL reports it):
// its nodes along the first input of each, as the MongoDB stages are shown, and the first
// index it scans ("" for none). FerretDB over SQLite reports no plan of its backend.
func pgPlan(node bson.M) (stages []string, index string) {
	for node != nil {
		stage, _ := node["Node Type"].(string)
		if name, ok := node["Index Name"].(string); ok {
			stage += " " + name
			if index == "" {
				index = name
			}
		}
		stages = append(stages, stage)
		children, _ := node["Plans"].(bson.A)
		node = nil
		if len(children) > 0 {
			node = asM(children[0])
		}
	}
	return stages, index
}

// asM is a nested document as a map, whichever way the driver decoded it.
func asM(v any) bson.M {
	switch d := v.(type) {
	case bson.M:
		return d
	case bson.D:
		m := make(bson.M, len(d))
		for _, e := range d {
			m[e.Key] = e.Value
		}
		return m
	}
	return nil
}
