package state

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Transaction limits of Table Storage: 100 operations and 4 MiB per batch.
const (
	maxBatchOps   = 100
	maxBatchBytes = 3 << 20
)

// putOp is one record of a Put with its encoded entity.
type putOp struct {
	rec    *Indicator
	entity []byte
	pk     string
}

// Put implements Store.Put; see TableStore for the batching.
func (s *TableStore) Put(ctx context.Context, recs []*Indicator) error {
	if err := validate(recs); err != nil {
		return err
	}
	byPK := make(map[string][]putOp)
	for _, r := range recs {
		b, err := encodeIndicator(r)
		if err != nil {
			return fmt.Errorf("state: put: %w", err)
		}
		pk, _ := location(r.Key)
		byPK[pk] = append(byPK[pk], putOp{rec: r, entity: b, pk: pk})
	}
	var chunks [][]putOp
	for _, pk := range slices.Sorted(maps.Keys(byPK)) {
		ops := byPK[pk]
		for len(ops) > 0 {
			n, size := 0, 0
			for n < len(ops) && n < maxBatchOps && (n == 0 || size+len(ops[n].entity) <= maxBatchBytes) {
				size += len(ops[n].entity)
				n++
			}
			chunks = append(chunks, ops[:n])
			ops = ops[n:]
		}
	}
	defer s.countInserts(slices.DeleteFunc(slices.Clone(recs), func(r *Indicator) bool { return r.ETag != "" }))
	var (
		mu        sync.Mutex
		conflicts []string
	)
	err := parallel(ctx, s.parallel, len(chunks), func(ctx context.Context, i int) error {
		c, err := s.putChunk(ctx, chunks[i])
		mu.Lock()
		conflicts = append(conflicts, c...)
		mu.Unlock()
		return err
	})
	if err != nil {
		return err
	}
	if len(conflicts) > 0 {
		slices.Sort(conflicts)
		return &ConflictError{Keys: conflicts}
	}
	return nil
}

// countInserts adds the records of inserts that were written (they have
// an ETag now) to Get's estimates of the partition sizes.
func (s *TableStore) countInserts(inserts []*Indicator) {
	added := make(map[string]int)
	for _, r := range inserts {
		if r.ETag != "" {
			pk, _ := location(r.Key)
			added[pk]++
		}
	}
	for pk, n := range added {
		s.addPartitionRows(pk, n)
	}
}

// putChunk writes ops (one partition) as a transaction and returns the
// conflicting keys. A transaction fails whole on its first failed
// operation, whose index the error response names: a conflicting record
// is set aside and the transaction resubmitted without it. From the second
// conflict, the records left are read first and those already stale set
// aside too, so a chunk with many conflicts costs a few requests, not one
// per conflict. Should a failure not name a conflicting operation, the
// records are written one by one instead.
func (s *TableStore) putChunk(ctx context.Context, ops []putOp) ([]string, error) {
	var conflicts []string
	failed := 0 // transactions failed on a conflict
	for len(ops) > 1 {
		capt := &captured{}
		_, err := s.client.SubmitTransaction(context.WithValue(ctx, captureKey{}, capt), transactionActions(ops), nil)
		if err == nil {
			res, perr := batchETags(capt.header.Get("Content-Type"), capt.body)
			if perr == nil && matchOps(res, ops) {
				for i, op := range ops {
					op.rec.ETag = res[i].etag
				}
				return conflicts, nil
			}
			// Written, but the new ETags are unknown: read them back.
			c, err := s.refreshETags(ctx, ops)
			return append(conflicts, c...), err
		}
		var re *azcore.ResponseError
		if !errors.As(err, &re) {
			return conflicts, fmt.Errorf("state: put: transaction: %w", err)
		}
		// A failed transaction wrote nothing.
		i, status, perr := batchFailure(capt.header.Get("Content-Type"), capt.body)
		if perr != nil || i >= len(ops) || !isConflict(status) {
			break // find the culprits one by one
		}
		conflicts = append(conflicts, ops[i].rec.Key)
		ops = slices.Delete(slices.Clone(ops), i, i+1)
		if failed++; failed == 2 {
			// Conflicts come in runs (another instance writing the same
			// records): find the other stale records by reading rather
			// than by resubmitting the transaction once per record.
			stale, err := s.staleOps(ctx, ops)
			if err != nil {
				return conflicts, err
			}
			ops = slices.DeleteFunc(ops, func(op putOp) bool {
				if stale[op.rec.Key] {
					conflicts = append(conflicts, op.rec.Key)
				}
				return stale[op.rec.Key]
			})
		}
	}
	c, err := s.putEach(ctx, ops)
	return append(conflicts, c...), err
}

