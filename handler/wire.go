package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/feeds2sentinel/feeds2sentinel/internal/config"
	"github.com/feeds2sentinel/feeds2sentinel/internal/feed"
	"github.com/feeds2sentinel/feeds2sentinel/internal/fetch"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ingest"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
	"github.com/feeds2sentinel/feeds2sentinel/internal/sentinel"
	"github.com/feeds2sentinel/feeds2sentinel/internal/state"
	"github.com/feeds2sentinel/feeds2sentinel/internal/submission"
)

// deps are the parts built from the configuration. Close releases them.
type deps struct {
	cfg      *config.Config
	logger   *slog.Logger
	cred     func() (azcore.TokenCredential, error)
	fetcher  *fetch.Client
	store    state.Store
	spool    *queue.Spool      // local mode
	bus      *queue.ServiceBus // Azure mode
	uploader ingest.Uploader
	bundle   *sentinel.BundleSink
	policy   *ioc.Policy
	runs     runLog // run records (a no-op when off)
	closers  []func() error
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// credential returns a lazily built azidentity credential: managed identity
// in Azure (AZURE_CLIENT_ID selects a user-assigned one), developer
// credentials (az login, azd, environment) locally.
func credential() func() (azcore.TokenCredential, error) {
	var once sync.Once
	var cred azcore.TokenCredential
	var err error
	return func() (azcore.TokenCredential, error) {
		once.Do(func() {
			cred, err = azidentity.NewDefaultAzureCredential(nil)
		})
		return cred, err
	}
}

// build creates the parts. mode decides which settings are required;
// needUpload adds the uploader side.
func build(ctx context.Context, cfg *config.Config, logger *slog.Logger, needUpload bool) (*deps, error) {
	d := &deps{cfg: cfg, logger: logger, cred: credential()}
	var err error
	d.policy, err = policy(cfg)
	if err != nil {
		return nil, err
	}
	fopts := &fetch.Options{Logger: logger}
	if !needUpload || cfg.ServiceBus.Namespace == "" {
		// A person is waiting: fail an unreachable feed in seconds, not
		// a minute (the Functions host keeps the patient defaults).
		fopts.MaxRetries, fopts.RetryDelay, fopts.MaxRetryDelay = 2, 500*time.Millisecond, 10*time.Second
	}
	d.fetcher, err = fetch.New(fopts)
	if err != nil {
		return nil, fmt.Errorf("fetch.New: %w", err)
	}
	if err := d.openState(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.openQueue(); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.openRunRecords(); err != nil {
		d.Close()
		return nil, err
	}
	if needUpload {
		if err := d.openUploader(); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

func policy(cfg *config.Config) (*ioc.Policy, error) {
	p := &ioc.Policy{ReplaceBuiltin: cfg.Policy.AllowlistReplace}
	if cfg.Policy.AllowlistExtra != "" {
		al, err := ioc.ParseAllowlist(cfg.Policy.AllowlistExtra)
		if err != nil {
			return nil, &config.SettingError{Setting: "ALLOWLIST_EXTRA", Value: cfg.Policy.AllowlistExtra, Want: "IPs, CIDRs, domains or *.domains, comma-separated: " + err.Error()}
		}
		p.Extra = al
	}
	return p, nil
}

func (d *deps) openState(ctx context.Context) error {
	cfg := d.cfg
	if cfg.State.Kind == "table" {
		opts := state.TableOptions{ServiceURL: cfg.State.TableServiceURL, ConnectionString: cfg.State.ConnectionString, Table: cfg.State.TableName}
		if opts.ConnectionString == "" {
			cred, err := d.cred()
			if err != nil {
				return fmt.Errorf("state store credential: %w", err)
			}
			opts.Credential = cred
		}
		ts, err := state.OpenTable(ctx, opts)
		if err != nil {
			return fmt.Errorf("state.OpenTable: %w", err)
		}
		d.store = ts
		d.closers = append(d.closers, ts.Close)
		return nil
	}
	path, legacy := localStatePaths(cfg)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	bs, err := state.OpenBolt(path, nil)
	if err != nil {
		return err // says which file and what to do
	}
	d.store = bs
	d.closers = append(d.closers, bs.Close)
	res, migrated, err := state.MigrateFile(ctx, legacy, bs)
	if err != nil {
		return fmt.Errorf("migrate the state file of an earlier version: %w", err)
	}
	if migrated {
		d.logger.Info("state migrated to the embedded database", "from", legacy, "to", path,
			"indicators", res.Indicators, "feeds", res.Feeds, "kept_as", legacy+".migrated")
	}
	return nil
}

// localStatePaths returns the local state database and the JSON-lines file
// of earlier versions that is migrated into it once: STATE_FILE (a
// ".jsonl" name there means the legacy file, the database then sits beside
// it as ".db"), or state.db and state.jsonl in F2S_DATA_DIR.
func localStatePaths(cfg *config.Config) (db, legacy string) {
	path := cfg.State.File
	if path == "" {
		return filepath.Join(cfg.DataDir, "state.db"), filepath.Join(cfg.DataDir, "state.jsonl")
	}
	if base, ok := strings.CutSuffix(path, ".jsonl"); ok {
		return base + ".db", path
	}
	return path, strings.TrimSuffix(path, filepath.Ext(path)) + ".jsonl"
}

func (d *deps) openQueue() error {
	cfg := d.cfg
	if cfg.ServiceBus.Namespace != "" {
		cred, err := d.cred()
		if err != nil {
			return fmt.Errorf("service bus credential: %w", err)
		}
		sb, err := queue.NewServiceBus(queue.ServiceBusOptions{
			Namespace: cfg.ServiceBus.Namespace, Queue: cfg.ServiceBus.Queue,
			ParkedQueue: cfg.ServiceBus.ParkedQueue, Credential: cred,
		})
		if err != nil {
			return fmt.Errorf("queue.NewServiceBus: %w", err)
		}
		d.bus = sb
		d.closers = append(d.closers, func() error { return sb.Close(context.Background()) })
		return nil
	}
	sp, err := queue.OpenSpool(filepath.Join(cfg.DataDir, "spool"), nil)
	if err != nil {
		return fmt.Errorf("queue.OpenSpool: %w", err)
	}
	d.spool = sp
	d.closers = append(d.closers, sp.Close)
	return nil
}

func (d *deps) openUploader() error {
	cfg := d.cfg
	if cfg.Sentinel.WorkspaceID == "" {
		b, err := sentinel.OpenBundleSink(filepath.Join(cfg.DataDir, "bundle.json"))
		if err != nil {
			return err
		}
		d.bundle = b
		d.uploader = b
		d.closers = append(d.closers, b.Close)
		return nil
	}
	opts := sentinel.Options{
		API: sentinel.API(cfg.Sentinel.API), Endpoint: cfg.Sentinel.Endpoint,
		WorkspaceID: cfg.Sentinel.WorkspaceID, SourceSystem: cfg.Sentinel.SourceSystem,
		RequestsPerMinute: cfg.Sentinel.RequestsPerMinute, Logger: d.logger,
	}
	if !loopbackHTTP(cfg.Sentinel.Endpoint) {
		cred, err := d.cred()
		if err != nil {
			return fmt.Errorf("sentinel credential: %w", err)
		}
		opts.Credential = cred
	}
	c, err := sentinel.New(opts)
	if err != nil {
		return fmt.Errorf("sentinel.New: %w", err)
	}
	d.uploader = c
	return nil
}

// publisher is the queue feed runs send to.
func (d *deps) publisher() queue.Publisher {
	if d.bus != nil {
		return d.bus
	}
	return d.spool
}

// parker is where permanently failed batches go.
func (d *deps) parker() ingest.Parker {
	if d.bus != nil {
		return d.bus
	}
	return d.spool
}

func (d *deps) pipeline() *ingest.Pipeline {
	return &ingest.Pipeline{
		Fetcher: d.fetcher, Publisher: d.publisher(), Store: d.store, Policy: d.policy,
		AuthKey: d.cfg.AbuseCHAuthKey, RefreshInterval: d.cfg.State.RefreshInterval,
		RevokeGrace: d.cfg.State.RevokeGrace, MassRevocationHold: d.cfg.State.RevokeHold, Logger: d.logger,
	}
}

func (d *deps) uploads() *ingest.Uploads {
	u := &ingest.Uploads{Uploader: d.uploader, Parker: d.parker(), Store: d.store, Logger: d.logger,
		MaxDeliveryCount: d.cfg.ServiceBus.MaxDeliveryCount}
	if d.bus != nil {
		u.Rescheduler = d.bus
	}
	return u
}

func (d *deps) submissions() *ingest.Submissions {
	c := d.cfg
	var feeds []string
	for _, f := range c.Feeds {
		feeds = append(feeds, f.Name)
	}
	return &ingest.Submissions{Pipeline: d.pipeline(), MaxItems: c.Submit.MaxItems, Confidence: c.Submit.Confidence,
		Lifetime: c.Submit.Lifetime, Source: c.Submit.Source, TLP: c.Policy.DefaultTLP, Reserved: feeds}
}

// submit decodes a submission body (the HTTP edge: package submission)
// and runs it through the submission use case.
func (d *deps) submit(ctx context.Context, contentType string, body []byte, dryRun bool, principal string) (*ingest.SubmitResponse, error) {
	items, defaults, err := submission.Decode(ctx, contentType, body)
	if err != nil {
		return nil, err
	}
	return d.submissions().Submit(ctx, ingest.Submission{Items: items, Defaults: defaults, DryRun: dryRun, Principal: principal})
}

// Close releases everything, in reverse order.
func (d *deps) Close() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i]())
	}
	d.closers = nil
	return errors.Join(errs...)
}

