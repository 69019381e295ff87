//go:build unix

package server

import (
	"errors"
	"syscall"
)

// processRuns says whether a process with the pid runs (signal 0 checks without sending).
func processRuns(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
