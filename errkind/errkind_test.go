package errkind

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindsAndMessages(t *testing.T) {
	cause := errors.New("strconv: bad digit")
	err := fmt.Errorf("list mailboxes: %w", E(ErrInvalid, "the cursor %q is not one of ours: %w", "abc", cause))
	if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) {
		t.Fatalf("kind lost: %v", err)
	}
	if !errors.Is(err, cause) {
		t.Fatal("the cause is hidden from errors.Is")
	}
	if got, want := Message(err), `the cursor "abc" is not one of ours: strconv: bad digit`; got != want {
		t.Fatalf("Message = %q, want %q", got, want)
	}
	if KindOf(err) != ErrInvalid || KindOf(cause) != nil {
		t.Fatal("KindOf")
	}
	if Message(cause) != "" {
		t.Fatal("an internal error has no message for the caller")
	}
}
