package state

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// garbleBatch is a transport that, while armed, makes the per-operation
// ETags of transaction responses unreadable (the store must fall back to
// reading them back) and then runs between, before the store sees the
// response: the moment another writer could slip in.
type garbleBatch struct {
	armed   atomic.Bool
	garbled atomic.Int32
	between func()
}

func (g *garbleBatch) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil || !g.armed.Load() || !strings.HasSuffix(req.URL.Path, "$batch") || resp.StatusCode != http.StatusAccepted {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	// aztables ignores the operations' ETags; batchETags needs them.
	body = bytes.ReplaceAll(body, []byte("\nETag:"), []byte("\nX-Tag:"))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	g.garbled.Add(1)
	if g.between != nil {
		g.between()
	}
	return resp, nil
}

// TestTableReadBackConflict is the regression test for a lost update: when
// a transaction's response cannot be parsed, the store reads the ETags
// back, and must not hand our record the ETag of another writer's version.
func TestTableReadBackConflict(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cs := azuriteConnString(t)
	b := make([]byte, 8)
	rand.Read(b)
	table := "rb" + hex.EncodeToString(b)
	g := &garbleBatch{}
	s, err := OpenTable(ctx, TableOptions{ConnectionString: cs, Table: table,
		ClientOptions: &aztables.ClientOptions{ClientOptions: policy.ClientOptions{Transport: g}}})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := OpenTable(ctx, TableOptions{ConnectionString: cs, Table: table}) // the other writer
	if err != nil {
		t.Fatal(err)
	}
	keys := keysIn("readback", "i03", 3)
	hot := keys[1]
	var theirs *Indicator
	g.between = func() {
		// Another writer updates hot right after our transaction.
		got, err := plain.Get(context.Background(), []string{hot})
		if err != nil || got[hot] == nil {
			t.Errorf("other writer: Get = %v, %v", got, err)
			return
		}
		theirs = got[hot]
		theirs.Confidence, theirs.Labels = 5, append(theirs.Labels, "theirs")
		if err := plain.Put(context.Background(), []*Indicator{theirs}); err != nil {
			t.Errorf("other writer: Put: %v", err)
		}
	}
	check := func(phase string, recs []*Indicator, before []string) {
		t.Helper()
		g.armed.Store(true)
		err := s.Put(ctx, recs)
		g.armed.Store(false)
		if g.garbled.Swap(0) != 1 {
			t.Fatalf("%s: the transaction response was not garbled", phase)
		}
		var ce *ConflictError
		if !errors.As(err, &ce) || len(ce.Keys) != 1 || ce.Keys[0] != hot {
			t.Fatalf("%s: Put = %v, want a conflict on %s only", phase, err, hot)
		}
		stored, err := plain.Get(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if r.Key == hot {
				if r.ETag != before[i] {
					t.Errorf("%s: conflicting record's ETag changed to %q (stored %q)", phase, r.ETag, stored[hot].ETag)
				}
				continue
			}
			if r.ETag == "" || r.ETag != stored[r.Key].ETag {
				t.Errorf("%s: %s: ETag %q, stored %q", phase, r.Key, r.ETag, stored[r.Key].ETag)
			}
			sameRecord(t, r, stored[r.Key])
		}
		// Our stale hot record must not overwrite the other writer's change.
		if err := s.Put(ctx, recs[1:2]); !errors.Is(err, ErrConflict) {
			t.Errorf("%s: re-Put of the overwritten record = %v, want a conflict", phase, err)
		}
		got, err := plain.Get(ctx, []string{hot})
		if err != nil {
			t.Fatal(err)
		}
		sameRecord(t, theirs, got[hot])
	}

	// Inserts.
	recs := make([]*Indicator, len(keys))
	for i, k := range keys {
		recs[i] = sample(k)
	}
	check("insert", recs, []string{"", "", ""})

	// Updates, from fresh reads.
	cur, err := s.Get(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	recs = []*Indicator{cur[keys[0]], cur[keys[1]], cur[keys[2]]}
	before := make([]string, len(recs))
	for i, r := range recs {
		r.Revision++
		before[i] = r.ETag
	}
	check("update", recs, before)

	// Without interference the read-back ETags are taken and usable.
	g.between = nil
	cur, err = s.Get(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	recs = []*Indicator{cur[keys[0]], cur[keys[1]], cur[keys[2]]}
	for _, r := range recs {
		r.Confidence = 99
	}
	g.armed.Store(true)
	err = s.Put(ctx, recs)
	g.armed.Store(false)
	if err != nil || g.garbled.Load() != 1 {
		t.Fatalf("Put without interference = %v (garbled %d)", err, g.garbled.Load())
	}
	stored, err := plain.Get(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.ETag != stored[r.Key].ETag {
			t.Errorf("%s: read-back ETag %q, stored %q", r.Key, r.ETag, stored[r.Key].ETag)
		}
		r.Confidence = 1
	}
	if err := s.Put(ctx, recs); err != nil {
		t.Errorf("Put with read-back ETags: %v", err)
	}
}

func TestSameEntity(t *testing.T) {
	t.Parallel()
	a := sample("domain:a.example")
	written, err := encodeIndicator(a)
	if err != nil {
		t.Fatal(err)
	}
	// As the service returns it: metadata and annotations added.
	stored := append([]byte(`{"odata.metadata":"m","odata.etag":"W/\"x\"","Timestamp":"2025-01-01T00:00:00Z",`), written[1:]...)
	if !sameEntity(stored, written) {
		t.Errorf("sameEntity(identical content) = false")
	}
	for name, mod := range map[string]func(*Indicator){
		"fingerprint":   func(i *Indicator) { i.Fingerprint = "sha256:other" },
		"status":        func(i *Indicator) { i.Status = StatusRevoked },
		"revision":      func(i *Indicator) { i.Revision++ },
		"last uploaded": func(i *Indicator) { i.LastUploaded = i.LastUploaded.Add(1) },
		"sources":       func(i *Indicator) { i.Sources = append(i.Sources, SourceSeen{Source: "urlhaus"}) },
		"labels":        func(i *Indicator) { i.Labels = nil },
		"object":        func(i *Indicator) { i.Object = []byte(`{}`) },
	} {
		b := a.Clone()
		mod(b)
		other, err := encodeIndicator(b)
		if err != nil {
			t.Fatal(err)
		}
		if sameEntity(other, written) {
			t.Errorf("%s changed: sameEntity = true", name)
		}
	}
	if sameEntity([]byte(`{`), written) {
		t.Errorf("sameEntity(garbage) = true")
	}
}
