//go:build !unix

package server

// processRuns cannot tell here: every owner is taken to run until its lease lapses.
func processRuns(int) bool { return true }
