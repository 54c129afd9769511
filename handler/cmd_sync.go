package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/config"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func newFlags(name string, e *env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// cliLevel is the log level of person-run commands: warnings unless
// LOG_LEVEL says otherwise (progress goes to stdout as text).
func cliLevel(e *env) string {
	if l := e.vars["LOG_LEVEL"]; l != "" {
		return l
	}
	return "warn"
}

func cmdSync(ctx context.Context, e *env, args []string) error {
	fs := newFlags("sync", e)
	var only stringList
	fs.Var(&only, "feed", "run only this feed (repeatable)")
	force := fs.Bool("force", false, "run even a feed that ran more recently than its source's minimum interval (once; not to be scripted)")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	cfg, err := config.Load(e.vars, config.ModeLocal)
	if err != nil {
		return err
	}
	specs, err := feedSpecs(cfg)
	if err != nil {
		return err
	}
	if len(only) > 0 {
		specs, err = selectFeeds(specs, only)
		if err != nil {
			return err
		}
	}
	logger := newLogger(e.stderr, cliLevel(e))
	d, err := build(ctx, cfg, logger, cfg.ServiceBus.Namespace == "")
	if err != nil {
		return err
	}
	defer d.Close()
	p := d.pipeline()

	fmt.Fprintf(e.stdout, "feeds2sentinel sync: %d feeds; queue %s; state %s; sink %s\n",
		len(specs), queueName(cfg), cfg.State.Kind, sinkName(cfg))
	var reports []*ingest.Report
	failed := 0
	for _, spec := range specs {
		if err := ctx.Err(); err != nil {
			return err
		}
		explicit := len(only) > 0
		if !spec.Config.Enabled && explicit {
			spec.Config.Enabled = true
		}
		spec.Force = *force
		rep, err := p.RunFeed(ctx, spec)
		d.runs.Record(ctx, feedRunRow("sync", rep))
		reports = append(reports, rep)
		switch {
		case err == nil:
			fmt.Fprintf(e.stdout, "  %-15s %-12s fetched %d, new %d, changed %d, refreshed %d, revoked %d, enqueued %d, rejected %d\n",
				rep.Feed, rep.Outcome, rep.Counts.Fetched, rep.Counts.New, rep.Counts.Changed, rep.Counts.Refreshed,
				rep.Counts.Revoked, rep.Counts.Enqueued, rep.Counts.RejectedTotal())
		case errors.Is(err, ingest.ErrSkipped):
			fmt.Fprintf(e.stdout, "  %-15s %-12s %s\n", rep.Feed, rep.Outcome, trimFeed(rep.Feed, err.Error()))
		default:
			failed++
			fmt.Fprintf(e.stdout, "  %-15s %-12s %s\n", rep.Feed, rep.Outcome, trimFeed(rep.Feed, err.Error()))
		}
	}
	var drained ingest.DrainResult
	var derr error
	if d.spool != nil {
		start := time.Now()
		drained, derr = ingest.Drain(ctx, d.spool, d.uploads())
		d.runs.Record(ctx, drainRow("sync", drained, derr, start, time.Now()))
	}
	d.flushRuns(ctx)
	if d.bundle != nil {
		// Written now, so the summary counts the whole bundle (Close
		// again at exit is a no-op).
		if err := d.bundle.Close(); err != nil {
			derr = errors.Join(derr, err)
		}
	}
	printSummary(e.stdout, reports, drained, d)
	if derr != nil {
		return fmt.Errorf("upload: %w", derr)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d feeds failed (see above); the others were processed", failed, len(specs))
	}
	if drained.Parked+drained.DeadLettered+drained.Rejected > 0 {
		return fmt.Errorf("upload incomplete: %d records rejected by Sentinel, %d batches parked, %d dead-lettered (see the log; `handler replay` after fixing the cause)",
			drained.Rejected, drained.Parked, drained.DeadLettered)
	}
	return nil
}

func trimFeed(feed, msg string) string { return strings.TrimPrefix(msg, feed+": ") }

func selectFeeds(specs []ingest.FeedSpec, names []string) ([]ingest.FeedSpec, error) {
	var out []ingest.FeedSpec
	for _, n := range names {
		found := false
		for _, s := range specs {
			if s.Config.Name == n {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			var all []string
			for _, s := range specs {
				all = append(all, s.Config.Name)
			}
			return nil, usageError(fmt.Sprintf("unknown feed %q; feeds: %s", n, strings.Join(all, ", ")))
		}
	}
	return out, nil
}

func queueName(cfg *config.Config) string {
	if cfg.ServiceBus.Namespace != "" {
		return "Service Bus " + cfg.ServiceBus.Namespace + "/" + cfg.ServiceBus.Queue
	}
	return "local spool " + cfg.DataDir + "/spool"
}

func sinkName(cfg *config.Config) string {
	switch {
	case cfg.ServiceBus.Namespace != "":
		return "the UploadIndicators function"
	case cfg.Sentinel.WorkspaceID != "":
		return "Sentinel workspace " + cfg.Sentinel.WorkspaceID
	default:
		return "STIX bundle " + cfg.DataDir + "/bundle.json"
	}
}

func printSummary(w io.Writer, reports []*ingest.Report, dr ingest.DrainResult, d *deps) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "feed\toutcome\tfetched\trejected\tnew\tchanged\tskipped\trefreshed\trevoked\tenqueued\t")
	for _, r := range reports {
		c := r.Counts
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", r.Feed, r.Outcome, c.Fetched, c.RejectedTotal(),
			c.New, c.Changed, c.Unchanged, c.Refreshed, c.Revoked, c.Enqueued)
	}
	tw.Flush()
	if d.spool != nil {
		ready, inflight, dead, parked := d.spool.Counts()
		fmt.Fprintf(w, "\nupload: %d batches, %d objects accepted, %d records rejected, %d parked, %d dead-lettered; spool now: %d ready, %d in flight, %d dead-lettered, %d parked, %d corrupt\n",
			dr.Messages, dr.Uploaded, dr.Rejected, dr.Parked, dr.DeadLettered, ready, inflight, dead, parked, d.spool.Corrupt())
	}
	if d.bundle != nil {
		fmt.Fprintf(w, "bundle: %s/bundle.json holds %d STIX objects\n", d.cfg.DataDir, d.bundle.Len())
	}
}
