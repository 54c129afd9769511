//go:build !unix

package queue

import (
	"os"
	"time"
)

// lockFile opens the lock file without locking it: there is no advisory
// file lock here, so two processes must not share a spool directory.
func lockFile(path string, _ time.Duration) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
