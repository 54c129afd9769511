package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// TableOptions configures OpenTable. Zero fields mean defaults.
type TableOptions struct {
	// ServiceURL is the Table service endpoint, e.g.
	// https://<account>.table.core.windows.net/ (or Azurite's
	// http://127.0.0.1:10002/devstoreaccount1). Used with Credential.
	ServiceURL string
	// Credential authenticates to ServiceURL (a managed identity in Azure;
	// it needs the Storage Table Data Contributor role).
	Credential azcore.TokenCredential
	// ConnectionString, for Azurite and development only, takes precedence
	// over ServiceURL and Credential when set.
	ConnectionString string
	// Table is the table name, created if missing. Default "feeds2sentinel".
	Table string
	// Parallelism bounds the concurrent requests of one Get, Put or Scan.
	// Default 32.
	Parallelism int
	// ClientOptions are passed to the aztables client (transport, retry,
	// logging). The store adds one per-call policy of its own. Without a
	// Transport, the store's HTTP client keeps Parallelism idle connections
	// per host (the SDK's default keeps 10).
	ClientOptions *aztables.ClientOptions
}

// DefaultTable is the table TableStore uses when TableOptions.Table is "".
const DefaultTable = "feeds2sentinel"

// TableStore is the Store on Azure Table Storage, shared by every instance
// of the Functions app. It is safe for concurrent use.
//
// Entity layout. An indicator with key K lives at RowKey = hex SHA-256 of K
// and PartitionKey = "i" + two hex digits (the top 6 bits of the hash's
// first byte), i.e. 64 partitions "i00".."i3f" spread evenly. Its
// properties are Key, ID, Revision (Int32), Type, Value, Confidence
// (Int32), Fingerprint, Status, the times Created, LastUploaded and
// ValidUntil as RFC 3339 UTC strings, Sources and Labels as JSON-array
// strings and Object as the STIX object's JSON text (≤ 32 KiB, below the
// 64 KiB property limit; whole entities stay below 1 MiB). The entity's
// ETag is the Indicator's ETag. Feed statuses live in partition "status",
// cursors in partition "cursor", both with RowKey "n" + hex(feed name) and
// the value as a JSON string property Data; the uploader counters are the
// single row ("uploader", "stats"), same Data encoding.
//
// Put groups records by partition into transactions of ≤ 100 entities and
// ≤ 3 MiB, submitted in parallel (at most Parallelism at once); the new
// ETags are read from the batch response. Should that response be
// unreadable, each entity is read back and its ETag taken only if the
// stored content is still exactly what Put wrote; a key overwritten in
// between is reported in the *ConflictError with its record's ETag
// unchanged (see refreshETags). A transaction fails whole on its first
// conflicting record, which the error response names: that record is
// reported and the transaction resubmitted without it; from a second
// conflict on, the records left are read and the stale ones set aside
// together. Only if a failure names no conflicting operation are the
// records written one by one.
//
// Get groups keys by partition and runs its requests in parallel (at most
// Parallelism at once): a filter query per 14 keys of a partition (the
// service allows 15 comparisons in a filter, one being the PartitionKey),
// a point query for a lone key, or a listing of the partition (1000 rows
// a page) when it holds at most 3 rows per key wanted. The store estimates
// each partition's size from its listings (Get's, Scan's) and the rows it
// inserts since; with 100 keys or more in a partition of unknown size, Get
// lists it and goes on as long as the rows left, estimated from how far
// the hash-ordered row keys have got, stay within 3 per key left. So a
// diff against a table not much larger than the run reads whole
// partitions, and one against a large table pays one page a partition
// once per store.
type TableStore struct {
	client   *aztables.Client
	parallel int
	// rows estimates each indicator partition's row count, plus one (0:
	// unknown): set by listings, counted up by inserts. It only steers
	// Get between listing a partition and querying keys.
	rows [partitionCount]atomic.Int64
}

var _ Store = (*TableStore)(nil)

