package store

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// postgresURL is the throwaway PostgreSQL of scripts/bench/with-postgres.sh; CI runs these
// tests under it and sets TEAMACCESS_REQUIRE_POSTGRESQL, so that they cannot skip there.
func postgresURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("TEAMACCESS_BENCH_POSTGRESQL_URL")
	if url == "" {
		if os.Getenv("TEAMACCESS_REQUIRE_POSTGRESQL") != "" {
			t.Fatal("TEAMACCESS_REQUIRE_POSTGRESQL is set but TEAMACCESS_BENCH_POSTGRESQL_URL is not: run under scripts/bench/with-postgres.sh")
		}
		t.Skip("run under scripts/bench/with-postgres.sh: needs PostgreSQL")
	}
	return url
}

// On FerretDB over PostgreSQL a lookup by _id, and a mailbox's documents, are found through an
// index rather than by reading the whole table; several processes starting at once on the same
// database all start, and a restart finds the indexes made.
func TestFerretDBOnPostgreSQLFindsByIndex(t *testing.T) {
	t.Parallel()
	url := postgresURL(t)
	db := fmt.Sprintf("pushdown_%d", time.Now().UnixNano())
	open := func() (*Store, error) {
		return Open(t.Context(), Options{DataDir: t.TempDir(), PostgreSQLURL: url, Database: db, Logger: quiet()})
	}
	stores, errs := make([]*Store, 3), make([]error, 3)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = open() })
	}
	wg.Wait()
	for i := range stores {
		require.NoError(t, errs[i], "process %d of three starting at once on a fresh database", i)
	}
	for _, s := range stores[1:] {
		require.NoError(t, s.Close(t.Context()))
	}
	s := stores[0]
	o := s.Org("org_explain") // ExplainQueries' organisation
	var as []Activity
	for i := range 3000 {
		mb := fmt.Sprintf("mailbox%03d", i%100)
		as = append(as, Activity{ID: fmt.Sprintf("org_explain|%s|mail:inbox|m%d", mb, i), MailboxID: mb, Scope: "mail:inbox",
			GraphID: fmt.Sprintf("m%d", i), Kind: "EMAIL", Subject: strings.Repeat("s", 200), OccurredAt: time.Now().Add(-time.Duration(i) * time.Minute)})
	}
	_, err := o.WriteActivities(t.Context(), as)
	require.NoError(t, err)
	got, err := o.Activity(t.Context(), as[1234].ID)
	require.NoError(t, err)
	require.Equal(t, as[1234].GraphID, got.GraphID)
	live, err := o.LiveActivities(t.Context(), "mailbox007")
	require.NoError(t, err)
	require.Len(t, live, 30)

	require.NoError(t, s.Close(t.Context()))
	s, err = open() // the indexes exist: a restart neither fails nor builds them again
	require.NoError(t, err)
	defer s.Close(t.Context())
	plans, err := s.ExplainQueries(t.Context())
	require.NoError(t, err)
	byQuery := map[string]Plan{}
	for _, p := range plans {
		byQuery[p.Query] = p
		t.Logf("%-60s %-40s %s", p.Query, p.Index, p.Summary)
	}
	for _, q := range []string{"activity(id)", "an activity by _id alone", "activities(filter: {mailboxIds: [one], occurredAfter})"} {
		require.True(t, strings.HasPrefix(byQuery[q].Index, "teamaccess_eq_"), "%s: %s", q, byQuery[q].Summary)
	}
}

// Every collection the store names is created under the schema lock on PostgreSQL (see
// lockSchema): one missing from pushdownFields would be created later by whichever process
// wrote to it first, which the others' FerretDB would not know of.
func TestEveryCollectionIsCreatedUnderTheSchemaLock(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if !strings.HasSuffix(id.Name, "Collection") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok {
						continue
					}
					coll, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					_, listed := pushdownFields[coll]
					require.True(t, listed, "%s (%s in %s) is not in pushdownFields", coll, id.Name, name)
					found++
				}
			}
		}
	}
	require.Len(t, pushdownFields, found, "pushdownFields names only the store's collections")
}