// staleOps reads the stored versions of ops (one partition) and returns
// the keys whose write would conflict: an insert of a stored key, an
// update of a key stored with another ETag or not stored any more.
func (s *TableStore) staleOps(ctx context.Context, ops []putOp) (map[string]bool, error) {
	rks := make([]string, len(ops))
	for i, op := range ops {
		_, rks[i] = location(op.rec.Key)
	}
	stored := make(map[string]string, len(ops)) // key -> ETag
	for chunk := range slices.Chunk(rks, maxFilterKeys) {
		err := s.queryKeys(ctx, ops[0].pk, chunk, func(ind *Indicator) error {
			stored[ind.Key] = ind.ETag
			return nil
		})
		if err != nil {
			return nil, err // already "state: get: ..."
		}
	}
	stale := make(map[string]bool)
	for _, op := range ops {
		if etag, ok := stored[op.rec.Key]; ok != (op.rec.ETag != "") || etag != op.rec.ETag {
			stale[op.rec.Key] = true
		}
	}
	return stale, nil
}

// transactionActions returns the transaction operations of ops: an insert
// for a record without ETag, otherwise a replace if the ETag matches.
func transactionActions(ops []putOp) []aztables.TransactionAction {
	actions := make([]aztables.TransactionAction, len(ops))
	for i, op := range ops {
		actions[i] = aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: op.entity}
		if op.rec.ETag != "" {
			actions[i].ActionType = aztables.TransactionTypeUpdateReplace
			actions[i].IfMatch = to.Ptr(azcore.ETag(op.rec.ETag))
		}
	}
	return actions
}

// isConflict reports whether an operation's HTTP status means its record
// is in conflict: inserted concurrently (409), ETag mismatch (412) or
// deleted concurrently (404).
func isConflict(status int) bool {
	return status == http.StatusConflict || status == http.StatusPreconditionFailed || status == http.StatusNotFound
}

// putEach writes ops one request each and returns the conflicting keys.
func (s *TableStore) putEach(ctx context.Context, ops []putOp) ([]string, error) {
	var conflicts []string
	for _, op := range ops {
		var (
			etag azcore.ETag
			err  error
		)
		if op.rec.ETag == "" {
			var resp aztables.AddEntityResponse
			resp, err = s.client.AddEntity(ctx, op.entity, nil)
			etag = resp.ETag
		} else {
			var resp aztables.UpdateEntityResponse
			resp, err = s.client.UpdateEntity(ctx, op.entity, &aztables.UpdateEntityOptions{
				IfMatch: to.Ptr(azcore.ETag(op.rec.ETag)), UpdateMode: aztables.UpdateModeReplace})
			etag = resp.ETag
		}
		switch {
		case hasStatus(err, http.StatusConflict, http.StatusPreconditionFailed, http.StatusNotFound):
			conflicts = append(conflicts, op.rec.Key)
		case err != nil:
			return conflicts, fmt.Errorf("state: put: %w", err)
		default:
			op.rec.ETag = string(etag)
		}
	}
	return conflicts, nil
}

// matchOps reports whether the operation results res answer ops, in
// order: same count and, where the response names it, the same row key.
func matchOps(res []opResult, ops []putOp) bool {
	if len(res) != len(ops) {
		return false
	}
	for i, op := range ops {
		if _, rk := location(op.rec.Key); res[i].rowKey != "" && res[i].rowKey != rk {
			return false
		}
	}
	return true
}

// refreshETags sets the ETags of records just written by a transaction
// whose response could not be parsed, from a fresh read of each entity.
//
// Another writer may have replaced an entity between our transaction and
// the read. Taking its ETag would pair our content with the other
// writer's version, and our next Put would silently overwrite their
// change. So the read-back content is compared with what we wrote (the
// whole entity, re-encoded): when it differs, or the entity is gone, the
// key is returned as a conflict and the record keeps the ETag it had
// before Put, exactly as if its write had been refused; the caller
// re-reads and re-merges as for any other conflict. Identical content
// written by someone else is not a conflict: the record then describes
// the stored version exactly.
func (s *TableStore) refreshETags(ctx context.Context, ops []putOp) (conflicts []string, err error) {
	for _, op := range ops {
		_, rk := location(op.rec.Key)
		resp, err := s.client.GetEntity(ctx, op.pk, rk, nil)
		if hasStatus(err, http.StatusNotFound) {
			conflicts = append(conflicts, op.rec.Key)
			continue
		}
		if err != nil {
			return conflicts, fmt.Errorf("state: put: read back: %w", err)
		}
		if !sameEntity(resp.Value, op.entity) {
			conflicts = append(conflicts, op.rec.Key)
			continue
		}
		op.rec.ETag = string(resp.ETag)
	}
	return conflicts, nil
}

// sameEntity reports whether the stored indicator entity stored (as the
// service returns it, with metadata) holds exactly the content of the
// entity JSON written, as encodeIndicator produced it. The stored entity
// is decoded and re-encoded, which is lossless for what encodeIndicator
// writes, so every property is compared.
func sameEntity(stored, written []byte) bool {
	ind, err := decodeIndicator(stored, "")
	if err != nil {
		return false
	}
	b, err := encodeIndicator(ind)
	return err == nil && bytes.Equal(b, written)
}