// OpenTable connects to Table Storage and creates the table if needed.
func OpenTable(ctx context.Context, opts TableOptions) (*TableStore, error) {
	if opts.Table == "" {
		opts.Table = DefaultTable
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = 32
	}
	var co aztables.ClientOptions
	if opts.ClientOptions != nil {
		co = *opts.ClientOptions
	}
	if co.Transport == nil {
		co.Transport = newHTTPClient(opts.Parallelism)
	}
	co.PerCallPolicies = append(append([]policy.Policy(nil), co.PerCallPolicies...), capturePolicy{})
	var (
		svc *aztables.ServiceClient
		err error
	)
	switch {
	case opts.ConnectionString != "":
		svc, err = aztables.NewServiceClientFromConnectionString(opts.ConnectionString, &co)
	case opts.ServiceURL != "" && opts.Credential != nil:
		svc, err = aztables.NewServiceClient(opts.ServiceURL, opts.Credential, &co)
	default:
		err = errors.New("need ConnectionString, or ServiceURL and Credential")
	}
	if err != nil {
		return nil, fmt.Errorf("state: open table: %w", err)
	}
	client := svc.NewClient(opts.Table)
	if _, err := svc.CreateTable(ctx, opts.Table, nil); err != nil && !hasCode(err, aztables.TableAlreadyExists) {
		// A role scoped to the table itself (as the Bicep grants) may not
		// create tables: the table is the deployment's to create, so a
		// refused create is fine when the table answers a read.
		if !hasStatus(err, http.StatusForbidden) {
			return nil, fmt.Errorf("state: create table %s: %w", opts.Table, err)
		}
		top := int32(1)
		pager := client.NewListEntitiesPager(&aztables.ListEntitiesOptions{Top: &top})
		if _, perr := pager.NextPage(ctx); perr != nil {
			return nil, fmt.Errorf("state: table %s: creating it was refused (%w) and reading it failed too (%v): create the table or grant Storage Table Data Contributor on it", opts.Table, err, perr)
		}
	}
	return &TableStore{client: client, parallel: opts.Parallelism}, nil
}

// newHTTPClient returns the HTTP client of a store whose operations run
// up to parallelism requests at once. The Azure SDK's default transport
// keeps 10 idle connections per host: with more concurrent requests, every
// surplus connection is closed after its response and a new one dialled
// for the next request, which costs more than the request itself.
func newHTTPClient(parallelism int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0 // no limit across hosts
	t.MaxIdleConnsPerHost = parallelism
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	return &http.Client{Transport: t}
}

// hasCode reports whether err is a response error with the given code.
func hasCode(err error, code aztables.TableErrorCode) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.ErrorCode == string(code)
}

// hasStatus reports whether err is a response error with one of codes.
func hasStatus(err error, codes ...int) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	for _, c := range codes {
		if re.StatusCode == c {
			return true
		}
	}
	return false
}

