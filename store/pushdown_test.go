package store

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
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
	onEveryStore(t, "subs", func(t *testing.T, s *Store) {
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

// A probe's result lands on exactly the mailboxes it names, of the organisation it names, both
// as one bulk write of updates by _id (FerretDB over PostgreSQL, a batch of at most findEachMax)
// and as one update of an `$in` list (otherwise, and for larger batches).
func TestMailboxAccessIsRecordedOnExactlyTheNamedMailboxes(t *testing.T) {
	t.Parallel()
	onEveryStore(t, "access", func(t *testing.T, s *Store) {
		now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
		var users []Mailbox
		var ids []string
		for i := range findEachMax + 10 {
			u := fmt.Sprintf("u%03d", i)
			users, ids = append(users, Mailbox{UserID: u, DisplayName: u}), append(ids, u)
		}
		for _, org := range []string{"a", "b"} {
			require.NoError(t, s.Org(org).UpsertDirectoryUsers(t.Context(), "t-"+org, users, now))
		}
		later, next := now.Add(time.Minute), now.Add(time.Hour)
		few, many := ids[:3], ids[3:3+findEachMax+1]
		require.NoError(t, s.Org("a").SaveMailboxAccess(t.Context(), few, "ACCESSIBLE", "", "", later, next, true, "UNKNOWN"))
		require.NoError(t, s.Org("a").SaveMailboxAccess(t.Context(), many, "BLOCKED", "ErrorAccessDenied", "policy", later, next, true, "UNKNOWN"))
		for _, org := range []string{"a", "b"} {
			got, err := s.Org(org).MailboxesByUserID(t.Context(), ids)
			require.NoError(t, err)
			require.Len(t, got, len(ids))
			for _, m := range got {
				want := "UNKNOWN"
				switch i := slices.Index(ids, m.UserID); {
				case org == "b" || i >= 3+len(many):
				case i < 3:
					want = "ACCESSIBLE"
				default:
					want = "BLOCKED"
				}
				require.Equal(t, want, m.Access, "%s %s", org, m.UserID)
				if want == "UNKNOWN" {
					require.Nil(t, m.AccessChangedAt, "%s %s", org, m.UserID)
					require.True(t, m.NextCheckAt.Equal(now), "%s %s", org, m.UserID)
					continue
				}
				require.NotNil(t, m.AccessChangedAt)
				require.True(t, m.AccessChangedAt.Equal(later))
				require.True(t, m.NextCheckAt.Equal(next))
				require.Equal(t, "UNKNOWN", m.PreviousAccess)
			}
		}
	})
}

// onEveryStore runs test in parallel on the embedded FerretDB over SQLite and over PostgreSQL
// (a fresh database named after prefix), which answers only equality filters from its indexes.
func onEveryStore(t *testing.T, prefix string, test func(t *testing.T, s *Store)) {
	for _, pg := range []bool{false, true} {
		t.Run(fmt.Sprintf("postgresql=%v", pg), func(t *testing.T) {
			t.Parallel()
			o := Options{DataDir: t.TempDir(), Logger: quiet()}
			if pg {
				o.PostgreSQLURL, o.Database = postgresURL(t), fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
			}
			s, err := Open(t.Context(), o)
			require.NoError(t, err)
			defer s.Close(t.Context())
			require.Equal(t, pg, s.eqOnly)
			test(t, s)
		})
	}
}
