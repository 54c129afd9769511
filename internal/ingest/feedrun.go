package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
	"github.com/feeds2sentinel/feeds2sentinel/internal/fetch"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
	"github.com/feeds2sentinel/feeds2sentinel/internal/stix"
)

// ErrSkipped is returned (wrapped) when a feed was not run on purpose: it
// is disabled, needs an Auth-Key that is not set, or ran too recently.
var ErrSkipped = errors.New("feed skipped")

// FeedSpec is a feed to run: its built-in (or user-defined) source and its
// settings.
type FeedSpec struct {
	Source feed.Source
	Config feed.Settings
	// Force runs the feed even if it ran more recently than the source's
	// minimum interval allows (once, by a person; logged as a warning).
	Force bool
}

// conditionalMaxAge is how long after a full processing of a feed the
// fetcher may send validators (ETag/Last-Modified): an unchanged dump is
// then not downloaded again, yet indicators still listed are refreshed at
// least daily.
const conditionalMaxAge = 24 * time.Hour

// RunFeed runs one feed once. It returns the report and, for failed runs,
// an error saying what went wrong; a skipped run returns an error wrapping
// ErrSkipped. The status record of the feed is updated either way.
func (p *Pipeline) RunFeed(ctx context.Context, spec FeedSpec) (*Report, error) {
	rep := &Report{Feed: spec.Config.Name, Start: p.now()}
	// No secret reaches the report, the status record or the caller,
	// whatever fetcher or parser quoted it.
	err := fetch.NewRedactor(p.AuthKey).Err(p.runFeed(ctx, spec, rep))
	rep.End = p.now()
	rep.Elapsed = rep.End.Sub(rep.Start)
	switch {
	case err == nil:
		if rep.Outcome == "" {
			rep.Outcome = OutcomeSucceeded
		}
	case errors.Is(err, ErrSkipped):
		rep.Outcome = OutcomeSkipped
		rep.Reason = err.Error()
	default:
		rep.Outcome = OutcomeFailed
		rep.Reason = err.Error()
	}
	// The status is saved even when the run's own deadline has passed or
	// it was cancelled: a failed run must not leave the last success on
	// display.
	sctx, cancel := detached(ctx)
	defer cancel()
	if serr := p.saveStatus(sctx, spec, rep); serr != nil {
		p.logger().Warn("feed status not saved", "feed", rep.Feed, "error", serr)
	}
	return rep, err
}

