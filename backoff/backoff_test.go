package backoff

import (
	"testing"
	"time"
)

func TestDelayDoublesToItsCapWithHalfOfItRandom(t *testing.T) {
	for n, want := range map[int]time.Duration{0: time.Minute, 1: 2 * time.Minute, 3: 8 * time.Minute, 9: time.Hour, 100: time.Hour} {
		for range 100 {
			d := Delay(time.Minute, time.Hour, n)
			if d < want/2 || d > want {
				t.Fatalf("Delay(1m, 1h, %d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
}
