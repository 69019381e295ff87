package auth

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/teamaccess/teamaccess/store"
	"github.com/teamaccess/teamaccess/testenv"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestDirectory(t *testing.T) (*Directory, *store.Store, *clock) {
	t.Helper()
	st := testenv.Store(t)
	d := NewDirectory(st)
	c := &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	d.now = c.now
	return d, st, c
}

var tokenShape = regexp.MustCompile(`^tak_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$`)

func TestKeysAuthenticateAndAreStoredOnlyAsHashes(t *testing.T) {
	t.Parallel()
	d, st, _ := newTestDirectory(t)
	ctx := t.Context()
	org, err := d.CreateOrganization(ctx, "Acme")
	require.NoError(t, err)
	k, secret, err := d.CreateKey(ctx, CommandLine(org.ID), NewKey{Name: "  crm sync  ", Role: RoleReader})
	require.NoError(t, err)
	require.Regexp(t, tokenShape, secret)
	require.True(t, strings.HasPrefix(secret, k.Prefix()+"_"), "the secret starts with the key's public prefix")
	require.Equal(t, "crm sync", k.Name)

	id, err := d.Authenticate(ctx, secret)
	require.NoError(t, err)
	require.Equal(t, Identity{OrgID: org.ID, KeyID: k.ID, KeyName: "crm sync", Role: RoleReader}, id)

	stored, err := st.APIKeyForAuthentication(ctx, k.ID)
	require.NoError(t, err)
	secretPart := secret[len(k.Prefix())+1:]
	dump := bson.Raw(must(bson.Marshal(stored))).String()
	require.NotContains(t, dump, secretPart, "the secret is not stored")
	require.Len(t, stored.Hash, 32)
	require.NotEqual(t, []byte(secretPart), stored.Hash)

	for _, bad := range []string{
		"", "tak_", "nope", "Bearer " + secret, secret + "x", secret[:len(secret)-1],
		strings.Replace(secret, "tak_", "tok_", 1),
		k.Prefix() + "_" + strings.Repeat("A", 43),                       // right id, wrong secret
		"tak_" + strings.Repeat("a", 16) + "_" + strings.Repeat("A", 43), // unknown id
	} {
		_, err := d.Authenticate(ctx, bad)
		require.ErrorIs(t, err, ErrUnauthenticated, "%q", bad)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestRevokedAndExpiredKeysAreRefused(t *testing.T) {
	t.Parallel()
	d, st, clk := newTestDirectory(t)
	ctx := t.Context()
	org, _ := d.CreateOrganization(ctx, "Acme")
	admin := CommandLine(org.ID)
	k, secret, err := d.CreateKey(ctx, admin, NewKey{Name: "doomed", Role: RoleAdmin})
	require.NoError(t, err)
	_, err = d.Authenticate(ctx, secret) // now cached
	require.NoError(t, err)
	revoked, err := d.RevokeKey(ctx, admin, k.ID)
	require.NoError(t, err)
	require.Equal(t, KeyRevoked, revoked.Status(clk.now()))
	_, err = d.Authenticate(ctx, secret)
	require.ErrorIs(t, err, ErrUnauthenticated, "refused at once despite the cache")
	require.ErrorContains(t, err, "revoked")

	exp := clk.now().Add(time.Hour)
	_, secret, err = d.CreateKey(ctx, admin, NewKey{Name: "short-lived", Role: RoleReader, ExpiresAt: &exp})
	require.NoError(t, err)
	_, err = d.Authenticate(ctx, secret)
	require.NoError(t, err)
	clk.t = exp
	_, err = d.Authenticate(ctx, secret)
	require.ErrorContains(t, err, "expired")

	past := clk.now().Add(-time.Second)
	_, _, err = d.CreateKey(ctx, admin, NewKey{Name: "already gone", Role: RoleReader, ExpiresAt: &past})
	require.ErrorIs(t, err, ErrInvalid)

	// Another process (the command line, another replica) revokes: refused within the cache TTL.
	k3, secret3, err := d.CreateKey(ctx, admin, NewKey{Name: "revoked elsewhere", Role: RoleReader})
	require.NoError(t, err)
	_, err = d.Authenticate(ctx, secret3)
	require.NoError(t, err)
	_, err = NewDirectory(st).RevokeKey(ctx, admin, k3.Prefix())
	require.NoError(t, err)
	clk.t = clk.t.Add(DefaultCacheTTL)
	_, err = d.Authenticate(ctx, secret3)
	require.ErrorContains(t, err, "revoked")
}

func TestOrganisationsCannotTouchEachOthersKeys(t *testing.T) {
	t.Parallel()
	d, _, _ := newTestDirectory(t)
	ctx := t.Context()
	a, _ := d.CreateOrganization(ctx, "A")
	b, _ := d.CreateOrganization(ctx, "B")
	ka, secretA, err := d.CreateKey(ctx, CommandLine(a.ID), NewKey{Name: "a key", Role: RoleAdmin})
	require.NoError(t, err)
	_, _, err = d.CreateKey(ctx, CommandLine(b.ID), NewKey{Name: "b key", Role: RoleAdmin})
	require.NoError(t, err)

	keys, err := d.Keys(ctx, b.ID)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.Equal(t, "b key", keys[0].Name)
	_, err = d.Key(ctx, b.ID, ka.ID)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = d.RevokeKey(ctx, CommandLine(b.ID), ka.ID)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = d.Authenticate(ctx, secretA)
	require.NoError(t, err, "B could not revoke A's key")

	page, err := d.AuditLog(ctx, b.ID, 10, "")
	require.NoError(t, err)
	require.Len(t, page.Entries, 1, "B sees only its own actions")
	require.Contains(t, page.Entries[0].Summary, "b key")
}

func TestUsageIsWrittenInBulkNotPerRequest(t *testing.T) {
	t.Parallel()
	d, _, clk := newTestDirectory(t)
	ctx := t.Context()
	org, _ := d.CreateOrganization(ctx, "Acme")
	k, secret, _ := d.CreateKey(ctx, CommandLine(org.ID), NewKey{Name: "busy", Role: RoleReader})
	for range 5 {
		_, err := d.Authenticate(ctx, secret)
		require.NoError(t, err)
	}
	got, err := d.Key(ctx, org.ID, k.ID)
	require.NoError(t, err)
	require.Nil(t, got.LastUsedAt, "no write per request")
	require.NoError(t, d.FlushUsage(ctx))
	got, _ = d.Key(ctx, org.ID, k.ID)
	require.NotNil(t, got.LastUsedAt)
	require.True(t, got.LastUsedAt.Equal(clk.now()))
	clk.t = clk.t.Add(-time.Hour) // an older use never moves it back
	_, _ = d.Authenticate(ctx, secret)
	require.NoError(t, d.FlushUsage(ctx))
	got2, _ := d.Key(ctx, org.ID, k.ID)
	require.True(t, got2.LastUsedAt.Equal(*got.LastUsedAt))
}

func TestBootstrapHappensOnce(t *testing.T) {
	t.Parallel()
	d, st, _ := newTestDirectory(t)
	ctx := t.Context()
	b, err := d.Bootstrap(ctx)
	require.NoError(t, err)
	require.NotNil(t, b)
	require.Equal(t, RoleAdmin, b.Key.Role)
	id, err := d.Authenticate(ctx, b.Secret)
	require.NoError(t, err)
	require.Equal(t, b.Org.ID, id.OrgID)

	again, err := d.Bootstrap(ctx)
	require.NoError(t, err)
	require.Nil(t, again)
	again, err = NewDirectory(st).Bootstrap(ctx)
	require.NoError(t, err)
	require.Nil(t, again, "nor from another process")
}

func TestAuditLogPagesNewestFirstAndIsPruned(t *testing.T) {
	t.Parallel()
	d, _, clk := newTestDirectory(t)
	ctx := t.Context()
	org, _ := d.CreateOrganization(ctx, "Acme")
	actor := CommandLine(org.ID)
	for i := range 5 {
		require.NoError(t, d.Record(ctx, actor, "test.action", "", string(rune('a'+i))))
		clk.t = clk.t.Add(time.Minute)
	}
	var seen []string
	after := ""
	for {
		page, err := d.AuditLog(ctx, org.ID, 2, after)
		require.NoError(t, err)
		for _, e := range page.Entries {
			seen = append(seen, e.Summary)
		}
		if !page.HasNext {
			break
		}
		after = page.Cursors[len(page.Cursors)-1]
	}
	require.Equal(t, []string{"e", "d", "c", "b", "a"}, seen)

	_, err := d.AuditLog(ctx, org.ID, 101, "")
	require.ErrorIs(t, err, ErrInvalid)
	_, err = d.AuditLog(ctx, org.ID, 10, "not a cursor!")
	require.ErrorIs(t, err, ErrInvalid)

	n, err := d.PruneAudit(ctx, 150*time.Second) // keeps the entries of the last 2.5 minutes
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	page, _ := d.AuditLog(ctx, org.ID, 10, "")
	require.Len(t, page.Entries, 2)
}

func TestNamesAreChecked(t *testing.T) {
	t.Parallel()
	d, _, _ := newTestDirectory(t)
	ctx := t.Context()
	_, err := d.CreateOrganization(ctx, "   ")
	require.ErrorIs(t, err, ErrInvalid)
	org, _ := d.CreateOrganization(ctx, "Acme")
	for _, name := range []string{"", strings.Repeat("x", 101), "bell\a"} {
		_, _, err := d.CreateKey(ctx, CommandLine(org.ID), NewKey{Name: name, Role: RoleReader})
		require.ErrorIs(t, err, ErrInvalid, "%q", name)
	}
	_, _, err = d.CreateKey(ctx, CommandLine(org.ID), NewKey{Name: "ok", Role: Role("OWNER")})
	require.ErrorIs(t, err, ErrInvalid)
	keys, _ := d.Keys(ctx, org.ID)
	require.Empty(t, keys, "bad input changes nothing")
}

func TestAKeyLimitedToOriginsWorksOnlyFromThem(t *testing.T) {
	t.Parallel()
	d, _, _ := newTestDirectory(t)
	ctx := t.Context()
	org, _ := d.CreateOrganization(ctx, "Acme")
	for _, bad := range []string{"app.example.com", "https://app.example.com/path", "https://*.example.com", "ftp://x.example.com",
		"https://user@app.example.com", "https://app.example.com?x=1", "null"} {
		_, _, err := d.CreateKey(ctx, CommandLine(org.ID), NewKey{Name: "frontend", Role: RoleReader, AllowedOrigins: []string{bad}})
		require.ErrorIs(t, err, ErrInvalid, bad)
	}
	keys, _ := d.Keys(ctx, org.ID)
	require.Empty(t, keys, "bad input changes nothing")

	k, secret, err := d.CreateKey(ctx, CommandLine(org.ID), NewKey{Name: "frontend", Role: RoleReader,
		AllowedOrigins: []string{"https://App.Example.com/", "http://localhost:3000", "https://app.example.com"}})
	require.NoError(t, err)
	require.Equal(t, []string{"https://app.example.com", "http://localhost:3000"}, k.AllowedOrigins)
	id, err := d.Authenticate(ctx, secret)
	require.NoError(t, err)
	require.NoError(t, id.CheckOrigin("https://app.example.com"))
	require.NoError(t, id.CheckOrigin("http://localhost:3000"))
	for _, origin := range []string{"https://evil.example", "", "https://app.example.com:8443", "http://app.example.com"} {
		err := id.CheckOrigin(origin)
		require.ErrorIs(t, err, ErrForbidden, origin)
		require.Contains(t, err.Error(), "may be used only from https://app.example.com, http://localhost:3000")
	}
	other, _, err := d.CreateKey(ctx, CommandLine(org.ID), NewKey{Name: "back end", Role: RoleReader})
	require.NoError(t, err)
	require.Empty(t, other.AllowedOrigins)
}