// feedSpecs returns the runnable feeds: built-in sources with their
// settings, then the user-defined lists.
func feedSpecs(cfg *config.Config) ([]ingest.FeedSpec, error) {
	builtin := cfg.Sources
	var specs []ingest.FeedSpec
	for _, fc := range cfg.Feeds {
		if fc.User {
			src, err := feed.NewUserList(fc.Name, fc.URL, feed.UserListOptions{Type: fc.Type, Complete: fc.Complete, Confidence: fc.Confidence})
			if err != nil {
				return nil, &config.SettingError{Setting: feed.SettingName(fc.Name, "URL"), Value: fc.URL, Want: err.Error()}
			}
			specs = append(specs, ingest.FeedSpec{Source: src, Config: fc})
			continue
		}
		src, ok := feed.Lookup(builtin, fc.Name)
		if !ok {
			return nil, fmt.Errorf("no built-in source for feed %q", fc.Name)
		}
		specs = append(specs, ingest.FeedSpec{Source: src, Config: fc})
	}
	return specs, nil
}

// loopbackHTTP reports whether u is a plain-http URL on a loopback address:
// the only endpoints that get no bearer token (local tests against a fake).
func loopbackHTTP(u string) bool {
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme != "http" {
		return false
	}
	h := pu.Hostname()
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}
