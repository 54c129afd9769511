package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/config"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
)

func openInput(e *env, name string) (io.ReadCloser, error) {
	if name == "" || name == "-" {
		return io.NopCloser(e.stdin), nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// localDeps loads the configuration of a person-run command and builds its
// parts; upload adds the uploader (not needed when Service Bus is the
// queue: the deployed function uploads).
func localDeps(ctx context.Context, e *env, upload bool) (*deps, error) {
	cfg, err := config.Load(e.vars, config.ModeLocal)
	if err != nil {
		return nil, err
	}
	return build(ctx, cfg, newLogger(e.stderr, cliLevel(e)), upload && cfg.ServiceBus.Namespace == "")
}

func cmdConvert(ctx context.Context, e *env, args []string) error {
	fs := newFlags("convert", e)
	name := fs.String("feed", "", "feed name (see `handler feeds`)")
	input := fs.String("input", "-", "payload file, or - for stdin")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *name == "" {
		return usageError("--feed is required")
	}
	cfg, err := config.Load(e.vars, config.ModeLocal)
	if err != nil {
		return err
	}
	specs, err := feedSpecs(cfg)
	if err != nil {
		return err
	}
	sel, err := selectFeeds(specs, []string{*name})
	if err != nil {
		return err
	}
	pol, err := policy(cfg)
	if err != nil {
		return err
	}
	in, err := openInput(e, *input)
	if err != nil {
		return err
	}
	defer in.Close()
	reject := func(rec *ioc.Record, err error) {
		fmt.Fprintf(e.stderr, "rejected\trecord=%s\tvalue=%q\t%v\n", rec.ID, rec.Value, err)
	}
	st, err := ingest.Convert(ctx, sel[0], in, e.stdout, &ingest.ConvertOptions{Policy: pol, Reject: reject})
	fmt.Fprintf(e.stderr, "convert: %d records, %d STIX objects, %d rejected\n", st.Records, st.Objects, st.Rejected)
	if err != nil {
		return fmt.Errorf("the payload is not usable: %w", err)
	}
	return nil
}

func cmdSubmit(ctx context.Context, e *env, args []string) error {
	fs := newFlags("submit", e)
	dry := fs.Bool("dry-run", false, "print the STIX objects that would be sent; enqueue nothing")
	ctype := fs.String("content-type", "", "application/json, application/stix+json or text/plain (default: detected)")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if fs.NArg() != 1 {
		return usageError("give one FILE, or - for stdin")
	}
	in, err := openInput(e, fs.Arg(0))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(in, 100<<20))
	in.Close()
	if err != nil {
		return err
	}
	if *ctype == "" {
		*ctype = "text/plain"
		if t := bytes.TrimSpace(body); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			*ctype = "application/json"
		}
	}
	d, err := localDeps(ctx, e, true)
	if err != nil {
		return err
	}
	defer d.Close()
	resp, err := d.submit(ctx, *ctype, body, *dry, "")
	if err != nil {
		return err
	}
	out, _ := json.MarshalIndent(resp, "", "  ")
	fmt.Fprintf(e.stdout, "%s\n", out)
	if !*dry && d.spool != nil {
		dr, err := ingest.Drain(ctx, d.spool, d.uploads())
		fmt.Fprintf(e.stderr, "upload: %d batches, %d objects accepted, %d rejected\n", dr.Messages, dr.Uploaded, dr.Rejected)
		return err
	}
	return nil
}

func cmdReplay(ctx context.Context, e *env, args []string) error {
	fs := newFlags("replay", e)
	from := fs.String("from", "all", "all, deadletter or parked")
	reason := fs.String("reason", "", "only batches whose reason contains this text")
	max := fs.Int("max", 0, "move at most this many (0 = all)")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *from != "all" && *from != "deadletter" && *from != "parked" {
		return usageError("--from must be all, deadletter or parked")
	}
	d, err := localDeps(ctx, e, false)
	if err != nil {
		return err
	}
	defer d.Close()
	opts := queue.ReplayOptions{From: *from, Reason: *reason, Max: *max}
	var res queue.ReplayResult
	if d.bus != nil {
		res, err = d.bus.Replay(ctx, opts)
	} else {
		res, err = d.spool.Replay(ctx, opts)
	}
	fmt.Fprintf(e.stdout, "replay: %+v\n", res)
	return err
}

func cmdStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags("status", e)
	asJSON := fs.Bool("json", false, "print JSON (the same document as GET /api/status)")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	d, err := localDeps(ctx, e, false)
	if err != nil {
		return err
	}
	defer d.Close()
	doc, err := statusDoc(ctx, d.cfg, d.store)
	if err != nil {
		return err
	}
	if d.spool != nil {
		r, i, dl, p := d.spool.Counts()
		doc.Queue = &queueCounts{Ready: r, InFlight: i, DeadLettered: dl, Parked: p, Corrupt: d.spool.Corrupt()}
	}
	if *asJSON {
		b, _ := json.MarshalIndent(doc, "", "  ")
		fmt.Fprintf(e.stdout, "%s\n", b)
		return nil
	}
	printStatus(e.stdout, doc)
	return nil
}

