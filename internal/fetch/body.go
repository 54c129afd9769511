package fetch

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
)

// Response is a successful (2xx) fetch.
type Response struct {
	// Body streams the payload: Content-Encoding gzip or deflate decoded,
	// a gzip file (magic 1f 8b) decompressed, and for a zip archive (magic
	// "PK\x03\x04") the content of its data member, streamed from the
	// spooled archive; every occurrence of the request's AuthKey and
	// Secrets is replaced by Redacted (see Redactor), so that a parser
	// error quoting the payload cannot echo them. Read returns an error
	// wrapping ErrTooLarge, naming Request.MaxBytesSetting, once more than
	// the request's byte limit (Request.MaxBytes, else Options.MaxBytes)
	// would be delivered. Close releases the connection, the timeout and any spooled
	// temporary file; it must be called.
	Body io.ReadCloser
	// StatusCode is the HTTP status, 200 to 299.
	StatusCode int
	// ETag and LastModified are the response's validators, to be sent in
	// the next Request (see Validators).
	ETag, LastModified string
	// ContentType is the Content-Type header as sent by the server.
	ContentType string
	// Member is the name of the zip member streamed by Body, or "" when
	// the payload is not a zip archive.
	Member string

	body *body
}

// Bytes returns how many payload bytes (after decompression) Body has
// delivered so far. It is safe to call concurrently with Read.
func (r *Response) Bytes() int64 {
	if r == nil || r.body == nil {
		return 0
	}
	return r.body.n.Load()
}

// Validators returns the response's validators, to persist for the next run.
func (r *Response) Validators() Validators {
	return Validators{ETag: r.ETag, LastModified: r.LastModified}
}

var (
	zipMagic  = []byte("PK\x03\x04")
	gzipMagic = []byte{0x1f, 0x8b}
)

// response wraps the open body of a 2xx response. On error the caller
// closes resp.Body and cancels; on success both belong to the Response.
func (c *Client) response(resp *http.Response, req *Request, feed, host string, cancel context.CancelFunc) (*Response, error) {
	b := &body{feed: feed, host: host, max: c.maxBytes(req), setting: req.MaxBytesSetting}
	var r io.Reader = resp.Body
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz, err := gzip.NewReader(resp.Body)
		switch {
		case errors.Is(err, io.EOF):
			r = bytes.NewReader(nil) // an empty body
		case err != nil:
			return nil, c.readError(feed, host, req, ErrEncoding, err)
		default:
			r = gz
		}
	case "deflate":
		zr, err := zlib.NewReader(resp.Body)
		if err != nil {
			return nil, c.readError(feed, host, req, ErrEncoding, err)
		}
		r = zr
	default:
		return nil, fmt.Errorf("%s: %w %q from %s", feed, ErrEncoding, enc, host)
	}
	br := bufio.NewReaderSize(r, 32<<10)
	magic, _ := br.Peek(len(zipMagic)) // a read error resurfaces on Read
	out := &Response{
		StatusCode:   resp.StatusCode,
		ETag:         resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"),
		ContentType:  resp.Header.Get("Content-Type"),
		body:         b,
	}
	switch {
	case bytes.Equal(magic, zipMagic):
		m, err := c.spoolZip(br, feed, host, req)
		if err != nil {
			return nil, err
		}
		b.r, out.Member = m.ReadCloser, m.name
		b.closers = append(b.closers, m.Close)
	case bytes.HasPrefix(magic, gzipMagic):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, c.readError(feed, host, req, ErrEncoding, err)
		}
		b.r = gz
	default:
		b.r = br
	}
	// A server that echoes a secret (an "illegal_auth_key: <key>" status)
	// must not hand it to the parser, whose errors quote the payload.
	if red := req.redactor(); red != nil {
		b.r, b.red = red.Reader(b.r), red
		out.Member = red.Redact(out.Member)
	}
	b.closers = append(b.closers, resp.Body.Close, func() error { cancel(); return nil })
	out.Body = b
	c.logger.Debug("fetch response", "feed", feed, "host", host, "status", resp.StatusCode,
		"content_encoding", resp.Header.Get("Content-Encoding"), "zip_member", out.Member)
	return out, nil
}

// readError wraps a failure while reading or decoding a body.
func (c *Client) readError(feed, host string, req *Request, kind, err error) error {
	return fmt.Errorf("%s: read body from %s: %w: %s", feed, host, kind, req.redactor().Redact(err.Error()))
}

// body is Response.Body: it counts and caps the bytes it delivers and
// wraps read errors with the feed name. Read and Close must not be called
// concurrently (Bytes may be).
type body struct {
	r          io.Reader
	n          atomic.Int64
	max        int64
	setting    string // the setting that holds max, named in ErrTooLarge
	feed, host string
	red        *Redactor // the request's secrets, redacted from the payload and read errors
	err        error     // sticky
	closers    []func() error
	closed     bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, fmt.Errorf("%s: read after close: %w", b.feed, os.ErrClosed)
	}
	if b.err != nil {
		return 0, b.err
	}
	rem := b.max - b.n.Load()
	if int64(len(p)) > rem+1 {
		p = p[:rem+1]
	}
	n, err := b.r.Read(p)
	if int64(n) > rem {
		b.n.Add(rem)
		b.err = tooLarge(b.feed, "payload", b.host, b.max, b.setting)
		return int(rem), b.err
	}
	b.n.Add(int64(n))
	switch {
	case err == nil || err == io.EOF:
	case errors.Is(err, ErrTooLarge):
		b.err = err
	default:
		b.err = fmt.Errorf("%s: read body from %s: %w", b.feed, b.host, b.red.Err(err))
	}
	if b.err != nil {
		return n, b.err
	}
	return n, err
}

// Close releases everything the body holds; later calls return nil.
func (b *body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	for _, c := range b.closers {
		if err := c(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