// parallel runs fn(ctx, i) for i in [0, n) on at most workers goroutines
// and returns the first error; after an error the remaining calls are not
// started and ctx passed to running calls is cancelled.
func parallel(ctx context.Context, workers, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
loop:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break loop
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// maxFilterKeys is the number of keys of one filter query: the Table
// service allows 15 comparisons in a $filter, one is the PartitionKey.
const maxFilterKeys = 14

// Get lists a partition rather than querying keys when it holds at most
// listRowsPerKey rows per key wanted; when its size is unknown, from
// listMinKeys keys wanted (a first page then tells the size). A listed row
// costs less than a key queried (a filter query is a request per 14 keys;
// Azurite scans the whole table for each), but not much less.
const (
	listRowsPerKey = 3
	listMinKeys    = 100
)

// partitionRows returns the estimated row count of partition pk, if known.
func (s *TableStore) partitionRows(pk string) (int, bool) {
	p, ok := partitionIndex(pk)
	if !ok {
		return 0, false
	}
	n := s.rows[p].Load()
	return int(n - 1), n > 0
}

// setPartitionRows records the estimated row count of partition pk.
func (s *TableStore) setPartitionRows(pk string, n int) {
	if p, ok := partitionIndex(pk); ok {
		s.rows[p].Store(int64(n) + 1)
	}
}

// addPartitionRows adds n inserted rows to the estimate of partition pk,
// if it is known.
func (s *TableStore) addPartitionRows(pk string, n int) {
	p, ok := partitionIndex(pk)
	if !ok {
		return
	}
	for {
		v := s.rows[p].Load()
		if v == 0 || s.rows[p].CompareAndSwap(v, v+int64(n)) {
			return
		}
	}
}

// partitionIndex returns the index of indicator partition pk ("i00".."i3f").
func partitionIndex(pk string) (int, bool) {
	if len(pk) != 3 || pk[0] != 'i' {
		return 0, false
	}
	p, err := strconv.ParseUint(pk[1:], 16, 8)
	if err != nil || p >= partitionCount {
		return 0, false
	}
	return int(p), true
}

// getTask is one request of a Get: the row keys rks (sorted) of partition
// pk, fetched by a filter query (or a point query for one key), or by
// listing the partition when list is set.
type getTask struct {
	pk   string
	rks  []string
	list bool
}

// Get implements Store.Get; see TableStore for the strategy.
func (s *TableStore) Get(ctx context.Context, keys []string) (map[string]*Indicator, error) {
	want := make(map[string]bool, len(keys))
	byPK := make(map[string][]string)
	for _, k := range keys {
		if want[k] {
			continue
		}
		want[k] = true
		pk, rk := location(k)
		byPK[pk] = append(byPK[pk], rk)
	}
	var tasks []getTask
	for _, pk := range slices.Sorted(maps.Keys(byPK)) {
		rks := byPK[pk]
		slices.Sort(rks)
		rows, known := s.partitionRows(pk)
		if known && rows <= listRowsPerKey*len(rks) || !known && len(rks) >= listMinKeys {
			tasks = append(tasks, getTask{pk: pk, rks: rks, list: true})
			continue
		}
		for chunk := range slices.Chunk(rks, maxFilterKeys) {
			tasks = append(tasks, getTask{pk: pk, rks: chunk})
		}
	}
	out := make(map[string]*Indicator, len(keys))
	var mu sync.Mutex
	add := func(ind *Indicator) error {
		if want[ind.Key] {
			mu.Lock()
			out[ind.Key] = ind
			mu.Unlock()
		}
		return nil
	}
	err := parallel(ctx, s.parallel, len(tasks), func(ctx context.Context, i int) error {
		t := tasks[i]
		if t.list {
			return s.listWanted(ctx, t.pk, t.rks, add)
		}
		return s.queryKeys(ctx, t.pk, t.rks, add)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// queryKeys fetches the rows rks (at most maxFilterKeys) of partition pk
// with one filter query, or a point query for a single row, and calls fn
// for each row found.
func (s *TableStore) queryKeys(ctx context.Context, pk string, rks []string, fn func(*Indicator) error) error {
	if len(rks) == 1 {
		resp, err := s.client.GetEntity(ctx, pk, rks[0], nil)
		if hasStatus(err, http.StatusNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("state: get: %w", err)
		}
		ind, err := decodeIndicator(resp.Value, string(resp.ETag))
		if err != nil {
			return fmt.Errorf("state: get: %w", err)
		}
		return fn(ind)
	}
	return s.listPartition(ctx, pk, rowKeyFilter(rks), fn)
}

// rowKeyFilter returns the OData condition matching the row keys rks:
// (RowKey eq 'a' or RowKey eq 'b' ...).
func rowKeyFilter(rks []string) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, rk := range rks {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString("RowKey eq '")
		b.WriteString(odataString(rk))
		b.WriteByte('\'')
	}
	b.WriteByte(')')
	return b.String()
}

// listWanted fetches the rows rks (sorted) of partition pk by listing the
// partition page by page, as long as the rows left to list are at most
// listRowsPerKey per wanted row left; it then queries those, and records
// the partition's estimated size for the next Get.
//
// Row keys are hex SHA-256 hashes, spread evenly: the row key of a page's
// last row tells which fraction of the partition has been listed, hence
// about how many rows remain. A partition holding few rows besides the
// wanted ones is listed whole; a large one costs one page more than
// querying alone would.
func (s *TableStore) listWanted(ctx context.Context, pk string, rks []string, fn func(*Indicator) error) error {
	listed, last := 0, ""
	var rest []string // the wanted rows not listed yet
	stopped := false
	err := s.listPages(ctx, pk, "", func(raw []byte) error {
		// Most rows may be unwanted: read their row key only.
		var head struct{ RowKey string }
		if err := json.Unmarshal(raw, &head); err != nil {
			return fmt.Errorf("state: list %s: %w", pk, err)
		}
		last = head.RowKey
		listed++
		if _, wanted := slices.BinarySearch(rks, last); !wanted {
			return nil
		}
		ind, err := decodeIndicator(raw, "")
		if err != nil {
			return fmt.Errorf("state: list %s: %w", pk, err)
		}
		return fn(ind)
	}, func() bool {
		n, found := slices.BinarySearch(rks, last)
		if found {
			n++
		}
		rest = rks[n:]
		left := remainingRows(listed, last)
		if len(rest) > 0 && left <= listRowsPerKey*len(rest) {
			return true // listing on is cheaper
		}
		stopped = true
		s.setPartitionRows(pk, listed+left)
		return false
	})
	if err != nil {
		return err
	}
	if !stopped {
		s.setPartitionRows(pk, listed) // listed whole
		return nil
	}
	for chunk := range slices.Chunk(rest, maxFilterKeys) {
		if err := s.queryKeys(ctx, pk, chunk, fn); err != nil {
			return err
		}
	}
	return nil
}

// remainingRows estimates the rows left to list in a partition of which
// listed rows have been listed, up to row key last. Row keys are hex
// SHA-256 hashes whose top 6 bits are the partition's (see location): the
// next 26 bits, evenly spread, tell how far the listing has got.
func remainingRows(listed int, last string) int {
	const many = 1 << 30 // nothing to estimate from
	if listed == 0 || len(last) < 8 {
		return many
	}
	v, err := strconv.ParseUint(last[:8], 16, 32)
	if err != nil {
		return many
	}
	const span = 1 << 26
	done := (float64(v%span) + 1) / span // fraction of the partition listed
	return int(min(math.Ceil(float64(listed)*(1-done)/done), many))
}

// Scan implements Store.Scan: one pager per indicator partition, run in
// parallel, following continuation tokens; fn is called one at a time.
// Status is filtered by the service, Source by the store.
func (s *TableStore) Scan(ctx context.Context, filter ScanFilter, fn func(*Indicator) error) error {
	var cond string
	if filter.Status != "" {
		cond = fmt.Sprintf("Status eq '%s'", odataString(string(filter.Status)))
	}
	var mu sync.Mutex
	return parallel(ctx, s.parallel, partitionCount, func(ctx context.Context, p int) error {
		rows := 0
		err := s.listPartition(ctx, partitionName(p), cond, func(ind *Indicator) error {
			rows++
			if !filter.match(ind) {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			if err := ctx.Err(); err != nil {
				return err
			}
			return fn(ind)
		})
		if err == nil && cond == "" {
			s.setPartitionRows(partitionName(p), rows)
		}
		return err
	})
}

// listPartition calls fn for every indicator of partition pk matching the
// OData condition cond ("" = all), page by page.
func (s *TableStore) listPartition(ctx context.Context, pk, cond string, fn func(*Indicator) error) error {
	return s.listPages(ctx, pk, cond, func(raw []byte) error {
		ind, err := decodeIndicator(raw, "")
		if err != nil {
			return fmt.Errorf("state: list %s: %w", pk, err)
		}
		return fn(ind)
	}, nil)
}

// listPages calls fn with every entity of partition pk matching the OData
// condition cond ("" = all), page by page; when next is not nil, it calls
// next between pages and stops when next returns false.
func (s *TableStore) listPages(ctx context.Context, pk, cond string, fn func(raw []byte) error, next func() bool) error {
	q := fmt.Sprintf("PartitionKey eq '%s'", pk)
	if cond != "" {
		q += " and " + cond
	}
	pager := s.client.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: to.Ptr(q)})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("state: list %s: %w", pk, err)
		}
		for _, raw := range page.Entities {
			if err := fn(raw); err != nil {
				return err
			}
		}
		if next != nil && pager.More() && !next() {
			return nil
		}
	}
	return nil
}

