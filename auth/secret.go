package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"strings"
)

// keyPrefix starts every key, so that secret scanners can find leaked ones.
const keyPrefix = "tak_"

// Lengths of a key's parts: the id is 80 random bits in lower-case base32, the secret 256
// random bits in unpadded base64url.
const (
	idLen     = 16
	secretLen = 43
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newKeyID returns a random key ID.
func newKeyID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return keyIDPrefix + idEncoding.EncodeToString(b[:])
}

// newSecret returns a key's full text for an id, and the hash to store.
func newSecret(id string) (token string, hash []byte) {
	id = strings.TrimPrefix(id, keyIDPrefix)
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(secret))
	return keyPrefix + id + "_" + secret, sum[:]
}

// parseToken splits a key into its id and the hash of its secret, checking its shape without
// touching the store.
func parseToken(token string) (id string, hash []byte, err error) {
	rest, ok := strings.CutPrefix(token, keyPrefix)
	if !ok {
		return "", nil, fmt.Errorf("%w: an API key starts with %q", ErrUnauthenticated, keyPrefix)
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != idLen || len(secret) != secretLen {
		return "", nil, fmt.Errorf("%w: malformed API key", ErrUnauthenticated)
	}
	if _, err := idEncoding.DecodeString(id); err != nil {
		return "", nil, fmt.Errorf("%w: malformed API key", ErrUnauthenticated)
	}
	if _, err := base64.RawURLEncoding.DecodeString(secret); err != nil {
		return "", nil, fmt.Errorf("%w: malformed API key", ErrUnauthenticated)
	}
	sum := sha256.Sum256([]byte(secret))
	return keyIDPrefix + id, sum[:], nil
}

// keyIDPrefix starts a key's ID, which names it in the API, logs and the audit log.
const keyIDPrefix = "key_"

// normalizeKeyID accepts a key's ID, its public prefix, or even its whole secret, and returns
// its ID: an admin revoking a leaked key may paste whatever they found.
func normalizeKeyID(s string) string {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, keyPrefix); ok {
		id, _, _ := strings.Cut(rest, "_")
		return keyIDPrefix + id
	}
	return s
}