// captureKey is the context key under which a *captured asks capturePolicy
// for a copy of the response: aztables discards the per-operation ETags of
// a transaction response, so the store reads them itself.
type captureKey struct{}

type captured struct {
	header http.Header
	body   []byte
}

// capturePolicy copies the final response of requests whose context holds
// a *captured. It is installed as a per-call policy.
type capturePolicy struct{}

// Do implements policy.Policy.
func (capturePolicy) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	c, ok := req.Raw().Context().Value(captureKey{}).(*captured)
	if err != nil || !ok || resp == nil || resp.Body == nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	c.header, c.body = resp.Header.Clone(), body
	return resp, err
}

// opResult is the outcome of one operation of a transaction: its new ETag
// and, when the response's Location names it, the entity's row key.
type opResult struct {
	etag, rowKey string
}

// batchETags parses a successful transaction response (multipart/mixed
// holding one changeset of HTTP responses, in request order) and returns
// the result of each operation.
func batchETags(contentType string, body []byte) ([]opResult, error) {
	parts, err := multipartParts(contentType, body)
	if err != nil {
		return nil, err
	}
	if len(parts) != 1 {
		return nil, fmt.Errorf("batch response: %d parts, want 1 changeset", len(parts))
	}
	inner, err := multipartParts(parts[0].contentType, parts[0].body)
	if err != nil {
		return nil, err
	}
	results := make([]opResult, 0, len(inner))
	for _, p := range inner {
		r, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(p.body)), nil)
		if err != nil {
			return nil, fmt.Errorf("batch response: %w", err)
		}
		r.Body.Close()
		if r.StatusCode >= 300 {
			return nil, fmt.Errorf("batch response: operation status %d", r.StatusCode)
		}
		etag := r.Header.Get("ETag")
		if etag == "" {
			return nil, errors.New("batch response: operation without ETag")
		}
		results = append(results, opResult{etag: etag, rowKey: locationRowKey(r.Header.Get("Location"))})
	}
	return results, nil
}

// batchFailure parses the response of a failed transaction (a
// changeset holding the one failed operation's HTTP response) and returns
// the index of the failed operation, from the "index:" prefix the service
// puts in the error message, and its HTTP status.
func batchFailure(contentType string, body []byte) (index, status int, err error) {
	parts, err := multipartParts(contentType, body)
	if err != nil {
		return 0, 0, err
	}
	if len(parts) != 1 {
		return 0, 0, fmt.Errorf("batch response: %d parts, want 1 changeset", len(parts))
	}
	inner, err := multipartParts(parts[0].contentType, parts[0].body)
	if err != nil {
		return 0, 0, err
	}
	if len(inner) != 1 {
		return 0, 0, fmt.Errorf("batch error response: %d operation responses, want 1", len(inner))
	}
	r, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(inner[0].body)), nil)
	if err != nil {
		return 0, 0, fmt.Errorf("batch error response: %w", err)
	}
	defer r.Body.Close()
	if r.StatusCode < 400 {
		return 0, 0, fmt.Errorf("batch error response: operation status %d", r.StatusCode)
	}
	var e struct {
		Error struct {
			Message struct {
				Value string `json:"value"`
			} `json:"message"`
		} `json:"odata.error"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, int64(len(body)))).Decode(&e); err != nil {
		return 0, 0, fmt.Errorf("batch error response: %w", err)
	}
	num, _, ok := strings.Cut(e.Error.Message.Value, ":")
	if !ok || num == "" || len(num) > 3 || strings.TrimLeft(num, "0123456789") != "" {
		return 0, 0, errors.New("batch error response: the message names no operation index")
	}
	index, _ = strconv.Atoi(num) // ≤ 3 digits
	return index, r.StatusCode, nil
}

// locationRowKey extracts the row key from an entity URL ending in
// (PartitionKey='…',RowKey='…'); "" if there is none. Row keys written by
// this package are hex, so no quote or percent escapes are involved.
func locationRowKey(loc string) string {
	_, after, ok := strings.Cut(loc, "RowKey='")
	if !ok {
		return ""
	}
	rk, _, ok := strings.Cut(after, "'")
	if !ok {
		return ""
	}
	return rk
}

type part struct {
	contentType string
	body        []byte
}

// multipartParts splits a multipart body into its parts.
func multipartParts(contentType string, body []byte) ([]part, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("batch response: content type: %w", err)
	}
	if mt != "multipart/mixed" || params["boundary"] == "" {
		return nil, fmt.Errorf("batch response: content type %q", mt)
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts []part
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return nil, fmt.Errorf("batch response: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(p, int64(len(body))))
		if err != nil {
			return nil, fmt.Errorf("batch response: %w", err)
		}
		parts = append(parts, part{contentType: p.Header.Get("Content-Type"), body: b})
	}
}