// odataString escapes s for an OData string literal.
func odataString(s string) string {
	out := make([]byte, 0, len(s))
	for i := range len(s) {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// PutFeedStatus implements Store.PutFeedStatus (last writer wins).
func (s *TableStore) PutFeedStatus(ctx context.Context, st FeedStatus) error {
	return s.upsertData(ctx, pkStatus, nameKey(st.Feed), st)
}

// FeedStatuses implements Store.FeedStatuses.
func (s *TableStore) FeedStatuses(ctx context.Context) ([]FeedStatus, error) {
	var out []FeedStatus
	pager := s.client.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: to.Ptr("PartitionKey eq '" + pkStatus + "'")})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("state: feed statuses: %w", err)
		}
		for _, raw := range page.Entities {
			var st FeedStatus
			if _, err := decodeData(raw, &st); err != nil {
				return nil, fmt.Errorf("state: feed statuses: %w", err)
			}
			out = append(out, st)
		}
	}
	return sortedStatuses(out), nil
}

// Cursor implements Store.Cursor.
func (s *TableStore) Cursor(ctx context.Context, feed string) (Cursor, error) {
	var c Cursor
	_, err := s.getData(ctx, pkCursor, nameKey(feed), &c)
	return c, err
}

// PutCursor implements Store.PutCursor.
func (s *TableStore) PutCursor(ctx context.Context, feed string, c Cursor) error {
	return s.upsertData(ctx, pkCursor, nameKey(feed), c)
}