func (p *Pipeline) runFeed(ctx context.Context, spec FeedSpec, rep *Report) error {
	src, cfg := spec.Source, spec.Config
	if !cfg.Enabled {
		return fmt.Errorf("%s: %w: disabled (%s=false)", cfg.Name, ErrSkipped, feed.SettingName(cfg.Name, "ENABLED"))
	}
	if src.RequiresKey && p.AuthKey == "" {
		return fmt.Errorf("%s: %w: needs an abuse.ch Auth-Key; set %s (free at %s)", cfg.Name, ErrSkipped, feed.AbuseCHKeySetting, feed.AbuseCHKeyURL)
	}
	now := p.now()
	cur, err := p.Store.Cursor(ctx, cfg.Name)
	if err != nil {
		return fmt.Errorf("%s: read fetch cursor: %w", cfg.Name, err)
	}
	if src.MinInterval > 0 && !cur.LastFetch.IsZero() && now.Sub(cur.LastFetch) < src.MinInterval {
		if !spec.Force {
			return fmt.Errorf("%s: %w: last fetched %s ago, the source asks for at least %s between downloads (--force runs it anyway)",
				cfg.Name, ErrSkipped, now.Sub(cur.LastFetch).Round(time.Second), src.MinInterval)
		}
		p.logger().Warn("forced: running a feed more often than its source asks; repeated, this may get the client blocked",
			"feed", cfg.Name, "last_fetched_ago", now.Sub(cur.LastFetch).Round(time.Second).String(), "min_interval", src.MinInterval.String())
	}
	runAt := now
	if resumable(cur, now) {
		// The last run was killed mid-way: run again on its clock, so what
		// it had enqueued comes out byte for byte the same and the queue's
		// duplicate detection drops it.
		runAt = cur.RunStart
		p.logger().Warn("resuming an interrupted run", "feed", cfg.Name, "run_start", cur.RunStart)
	}
	spec.Config.Days = catchUpDays(spec.Config.Days, cur.LastFetch, now)
	req, err := p.request(spec)
	if err != nil {
		return err
	}
	if !cur.LastFetch.IsZero() && now.Sub(cur.LastFetch) < conditionalMaxAge {
		req.ETag, req.LastModified = cur.ETag, cur.LastModified
	}
	resp, err := p.Fetcher.Fetch(ctx, req)
	if errors.Is(err, fetch.ErrNotModified) {
		rep.Outcome = OutcomeNotModified
		return nil
	}
	if err != nil {
		return err // fetch errors already name the feed
	}
	payload, err := p.keep(ctx, cfg.Name, resp)
	if err != nil {
		return err
	}
	defer payload.Close()

	// First pass: the whole payload must parse before anything of it is
	// enqueued (a truncated dump or an error page is discarded whole).
	stats, perr := src.Parse(ctx, payload, func(*ioc.Record) error { return nil })
	if perr != nil {
		return fmt.Errorf("%w (the payload was discarded: nothing of it is enqueued)", perr) // parser errors name the feed
	}
	if _, err := payload.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%s: rewind payload: %w", cfg.Name, err)
	}
	cur.RunStart = runAt
	if err := p.Store.PutCursor(ctx, cfg.Name, cur); err != nil {
		return fmt.Errorf("%s: save run start: %w", cfg.Name, err)
	}
	// Second pass: build, diff, enqueue and remember a chunk at a time.
	run := p.newRun(spec, runAt)
	_, perr = src.Parse(ctx, payload, func(rec *ioc.Record) error {
		run.add(rec)
		if !run.full() {
			return nil
		}
		err := p.commit(ctx, run)
		run.reset()
		return err
	})
	if perr == nil {
		perr = p.commit(ctx, run)
		run.reset()
	}
	for reason, n := range stats.SkippedBy {
		for i := 0; i < n; i++ {
			run.counts.reject(ioc.Reason(reason))
		}
		run.counts.Fetched += n
	}
	rep.Counts = run.counts
	if perr != nil {
		p.endRun(ctx, cfg.Name, cur, time.Time{})
		return perr // commit errors name the feed
	}
	if run.complete() {
		err := p.sweep(ctx, run)
		rep.Counts = run.counts
		if err != nil {
			p.endRun(ctx, cfg.Name, cur, time.Time{})
			return err
		}
	}
	cur.ETag, cur.LastModified = resp.ETag, resp.LastModified
	p.endRun(ctx, cfg.Name, cur, runAt)
	return nil
}

// resumeWindow is how long after its start an interrupted run is resumed
// on its own clock: no longer than the Service Bus duplicate-detection
// window (infra: duplicateDetectionWindow, one hour), after which a repeat
// would not be dropped anyway.
const resumeWindow = time.Hour

// resumable reports whether the cursor shows a run that was killed before
// it ended (RunStart set and after the last completed fetch) recently
// enough to resume it.
func resumable(cur state.Cursor, now time.Time) bool {
	return !cur.RunStart.IsZero() && cur.RunStart.After(cur.LastFetch) &&
		!cur.RunStart.After(now) && now.Sub(cur.RunStart) < resumeWindow
}

