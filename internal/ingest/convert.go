package ingest

import (
	"bufio"
	"context"
	"io"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// ConvertOptions configures Convert. A zero value uses the built-in policy
// and the current time.
type ConvertOptions struct {
	Policy *ioc.Policy
	Now    func() time.Time
	// Reject is called for every rejected record (nil = ignore).
	Reject func(rec *ioc.Record, err error)
}

// ConvertStats counts what Convert did.
type ConvertStats struct {
	Records  int
	Objects  int
	Rejected int
}

// Convert reads a raw feed payload and writes the STIX objects it would
// upload, one JSON object per line: the source identity first, then one
// indicator per accepted record (records are not merged or diffed against
// state; records already expired are rejected, as a feed run would). It
// streams: memory stays flat in the payload size. It returns an error only
// when the payload itself is unusable.
func Convert(ctx context.Context, spec FeedSpec, in io.Reader, w io.Writer, opts *ConvertOptions) (ConvertStats, error) {
	var o ConvertOptions
	if opts != nil {
		o = *opts
	}
	now := time.Now().UTC()
	if o.Now != nil {
		now = o.Now().UTC()
	}
	pol := o.Policy
	if pol == nil {
		pol = &ioc.Policy{}
	}
	r := &run{spec: spec, now: now, opts: stixOptions(spec, now)}
	bw := bufio.NewWriterSize(w, 64<<10)
	var st ConvertStats
	buf := make([]byte, 0, 2048)
	identities := map[string]bool{}
	emit := func(rec *ioc.Record) error {
		st.Records++
		if rec.Source == "" {
			rec.Source = spec.Config.Name
		}
		ind, err := buildIndicator(rec, pol, spec.Config.MinConfidence, r.opts)
		if err == nil {
			err = r.vouch(rec, ind)
		}
		if err != nil {
			st.Rejected++
			if o.Reject != nil {
				o.Reject(rec, err)
			}
			return nil
		}
		if !identities[rec.Source] {
			identities[rec.Source] = true
			buf = stix.NewSourceIdentity(rec.Source).AppendJSON(buf[:0])
			buf = append(buf, '\n')
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			st.Objects++
		}
		buf = ind.AppendJSON(buf[:0])
		buf = append(buf, '\n')
		st.Objects++
		_, err = bw.Write(buf)
		return err
	}
	if _, err := spec.Source.Parse(ctx, in, emit); err != nil {
		bw.Flush()
		return st, err // parser errors name the feed
	}
	return st, bw.Flush()
}
