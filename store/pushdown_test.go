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