// The records of a few subscriptions, as the notification worker and intake read them: found
// by their ids and by Graph's, the same on every store, and none for no id.
func TestGraphSubscriptionsAreFoundByTheirIDs(t *testing.T) {
	t.Parallel()
	for _, pg := range []bool{false, true} {
		t.Run(fmt.Sprintf("postgresql=%v", pg), func(t *testing.T) {
			t.Parallel()
			o := Options{DataDir: t.TempDir(), Logger: quiet()}
			if pg {
				o.PostgreSQLURL, o.Database = postgresURL(t), fmt.Sprintf("subs_%d", time.Now().UnixNano())
			}
			s, err := Open(t.Context(), o)
			require.NoError(t, err)
			defer s.Close(t.Context())
			s.eqOnly = pg
			ids, subs := seedSubscriptions(t, s, 50)
			byID, err := s.GraphSubscriptionsByID(t.Context(), []string{ids[3], ids[7], ids[3], "o|nobody|mail"})
			require.NoError(t, err)
			require.Len(t, byID, 2)
			require.Equal(t, subs[7], byID[ids[7]].SubscriptionID)
			recs, err := s.GraphSubscriptionsBySubscriptionID(t.Context(), []string{subs[9], "unknown", subs[9], subs[11]})
			require.NoError(t, err)
			require.Len(t, recs, 2)
			none, err := s.GraphSubscriptionsBySubscriptionID(t.Context(), nil)
			require.NoError(t, err)
			require.Empty(t, none)
		})
	}
}

func seedSubscriptions(t testing.TB, s *Store, n int) (ids, subs []string) {
	for i := range n {
		g := GraphSubscription{ID: fmt.Sprintf("o|m%04d|mail", i), OrgID: "o", TenantID: "t", MailboxID: fmt.Sprintf("m%04d", i),
			Scope: "mail", SubscriptionID: fmt.Sprintf("sub-%04d", i), LastError: strings.Repeat("e", 100)}
		require.NoError(t, s.SaveGraphSubscription(t.Context(), g))
		ids, subs = append(ids, g.ID), append(subs, g.SubscriptionID)
	}
	return ids, subs
}

// BenchmarkGraphSubscriptionLookup: the records of 10 subscriptions among 3,000 on FerretDB
// over PostgreSQL (scripts/bench/with-postgres.sh), one equality query each against one `$in`
// query (the baseline), as the notification worker reads them for each batch.
func BenchmarkGraphSubscriptionLookup(b *testing.B) {
	url := os.Getenv("TEAMACCESS_BENCH_POSTGRESQL_URL")
	if url == "" {
		b.Skip("run under scripts/bench/with-postgres.sh: needs PostgreSQL")
	}
	s, err := Open(b.Context(), Options{DataDir: b.TempDir(), PostgreSQLURL: url, Database: fmt.Sprintf("subs_%d", time.Now().UnixNano()), Logger: quiet()})
	require.NoError(b, err)
	defer s.Close(b.Context())
	var docs []any
	var ids []string
	for i := range 3000 {
		id := fmt.Sprintf("o|m%04d|mail", i)
		docs = append(docs, GraphSubscription{ID: id, OrgID: "o", MailboxID: fmt.Sprintf("m%04d", i), Scope: "mail", SubscriptionID: fmt.Sprintf("sub-%04d", i)})
		ids = append(ids, id)
	}
	_, err = s.db.Collection(graphSubscriptionCollection).InsertMany(b.Context(), docs)
	require.NoError(b, err)
	want := ids[1000:1010]
	for _, c := range []struct {
		name   string
		eqOnly bool
	}{{"in", false}, {"each", true}} {
		b.Run(c.name, func(b *testing.B) {
			s.eqOnly = c.eqOnly
			for b.Loop() {
				got, err := s.GraphSubscriptionsByID(b.Context(), want)
				if err != nil || len(got) != len(want) {
					b.Fatalf("%d of %d: %v", len(got), len(want), err)
				}
			}
		})
	}
}