// UploaderStats implements Store.UploaderStats.
func (s *TableStore) UploaderStats(ctx context.Context) (UploaderStats, error) {
	var st UploaderStats
	_, err := s.getData(ctx, pkUploader, rkUploader, &st)
	return st, err
}

// AddUploaderStats implements Store.AddUploaderStats: read, add, write
// with If-Match, and retry with jittered backoff on a conflict.
func (s *TableStore) AddUploaderStats(ctx context.Context, delta UploaderStats) error {
	backoff := 5 * time.Millisecond
	for {
		var cur UploaderStats
		etag, err := s.getData(ctx, pkUploader, rkUploader, &cur)
		if err != nil {
			return err
		}
		b, err := encodeData(pkUploader, rkUploader, cur.add(delta))
		if err != nil {
			return fmt.Errorf("state: add uploader stats: %w", err)
		}
		if etag == "" {
			_, err = s.client.AddEntity(ctx, b, nil)
		} else {
			_, err = s.client.UpdateEntity(ctx, b, &aztables.UpdateEntityOptions{
				IfMatch: to.Ptr(azcore.ETag(etag)), UpdateMode: aztables.UpdateModeReplace})
		}
		if !hasStatus(err, http.StatusConflict, http.StatusPreconditionFailed, http.StatusNotFound) {
			if err != nil {
				return fmt.Errorf("state: add uploader stats: %w", err)
			}
			return nil
		}
		t := time.NewTimer(backoff/2 + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// getData reads a data row into v; a missing row leaves v unchanged and
// returns etag "".
func (s *TableStore) getData(ctx context.Context, pk, rk string, v any) (etag string, err error) {
	resp, err := s.client.GetEntity(ctx, pk, rk, nil)
	if hasStatus(err, http.StatusNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("state: get %s: %w", pk, err)
	}
	if _, err := decodeData(resp.Value, v); err != nil {
		return "", fmt.Errorf("state: get %s: %w", pk, err)
	}
	return string(resp.ETag), nil
}

func (s *TableStore) upsertData(ctx context.Context, pk, rk string, v any) error {
	b, err := encodeData(pk, rk, v)
	if err != nil {
		return fmt.Errorf("state: put %s: %w", pk, err)
	}
	if _, err := s.client.UpsertEntity(ctx, b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
		return fmt.Errorf("state: put %s: %w", pk, err)
	}
	return nil
}

// Close implements Store.Close; a TableStore holds nothing to release.
func (s *TableStore) Close() error { return nil }
