package state

import (
	"encoding/json"
	"fmt"
	"time"
)

// indicatorEntity is the Table Storage form of an Indicator; see the
// TableStore doc comment for the layout.
type indicatorEntity struct {
	PartitionKey string `json:"PartitionKey"`
	RowKey       string `json:"RowKey"`
	ETag         string `json:"odata.etag,omitempty"` // read only

	Key          string `json:"Key"`
	ID           string `json:"ID,omitempty"`
	Revision     int    `json:"Revision,omitempty"`
	Type         string `json:"Type,omitempty"`
	Value        string `json:"Value,omitempty"`
	Sources      string `json:"Sources,omitempty"` // JSON array of SourceSeen
	Labels       string `json:"Labels,omitempty"`  // JSON array of strings
	Confidence   int    `json:"Confidence,omitempty"`
	Fingerprint  string `json:"Fingerprint,omitempty"`
	Created      string `json:"Created,omitempty"` // RFC 3339, UTC
	LastUploaded string `json:"LastUploaded,omitempty"`
	ValidUntil   string `json:"ValidUntil,omitempty"`
	Status       string `json:"Status,omitempty"`
	Object       string `json:"Object,omitempty"` // the STIX object's JSON text
}

// dataEntity is the Table Storage form of the status, cursor and uploader
// rows: the value as a JSON string in Data.
type dataEntity struct {
	PartitionKey string `json:"PartitionKey"`
	RowKey       string `json:"RowKey"`
	ETag         string `json:"odata.etag,omitempty"` // read only
	Data         string `json:"Data"`
}

// The partitions of the non-indicator rows.
const (
	pkStatus   = "status"
	pkCursor   = "cursor"
	pkUploader = "uploader"
	rkUploader = "stats"
)

// maxEntitySize bounds the encoded size of one entity, below the service's
// 1 MiB limit.
const maxEntitySize = 1 << 20

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// encodeIndicator returns the entity JSON of ind.
func encodeIndicator(ind *Indicator) ([]byte, error) {
	pk, rk := location(ind.Key)
	e := indicatorEntity{
		PartitionKey: pk, RowKey: rk,
		Key: ind.Key, ID: ind.ID, Revision: ind.Revision, Type: ind.Type, Value: ind.Value,
		Confidence: ind.Confidence, Fingerprint: ind.Fingerprint,
		Created: formatTime(ind.Created), LastUploaded: formatTime(ind.LastUploaded),
		ValidUntil: formatTime(ind.ValidUntil), Status: string(ind.Status), Object: string(ind.Object),
	}
	if len(ind.Sources) > 0 {
		b, err := json.Marshal(ind.Sources)
		if err != nil {
			return nil, err
		}
		e.Sources = string(b)
	}
	if len(ind.Labels) > 0 {
		b, err := json.Marshal(ind.Labels)
		if err != nil {
			return nil, err
		}
		e.Labels = string(b)
	}
	if len(e.Sources) > maxStringSize || len(e.Labels) > maxStringSize {
		return nil, fmt.Errorf("%w: sources or labels too long", ErrInvalid)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if len(b) > maxEntitySize {
		return nil, fmt.Errorf("%w: entity is %d bytes", ErrInvalid, len(b))
	}
	return b, nil
}

// decodeIndicator parses an indicator entity. etag, when not empty,
// overrides the entity's odata.etag.
func decodeIndicator(data []byte, etag string) (*Indicator, error) {
	var e indicatorEntity
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("decode indicator entity: %w", err)
	}
	ind := &Indicator{
		Key: e.Key, ID: e.ID, Revision: e.Revision, Type: e.Type, Value: e.Value,
		Confidence: e.Confidence, Fingerprint: e.Fingerprint, Status: Status(e.Status), ETag: e.ETag,
	}
	if etag != "" {
		ind.ETag = etag
	}
	var err error
	if ind.Created, err = parseTime(e.Created); err != nil {
		return nil, fmt.Errorf("decode indicator entity: Created: %w", err)
	}
	if ind.LastUploaded, err = parseTime(e.LastUploaded); err != nil {
		return nil, fmt.Errorf("decode indicator entity: LastUploaded: %w", err)
	}
	if ind.ValidUntil, err = parseTime(e.ValidUntil); err != nil {
		return nil, fmt.Errorf("decode indicator entity: ValidUntil: %w", err)
	}
	if e.Sources != "" {
		if err := json.Unmarshal([]byte(e.Sources), &ind.Sources); err != nil {
			return nil, fmt.Errorf("decode indicator entity: Sources: %w", err)
		}
	}
	if e.Labels != "" {
		if err := json.Unmarshal([]byte(e.Labels), &ind.Labels); err != nil {
			return nil, fmt.Errorf("decode indicator entity: Labels: %w", err)
		}
	}
	if e.Object != "" {
		if !json.Valid([]byte(e.Object)) {
			return nil, fmt.Errorf("decode indicator entity: Object is not JSON")
		}
		ind.Object = json.RawMessage(e.Object)
	}
	return ind, nil
}

// encodeData returns the entity JSON of a data row holding v.
func encodeData(pk, rk string, v any) ([]byte, error) {
	d, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(dataEntity{PartitionKey: pk, RowKey: rk, Data: string(d)})
}

// decodeData parses a data row into v and returns its ETag.
func decodeData(data []byte, v any) (string, error) {
	var e dataEntity
	if err := json.Unmarshal(data, &e); err != nil {
		return "", fmt.Errorf("decode %T entity: %w", v, err)
	}
	if err := json.Unmarshal([]byte(e.Data), v); err != nil {
		return "", fmt.Errorf("decode %T entity: Data: %w", v, err)
	}
	return e.ETag, nil
}