// statusDoc is the document GET /api/status and `handler status` show.
type statusDocument struct {
	Generated time.Time           `json:"generated"`
	Feeds     []feedStatus        `json:"feeds"`
	Uploader  state.UploaderStats `json:"uploader"`
	Queue     *queueCounts        `json:"queue,omitempty"`
}

type feedStatus struct {
	Feed     string `json:"feed"`
	Enabled  bool   `json:"enabled"`
	Schedule string `json:"schedule"`
	state.FeedStatus
}

type queueCounts struct {
	Ready        int `json:"ready"`
	InFlight     int `json:"in_flight"`
	DeadLettered int `json:"dead_lettered"`
	Parked       int `json:"parked"`
	Corrupt      int `json:"corrupt"` // unreadable files moved to the spool's corrupt/ folder
}

// statusStore is the state a status document reads.
type statusStore interface {
	state.Statuses
	state.Counters
}

func statusDoc(ctx context.Context, cfg *config.Config, store statusStore) (*statusDocument, error) {
	sts, err := store.FeedStatuses(ctx)
	if err != nil {
		return nil, fmt.Errorf("read feed status: %w", err)
	}
	byFeed := map[string]state.FeedStatus{}
	for _, s := range sts {
		byFeed[s.Feed] = s
	}
	doc := &statusDocument{Generated: time.Now().UTC()}
	for _, f := range cfg.Feeds {
		doc.Feeds = append(doc.Feeds, feedStatus{Feed: f.Name, Enabled: f.Enabled, Schedule: f.Schedule, FeedStatus: byFeed[f.Name]})
		delete(byFeed, f.Name)
	}
	var rest []string
	for n := range byFeed {
		rest = append(rest, n)
	}
	sort.Strings(rest)
	for _, n := range rest { // e.g. manual submission sources
		doc.Feeds = append(doc.Feeds, feedStatus{Feed: n, FeedStatus: byFeed[n]})
	}
	up, err := store.UploaderStats(ctx)
	if err != nil {
		return nil, fmt.Errorf("read uploader stats: %w", err)
	}
	doc.Uploader = up
	return doc, nil
}

func printStatus(w io.Writer, doc *statusDocument) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "feed\tenabled\tschedule\tlast run (UTC)\toutcome\tfetched\trejected\tnew\tchanged\tskipped\trefreshed\trevoked\tenqueued\tlast error")
	for _, f := range doc.Feeds {
		last := "never"
		if !f.LastEnd.IsZero() {
			last = f.LastEnd.Format("2006-01-02 15:04")
		}
		c := f.Counts
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", f.Feed, f.Enabled, f.Schedule, last, f.Outcome,
			c["fetched"], c["rejected"], c["new"], c["changed"], c["unchanged_skipped"], c["refreshed"], c["revoked"], c["enqueued"], truncateLine(f.LastError, 60))
	}
	tw.Flush()
	u := doc.Uploader
	last := "never"
	if !u.LastSuccess.IsZero() {
		last = u.LastSuccess.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "\nuploader: %d batches, %d objects, %d records rejected, %d throttled (429), %d retries, %d dead-lettered, %d parked; last success %s\n",
		u.Batches, u.Objects, u.Rejected, u.Throttled, u.Retries, u.DeadLettered, u.Parked, last)
	if doc.Queue != nil {
		fmt.Fprintf(w, "local spool: %d ready, %d in flight, %d dead-lettered, %d parked, %d corrupt\n", doc.Queue.Ready, doc.Queue.InFlight, doc.Queue.DeadLettered, doc.Queue.Parked, doc.Queue.Corrupt)
	}
}

func truncateLine(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func cmdFeeds(_ context.Context, e *env, _ []string) error {
	cfg, err := config.Load(e.vars, config.ModeLocal)
	if err != nil {
		return err
	}
	return printFeeds(e.stdout, cfg)
}

// printFeeds lists the configured feeds and what each source is.
func printFeeds(w io.Writer, cfg *config.Config) error {
	specs, err := feedSpecs(cfg)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "feed\tfunction\tenabled\tschedule\tneeds key\tcomplete list\turl")
	for _, s := range specs {
		u := s.Config.URL
		if u == "" {
			u = s.Source.DefaultURL
		}
		fn := s.Source.Function
		if s.Config.User {
			fn = "FeedUserLists"
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%v\t%v\t%s\n", s.Config.Name, fn, s.Config.Enabled, s.Config.Schedule, s.Source.RequiresKey, s.Source.CompleteAt(u), u)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Config.Name
	}
	if err := printDetection(w, names); err != nil {
		return err
	}
	// What each source is and how it handles offline, delisted and
	// unknown states.
	for _, s := range specs {
		if s.Source.Docs != "" {
			fmt.Fprintf(w, "\n%s: %s\n", s.Config.Name, s.Source.Docs)
		}
	}
	return nil
}
