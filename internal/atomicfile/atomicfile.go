// Package atomicfile replaces files so that a reader, or the next process
// after a crash, finds the old content or the new, never a part of it: the
// content goes to a temporary file in the same directory, which is fsynced,
// renamed over the target, and the directory is fsynced so that the rename
// itself survives a power loss.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Options tune a write. A nil *Options means the defaults.
type Options struct {
	// Perm is the mode of the new file (default 0o644).
	Perm os.FileMode
	// Prefix names the temporary file: Prefix + random (default "." +
	// the target's name + ".tmp-"), so that a caller can recognise and
	// remove what a killed process left.
	Prefix string
	// NoSync skips every fsync: the replacement is still atomic for a
	// killed process, not for a power loss. For tests and throwaway data.
	NoSync bool
	// NoDirSync skips the fsync of the directory, for a caller that writes
	// many files and syncs their directory once with SyncDir.
	NoDirSync bool
}

// File is a replacement being written. Write to it, then Commit; Abort (or
// a failed Commit) removes the temporary file and leaves the target alone.
type File struct {
	*os.File
	path string
	opts Options
	done bool
}

// Create starts the replacement of path. Its directory must exist.
func Create(path string, opts *Options) (*File, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Perm == 0 {
		o.Perm = 0o644
	}
	if o.Prefix == "" {
		o.Prefix = "." + filepath.Base(path) + ".tmp-"
	}
	f, err := os.CreateTemp(filepath.Dir(path), o.Prefix+"*")
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	if err := f.Chmod(o.Perm); err != nil && runtime.GOOS != "windows" {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	return &File{File: f, path: path, opts: o}, nil
}

// Commit makes the written content the file at the target path.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: already committed or aborted")
	}
	f.done = true
	var err error
	if !f.opts.NoSync {
		err = f.File.Sync()
	}
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.File.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.File.Name())
		return fmt.Errorf("atomicfile: replace %s: %w", f.path, err)
	}
	if f.opts.NoSync || f.opts.NoDirSync {
		return nil
	}
	return SyncDir(filepath.Dir(f.path))
}

// Abort drops the replacement; the target is left as it was. It is a
// no-op after Commit.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.File.Name())
}

// WriteFile replaces path with data.
func WriteFile(path string, data []byte, opts *Options) error {
	f, err := Create(path, opts)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	return f.Commit()
}

// SyncDir fsyncs a directory, making the renames and creations in it
// durable. Where directories cannot be synced (Windows) it does nothing.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