// endRun records that a run ended: it clears RunStart and, for a run that
// succeeded (fetched non-zero), sets the last fetch time and validators.
func (p *Pipeline) endRun(ctx context.Context, feed string, cur state.Cursor, fetched time.Time) {
	cur.RunStart = time.Time{}
	if !fetched.IsZero() {
		cur.LastFetch = fetched
	}
	sctx, cancel := detached(ctx)
	defer cancel()
	if err := p.Store.PutCursor(sctx, feed, cur); err != nil {
		p.logger().Warn("fetch cursor not saved", "feed", feed, "error", err)
	}
}

// payloadFile is a feed payload kept on disk for the run: parsed once to
// check it, then again to commit it. Close removes it.
type payloadFile struct {
	*os.File
}

func (f payloadFile) Close() error {
	err := f.File.Close()
	os.Remove(f.Name())
	return err
}

// keep copies a fetched payload to a temporary file (memory stays bounded
// whatever its size) and closes the response.
func (p *Pipeline) keep(ctx context.Context, feed string, resp *fetch.Response) (payloadFile, error) {
	defer resp.Body.Close()
	f, err := os.CreateTemp(p.TempDir, "f2s-payload-*")
	if err != nil {
		return payloadFile{}, fmt.Errorf("%s: keep the payload on disk: %w", feed, err)
	}
	pf := payloadFile{f}
	if _, err := io.Copy(f, ctxReader{ctx, resp.Body}); err != nil {
		pf.Close()
		return payloadFile{}, err // read errors name the feed; a full disk is said as is
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		pf.Close()
		return payloadFile{}, fmt.Errorf("%s: keep the payload on disk: %w", feed, err)
	}
	return pf, nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// detached returns a context that outlives ctx's cancellation and deadline
// by a short bound of its own, for bookkeeping after a run ended.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// catchUpDays widens a look-back window (ThreatFox get_iocs days, 1-7) so
// a run after downtime leaves no gap: the first run asks for 7 days, a run
// after a gap asks for the whole gap (at most 7), otherwise the setting.
func catchUpDays(days int, lastFetch, now time.Time) int {
	if days <= 0 {
		return days
	}
	if lastFetch.IsZero() {
		return 7
	}
	gap := int(now.Sub(lastFetch)/(24*time.Hour)) + 1
	return min(max(days, gap), 7)
}

// request builds the fetch request of a feed from its source and settings.
func (p *Pipeline) request(spec FeedSpec) (*fetch.Request, error) {
	src, cfg := spec.Source, spec.Config
	u := cfg.URL
	if u == "" {
		u = src.DefaultURL
	}
	req := &fetch.Request{Feed: cfg.Name, URL: u, Method: src.Method,
		MaxBytes: src.MaxBytes, MaxBytesSetting: feed.SettingName(cfg.Name, "MAX_BYTES")}
	if cfg.MaxBytes > 0 {
		req.MaxBytes = cfg.MaxBytes
	}
	if src.Body != nil && slices.Contains(src.AltURLs, u) {
		// An alternative URL of an API feed is a plain download (e.g. the
		// MalwareBazaar CSV export): GET it, without the API query.
		req.Method = "GET"
	} else if src.Body != nil {
		body, ctype := src.Body(feed.BodyOptions{Days: cfg.Days})
		req.Body, req.ContentType = body, ctype
	}
	if src.AbuseCH {
		// The setting is named in errors even when no key is set, so a
		// 401 says which setting to fill in.
		req.AuthKey = p.AuthKey
		req.AuthKeySetting = feed.AbuseCHKeySetting
		req.AuthKeyURL = feed.AbuseCHKeyURL
	}
	return req, nil
}

// stixOptions returns the STIX build options of a feed.
func stixOptions(spec FeedSpec, now time.Time) *stix.Options {
	conf := spec.Config.Confidence
	if conf == 0 {
		conf = spec.Source.DefaultConfidence
	}
	return &stix.Options{
		Now:               func() time.Time { return now },
		Lifetimes:         spec.Config.Lifetimes,
		DefaultConfidence: conf,
		TLP:               spec.Config.TLP,
		Labels:            spec.Config.Labels,
	}
}
