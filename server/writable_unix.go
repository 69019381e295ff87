//go:build unix

package server

import "golang.org/x/sys/unix"

// writable asks the kernel whether this process may create files in dir, without trying.
func writable(dir string) error {
	return unix.Access(dir, unix.W_OK|unix.X_OK)
}
