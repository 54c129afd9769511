package fetch

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
)

// ratioFloor is the member size (uncompressed) from which MaxRatio is
// enforced: small, very repetitive files compress well and harm nobody.
const ratioFloor = 1 << 20

// member is the open data member of a spooled zip; Close closes the
// member and removes the temporary file.
type member struct {
	io.ReadCloser
	name    string
	cleanup func() error
}

func (m *member) Close() error {
	return errors.Join(m.ReadCloser.Close(), m.cleanup())
}

// spoolZip copies the payload to a temporary file (at most the request's
// byte limit) and opens its data member, which is then streamed from the
// file: neither the archive nor the member is ever held in memory. The file
// is removed on error or on Close.
func (c *Client) spoolZip(r io.Reader, feed, host string, req *Request) (*member, error) {
	limit := c.maxBytes(req)
	f, err := os.CreateTemp(c.tempDir, "feeds2sentinel-*.zip")
	if err != nil {
		return nil, fmt.Errorf("%s: spool zip: %w", feed, err)
	}
	cleanup := func() error { return errors.Join(f.Close(), os.Remove(f.Name())) }
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if err != nil {
		_ = cleanup()
		return nil, fmt.Errorf("%s: read body from %s: %s", feed, host, req.redactor().Redact(err.Error()))
	}
	if n > limit {
		_ = cleanup()
		return nil, tooLarge(feed, "zip", host, limit, req.MaxBytesSetting)
	}
	lim := c.zip
	if lim.MaxTotal == 0 {
		lim.MaxTotal = 2 * uint64(limit)
	}
	rc, name, err := openMember(f, n, lim, limit)
	if errors.Is(err, ErrTooLarge) {
		_ = cleanup()
		return nil, tooLarge(feed, "zip member", host, limit, req.MaxBytesSetting)
	}
	if err != nil {
		_ = cleanup()
		return nil, fmt.Errorf("%s: zip from %s: %w", feed, host, err)
	}
	c.logger.Debug("fetch zip spooled", "feed", feed, "host", host, "bytes", n, "member", req.redactor().Redact(name))
	return &member{ReadCloser: rc, name: name, cleanup: cleanup}, nil
}

// errDirBudget stops archive/zip from reading an oversized central
// directory (it reads headers until a bad one, whatever the count says).
var errDirBudget = errors.New("central directory too large")

// budgetReaderAt fails reads once more than budget bytes were read, while
// on is true.
type budgetReaderAt struct {
	r      io.ReaderAt
	budget int64
	used   int64
	on     bool
}

func (b *budgetReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if b.on {
		b.used += int64(len(p))
		if b.used > b.budget {
			return 0, errDirBudget
		}
	}
	return b.r.ReadAt(p, off)
}

// maxHeader is the largest central-directory header: 46 fixed bytes and
// three variable fields of up to 65535 bytes.
const maxHeader = 46 + 3*65535

// openMember checks the archive in ra against lim and opens its data
// member, the largest regular file, for streaming. Errors wrap ErrTooLarge
// for an entry that declares more than maxBytes uncompressed, else
// ErrZipBomb or ErrArchive.
func openMember(ra io.ReaderAt, size int64, lim ZipLimits, maxBytes int64) (io.ReadCloser, string, error) {
	br := &budgetReaderAt{r: ra, budget: int64(lim.MaxEntries+1)*maxHeader + 256<<10, on: true}
	zr, err := zip.NewReader(br, size)
	br.on = false
	switch {
	case errors.Is(err, errDirBudget):
		return nil, "", fmt.Errorf("%w: central directory larger than %d entries can fill", ErrZipBomb, lim.MaxEntries)
	case errors.Is(err, zip.ErrInsecurePath) && zr != nil:
		// Names are never used as paths here.
	case err != nil:
		return nil, "", fmt.Errorf("%w: %v", ErrArchive, err)
	}
	if len(zr.File) > lim.MaxEntries {
		return nil, "", fmt.Errorf("%w: %d entries, limit %d", ErrZipBomb, len(zr.File), lim.MaxEntries)
	}
	var (
		total uint64
		best  *zip.File
	)
	for _, f := range zr.File {
		u := f.UncompressedSize64
		if u > uint64(maxBytes) {
			return nil, "", fmt.Errorf("%w: entry declares %d bytes uncompressed, limit %d", ErrTooLarge, u, maxBytes)
		}
		if total+u < total || total+u > lim.MaxTotal {
			return nil, "", fmt.Errorf("%w: more than %d bytes uncompressed", ErrZipBomb, lim.MaxTotal)
		}
		total += u
		if f.CompressedSize64 > uint64(size) {
			return nil, "", fmt.Errorf("%w: entry claims %d compressed bytes in a %d-byte archive", ErrArchive, f.CompressedSize64, size)
		}
		if u > ratioFloor && (f.CompressedSize64 == 0 || u/f.CompressedSize64 > lim.MaxRatio) {
			return nil, "", fmt.Errorf("%w: an entry of %d bytes compressed to %d (ratio limit %d)", ErrZipBomb, u, f.CompressedSize64, lim.MaxRatio)
		}
		if f.FileInfo().IsDir() {
			continue
		}
		if best == nil || u > best.UncompressedSize64 {
			best = f
		}
	}
	if best == nil {
		return nil, "", fmt.Errorf("%w: no data member", ErrArchive)
	}
	rc, err := best.Open()
	if err != nil {
		return nil, "", fmt.Errorf("%w: open member: %v", ErrArchive, err)
	}
	return rc, best.Name, nil
}
