package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// countingTransport counts the requests a store sends, by kind.
type countingTransport struct {
	next *http.Client
	mu   sync.Mutex
	n    map[string]int
}

// Do counts req by kind: "batch", "query" (a $filter on row keys),
// "list" (a page of a partition), "point" (a GET of one entity) or
// "write" (an entity written alone).
func (c *countingTransport) Do(req *http.Request) (*http.Response, error) {
	kind := "write"
	switch {
	case strings.HasSuffix(req.URL.Path, "$batch"):
		kind = "batch"
	case req.Method == http.MethodGet && strings.Contains(req.URL.Query().Get("$filter"), "RowKey"):
		kind = "query"
	case req.Method == http.MethodGet && req.URL.Query().Has("$filter"):
		kind = "list"
	case req.Method == http.MethodGet:
		kind = "point"
	}
	c.mu.Lock()
	c.n[kind]++
	c.mu.Unlock()
	return c.next.Do(req)
}

// reset returns the counts so far and starts again from zero.
func (c *countingTransport) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = make(map[string]int)
	return n
}

// openCounted opens a store on a fresh table with a counting transport,
// and a second, plain store on the same table (another writer).
func openCounted(t *testing.T) (*TableStore, *countingTransport, *TableStore) {
	t.Helper()
	cs := azuriteConnString(t)
	b := make([]byte, 8)
	rand.Read(b)
	table := "c" + hex.EncodeToString(b)
	ct := &countingTransport{next: newHTTPClient(32), n: make(map[string]int)}
	s, err := OpenTable(t.Context(), TableOptions{ConnectionString: cs, Table: table,
		ClientOptions: &aztables.ClientOptions{ClientOptions: policy.ClientOptions{Transport: ct}}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := OpenTable(t.Context(), TableOptions{ConnectionString: cs, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	ct.reset()
	return s, ct, other
}

// samples returns a sample record for each key.
func samples(keys []string) []*Indicator {
	recs := make([]*Indicator, len(keys))
	for i, k := range keys {
		recs[i] = sample(k)
	}
	return recs
}

// checkStored checks that every record of recs is stored as it is, with
// the ETag Put gave it.
func checkStored(t *testing.T, s Store, recs []*Indicator) {
	t.Helper()
	keys := make([]string, len(recs))
	for i, r := range recs {
		keys[i] = r.Key
	}
	got, err := s.Get(t.Context(), keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		g := got[r.Key]
		if g == nil {
			t.Fatalf("%s: not stored", r.Key)
		}
		if g.ETag != r.ETag {
			t.Fatalf("%s: stored ETag %q, record %q", r.Key, g.ETag, r.ETag)
		}
		sameRecord(t, r, g)
	}
}

// TestTablePutMany writes 1,000 records across partitions: one transaction
// per partition, no entity written alone.
func TestTablePutMany(t *testing.T) {
	t.Parallel()
	s, ct, other := openCounted(t)
	keys := keysIn("many", "", 1000)
	perPK := make(map[string]int)
	for _, k := range keys {
		pk, _ := location(k)
		perPK[pk]++
	}
	recs := samples(keys)
	if err := s.Put(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	wantBatches, wantWrites := 0, 0
	for _, n := range perPK {
		if n == 1 {
			wantWrites++
		} else {
			wantBatches += (n + maxBatchOps - 1) / maxBatchOps
		}
	}
	if n := ct.reset(); n["batch"] != wantBatches || n["write"] != wantWrites {
		t.Errorf("requests %v, want %d batches and %d single writes", n, wantBatches, wantWrites)
	}
	checkStored(t, other, recs)

	// Updates, 1,000 again.
	for _, r := range recs {
		r.Revision++
	}
	if err := s.Put(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	checkStored(t, other, recs)
}

// TestTablePutConflictInTransaction has one conflicting record among 100
// of one partition, for inserts and for updates: the other 99 are written
// in a second transaction, the one is named and left alone.
func TestTablePutConflictInTransaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, ct, other := openCounted(t)
	keys := keysIn("txconflict", "i05", 100)
	const hot = 42

	// Insert: the other writer inserted keys[hot] first.
	theirs := sample(keys[hot])
	theirs.Confidence = 5
	if err := other.Put(ctx, []*Indicator{theirs}); err != nil {
		t.Fatal(err)
	}
	recs := samples(keys)
	check := func(phase string, before string) {
		t.Helper()
		ct.reset()
		err := s.Put(ctx, recs)
		var ce *ConflictError
		if !errors.As(err, &ce) || len(ce.Keys) != 1 || ce.Keys[0] != keys[hot] {
			t.Fatalf("%s: Put = %v, want a conflict on %s only", phase, err, keys[hot])
		}
		if n := ct.reset(); n["batch"] != 2 || n["write"] != 0 {
			t.Errorf("%s: requests %v, want 2 transactions and nothing else", phase, n)
		}
		if recs[hot].ETag != before {
			t.Errorf("%s: conflicting record's ETag changed", phase)
		}
		written := append(append([]*Indicator(nil), recs[:hot]...), recs[hot+1:]...)
		checkStored(t, other, written)
		checkStored(t, other, []*Indicator{theirs})
	}
	check("insert", "")

	// Update: everything re-read, then the other writer changes keys[hot].
	cur, err := s.Get(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		recs[i] = cur[k]
		recs[i].Revision = 7
	}
	theirs = cur[keys[hot]].Clone()
	theirs.Confidence = 6
	if err := other.Put(ctx, []*Indicator{theirs}); err != nil {
		t.Fatal(err)
	}
	check("update", recs[hot].ETag)
}

// TestTablePutManyConflicts has 30 stale records among 100 of one
// partition: after the second conflict the store reads the others
// instead of resubmitting the transaction once per conflict.
func TestTablePutManyConflicts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, ct, other := openCounted(t)
	keys := keysIn("manyconflicts", "i0b", 100)
	recs := samples(keys)
	if err := s.Put(ctx, recs); err != nil {
		t.Fatal(err)
	}
	theirs, err := other.Get(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	var changed []*Indicator
	want := make(map[string]bool)
	for i := 3; i < len(keys); i += 3 {
		ind := theirs[keys[i]]
		ind.Confidence = 1
		changed = append(changed, ind)
		want[ind.Key] = true
	}
	if err := other.Put(ctx, changed); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.Revision = 9
	}
	ct.reset()
	err = s.Put(ctx, recs)
	var ce *ConflictError
	if !errors.As(err, &ce) || len(ce.Keys) != len(want) {
		t.Fatalf("Put = %v, want conflicts on %d keys", err, len(want))
	}
	for _, k := range ce.Keys {
		if !want[k] {
			t.Errorf("%s named as conflicting", k)
		}
	}
	if n := ct.reset(); n["batch"] != 3 || n["write"] != 0 || n["query"] > (len(keys)+maxFilterKeys-1)/maxFilterKeys {
		t.Errorf("requests %v, want 3 transactions and the queries of one read", n)
	}
	var written []*Indicator
	for _, r := range recs {
		if !want[r.Key] {
			written = append(written, r)
		}
	}
	checkStored(t, other, written)
	checkStored(t, other, changed)
}

// TestBatchFailureAzurite checks that Azurite names the failed operation
// of a transaction, and records the response as
// testdata/batch_conflict_response.txt with -update.
func TestBatchFailureAzurite(t *testing.T) {
	t.Parallel()
	s := openAzurite(t)
	keys := keysIn("fail", "i04", 3)
	if err := s.Put(t.Context(), []*Indicator{sample(keys[1])}); err != nil {
		t.Fatal(err)
	}
	ops := make([]putOp, len(keys))
	for i, k := range keys {
		b, err := encodeIndicator(sample(k))
		if err != nil {
			t.Fatal(err)
		}
		ops[i] = putOp{rec: sample(k), entity: b, pk: "i04"}
	}
	capt := &captured{}
	if _, err := s.client.SubmitTransaction(context.WithValue(t.Context(), captureKey{}, capt), transactionActions(ops), nil); err == nil {
		t.Fatal("transaction inserting an existing entity succeeded")
	}
	i, status, err := batchFailure(capt.header.Get("Content-Type"), capt.body)
	if err != nil || i != 1 || status != http.StatusConflict {
		t.Fatalf("batchFailure = %d, %d, %v; want operation 1, status 409", i, status, err)
	}
	if *update {
		data := "Content-Type: " + capt.header.Get("Content-Type") + "\n\n" + string(capt.body)
		if err := os.WriteFile("testdata/batch_conflict_response.txt", []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTableGetPaging reads more than a page of one partition (listed),
// keys spread over partitions (queried) and missing keys.
func TestTableGetPaging(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, ct, other := openCounted(t)
	dense := keysIn("dense", "i06", 1200)
	spread := keysIn("spread", "", 300)
	recs := samples(append(append([]string(nil), dense...), spread...))
	if err := other.Put(ctx, recs); err != nil {
		t.Fatal(err)
	}
	missing := []string{"domain:missing-1.example", "domain:missing-2.example", keysIn("gone", "i06", 1)[0]}
	keys := append(append(append([]string(nil), dense[:1100]...), spread...), missing...)
	keys = append(keys, dense[:5]...) // duplicates are allowed
	got, err := s.Get(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1400 {
		t.Fatalf("Get returned %d records, want 1400", len(got))
	}
	for _, r := range recs[:1100] {
		sameRecord(t, r, got[r.Key])
	}
	for _, k := range missing {
		if got[k] != nil {
			t.Errorf("%s: found, want absent", k)
		}
	}
	n := ct.reset()
	// i06 holds 1200 + ~5 rows: two pages. The spread keys: ~5 a partition,
	// one query each (two in the odd partition with more than 14).
	if n["list"] != 2 || n["query"]+n["point"] > 2*partitionCount {
		t.Errorf("requests %v: want 2 pages of i06 and about one request a partition", n)
	}

	// Once a Scan has counted the partitions' rows (a few dozen each, but
	// two pages in i06), Get lists the small partitions: one page instead
	// of a query.
	if err := s.Scan(ctx, ScanFilter{}, func(*Indicator) error { return nil }); err != nil {
		t.Fatal(err)
	}
	ct.reset()
	if got, err = s.Get(ctx, spread); err != nil || len(got) != len(spread) {
		t.Fatalf("Get = %d records, %v; want %d", len(got), err, len(spread))
	}
	if n := ct.reset(); n["query"]+n["point"] > 1 || n["list"] > partitionCount-1 {
		t.Errorf("requests after Scan %v: want one page a partition but i06 queried", n)
	}
}

// TestTableGetSparse reads 120 keys of a partition holding 8,000 rows:
// Get lists one page, then queries the remaining keys rather than listing
// the remaining pages.
func TestTableGetSparse(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 8,000 rows")
	}
	t.Parallel()
	ctx := t.Context()
	s, ct, other := openCounted(t)
	all := keysIn("sparse", "i09", 8000)
	recs := make([]*Indicator, len(all))
	for i, k := range all {
		recs[i] = &Indicator{Key: k, Status: StatusActive}
	}
	if err := other.Put(ctx, recs); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := 0; i < len(all); i += len(all) / 120 {
		keys = append(keys, all[i])
	}
	got, err := s.Get(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(keys) {
		t.Fatalf("Get returned %d of %d", len(got), len(keys))
	}
	// One page of 1000 rows (~1/8 of the keys), then ceil(~105/14) = 8
	// queries rather than 7,000 rows more.
	queries := (len(keys) + maxFilterKeys - 1) / maxFilterKeys
	if n := ct.reset(); n["list"] != 1 || n["query"] < 2 || n["query"] > queries {
		t.Errorf("requests %v: want one page and queries of 14 keys", n)
	}
	// The partition's size is known now: queries only.
	if got, err = s.Get(ctx, keys); err != nil || len(got) != len(keys) {
		t.Fatalf("Get = %d records, %v; want %d", len(got), err, len(keys))
	}
	if n := ct.reset(); n["list"] != 0 || n["query"] != queries {
		t.Errorf("requests %v: want %d queries and no page", n, queries)
	}
}

func TestRowKeyFilterLength(t *testing.T) {
	t.Parallel()
	var rks []string
	for _, k := range keysIn("len", "i3f", maxFilterKeys) {
		_, rk := location(k)
		rks = append(rks, rk)
	}
	f := "PartitionKey eq 'i3f' and " + rowKeyFilter(rks)
	if got := strings.Count(f, " eq "); got != 15 {
		t.Errorf("filter has %d comparisons, want 15 (the service's limit)", got)
	}
	// The whole request URL must stay well below the service's limits.
	if n := len(url.Values{"$filter": {f}}.Encode()); n > 2000 {
		t.Errorf("encoded filter is %d bytes", n)
	}
}

func TestRemainingRows(t *testing.T) {
	t.Parallel()
	const many = 1 << 30
	cases := []struct {
		listed int
		last   string
		want   int
	}{
		{1000, "01000000" + strings.Repeat("0", 56), 3000}, // i00, a quarter listed
		{1000, "61000000", 3000},                           // i18, a quarter
		{1000, "ffffffff" + strings.Repeat("f", 56), 0},
		{500, "1dffffff", 500}, // i07, half
		{0, "01000000", many},
		{1000, "", many},
		{1000, "zz000000", many},
		{1000, "04000000", many}, // i01, nothing listed: capped
	}
	for _, tc := range cases {
		if got := remainingRows(tc.listed, tc.last); got != tc.want {
			t.Errorf("remainingRows(%d, %q) = %d, want %d", tc.listed, tc.last, got, tc.want)
		}
	}
}

// TestTableConcurrentTransactions has writers read-modify-write the same
// 60 keys of one partition, so every Put is one transaction that
// conflicts on some records: every writer's update must survive.
func TestTableConcurrentTransactions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openAzurite(t)
	keys := keysIn("txwriters", "i0a", 60)
	const writers, rounds = 6, 2
	err := parallel(ctx, writers, writers, func(ctx context.Context, w int) error {
		for r := range rounds {
			label := fmt.Sprintf("w%d-r%d", w, r)
			err := readModifyWrite(ctx, s, keys, func(ind *Indicator) {
				ind.Labels = append(ind.Labels, label)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		var labels []string
		if got[k] != nil {
			labels = slices.Sorted(slices.Values(got[k].Labels))
		}
		if want := writers * rounds; len(labels) != want || len(slices.Compact(slices.Clone(labels))) != want {
			t.Errorf("%s: labels %q, want %d distinct: updates lost or applied twice", k, labels, want)
		}
	}
}
