package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"strings"

	"github.com/teamaccess/teamaccess/errkind"
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
		return "", nil, errkind.E(errkind.ErrUnauthenticated, "an API key starts with %q", keyPrefix)
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != idLen || len(secret) != secretLen {
		return "", nil, errkind.E(errkind.ErrUnauthenticated, "malformed API key")
	}
	if !only(id, isBase32) || !only(secret, isBase64URL) || !validLastChar(secret) {
		return "", nil, errkind.E(errkind.ErrUnauthenticated, "malformed API key")
	}
	sum := sha256.Sum256([]byte(secret))
	return keyIDPrefix + id, sum[:], nil
}

// only reports whether every byte of s passes ok; it checks a key's alphabet without
// decoding (and allocating) on every request.
func only(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isBase32(c byte) bool { return 'a' <= c && c <= 'z' || '2' <= c && c <= '7' }

func isBase64URL(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// validLastChar: 32 bytes in unpadded base64 leave 2 spare bits in the last character, which
// must be zero for the encoding to be canonical.
func validLastChar(secret string) bool {
	i := strings.IndexByte(b64Alphabet, secret[len(secret)-1])
	return i >= 0 && i&3 == 0
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

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
