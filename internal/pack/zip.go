package main

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// HostFile is the name of the host configuration at the app root.
const HostFile = "host.json"

// zipEpoch (1980-01-01T00:00:00Z, the earliest time a zip header can hold)
// is the modification time of every zip entry, so that the same inputs
// always give the same archive.
const zipEpoch = 315532800

// hostConfig is the part of host.json this command reads.
type hostConfig struct {
	CustomHandler struct {
		Description struct {
			DefaultExecutablePath string `json:"defaultExecutablePath"`
		} `json:"description"`
	} `json:"customHandler"`
}

// executablePath returns customHandler.description.defaultExecutablePath of
// the host.json in b, checked to be a clean relative path inside the app.
func executablePath(b []byte) (string, error) {
	var hc hostConfig
	if err := json.Unmarshal(b, &hc); err != nil {
		return "", fmt.Errorf("%s: %w", HostFile, err)
	}
	p := hc.CustomHandler.Description.DefaultExecutablePath
	if p == "" {
		return "", fmt.Errorf("%s: customHandler.description.defaultExecutablePath is empty", HostFile)
	}
	if strings.Contains(p, `\`) || path.IsAbs(p) || path.Clean(p) != p || p == "." || strings.HasPrefix(p, "../") || p == ".." {
		return "", fmt.Errorf("%s: defaultExecutablePath %q must be a clean relative path inside the app", HostFile, p)
	}
	return p, nil
}

// Zip writes a zip archive of every regular file under root to dst, with
// paths relative to root, in lexical order, every entry dated 1980-01-01
// UTC and deflated. Entries record Unix modes: 0755 for the file named by
// root/host.json's defaultExecutablePath (if root has a host.json) and for
// files with an executable bit, 0644 for all others. Directories are
// implied by the file paths; a symbolic link or other special file is an
// error. The same tree always yields the same bytes.
func Zip(dst io.Writer, root string) error {
	exe := ""
	if b, err := os.ReadFile(filepath.Join(root, HostFile)); err == nil {
		if exe, err = executablePath(b); err != nil {
			return fmt.Errorf("zip: %w", err)
		}
	}
	zw := zip.NewWriter(dst)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		mode := fs.FileMode(0o644)
		if name == exe || info.Mode().Perm()&0o111 != 0 {
			mode = 0o755
		}
		return addFile(zw, p, name, mode)
	})
	if err != nil {
		return fmt.Errorf("zip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("zip: %w", err)
	}
	return nil
}

// addFile copies the file at src into zw as name with mode.
func addFile(zw *zip.Writer, src, name string, mode fs.FileMode) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Unix(zipEpoch, 0).UTC()}
	h.SetMode(mode) // also marks the entry as made on Unix
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}
