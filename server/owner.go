package server

import (
	"os"
	"strconv"
	"strings"
)

// stoppedOwner says whether a lease owner named by processOwner (host/pid/random) is a process
// of this host that no longer runs: a process that crashed and was started again here, whose
// partitions are then taken at once rather than when their leases lapse. A pid reused by
// another program only makes the wait the lease's.
func stoppedOwner(owner string) bool {
	parts := strings.Split(owner, "/")
	if len(parts) != 3 {
		return false
	}
	host, _ := os.Hostname()
	pid, err := strconv.Atoi(parts[1])
	if parts[0] != host || err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return !processRuns(pid)
}
