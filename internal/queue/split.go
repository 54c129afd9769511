package queue

import (
	"encoding/json"
	"log/slog"
)

// SplitOptions are the limits of Split. A nil *SplitOptions, or a zero
// field, means the default.
type SplitOptions struct {
	// MaxObjects is the largest number of objects per batch (default and
	// upper bound MaxObjects).
	MaxObjects int
	// MaxBytes is the largest encoded body per batch (default
	// DefaultMaxBytes).
	MaxBytes int
	// Logger receives a warning for each object that alone (with the
	// objects it references) exceeds the limits (nil = no log). The
	// warning names the source, the object's index and size, never its
	// content.
	Logger *slog.Logger
}

// Split cuts objects into batches that respect the limits, keeping their
// order. An object that another object references, through
// "created_by_ref" or "object_marking_refs", is a dependency: it is not
// placed on its own but copied into every batch holding an object that
// references it (transitively), ahead of that object, so each batch is a
// self-contained Sentinel request. References to objects not in objects
// (well-known TLP markings, for instance) are left alone.
//
// An object whose group (the object and its dependencies) exceeds the
// limits by itself gets a batch of its own, reported through
// SplitOptions.Logger and visible as Batch.Size() > MaxBytes; Split never
// drops an object. Elements that are not JSON objects are kept as they are
// and make Encode fail.
func Split(source string, objects []json.RawMessage, opts *SplitOptions) []Batch {
	maxObjects, maxBytes := MaxObjects, DefaultMaxBytes
	var logger *slog.Logger
	if opts != nil {
		if opts.MaxObjects > 0 && opts.MaxObjects < MaxObjects {
			maxObjects = opts.MaxObjects
		}
		if opts.MaxBytes > 0 {
			maxBytes = opts.MaxBytes
		}
		logger = opts.Logger
	}
	if len(objects) == 0 {
		return nil
	}
	refs, isDep := references(objects)

	var (
		batches []Batch
		cur     []json.RawMessage
		in      = map[int]bool{} // object indices in cur
		size    = 0              // encoded size of cur
	)
	flush := func() {
		if len(cur) > 0 {
			batches = append(batches, Batch{Source: source, Objects: cur})
		}
		cur, size = nil, 0
		clear(in)
	}
	emitted := make([]bool, len(objects))
	var group []int
	place := func(i int) {
		group = closure(group[:0], i, refs)
		addN, addBytes := 0, 0
		for _, j := range group {
			if !in[j] {
				addN++
				addBytes += len(objects[j]) + 1
			}
		}
		if len(cur) > 0 && (len(cur)+addN > maxObjects || size+addBytes > maxBytes) {
			flush()
			addBytes = 0
			for _, j := range group {
				addBytes += len(objects[j]) + 1
			}
		}
		if len(cur) == 0 {
			size = 1 // '[' and ']' minus the comma counted for the first object
		}
		for _, j := range group {
			if !in[j] {
				in[j] = true
				emitted[j] = true
				cur = append(cur, objects[j])
			}
		}
		size += addBytes
		if len(cur) > maxObjects || size > maxBytes {
			if logger != nil {
				logger.Warn("queue: object exceeds the message limits alone",
					"source", source, "index", i, "objects", len(cur), "bytes", size,
					"max_objects", maxObjects, "max_bytes", maxBytes)
			}
			flush()
		}
	}
	for i := range objects {
		if !isDep[i] {
			place(i)
		}
	}
	// Dependencies only referenced from a cycle of dependencies were not
	// reached above: place them as ordinary objects.
	for i := range objects {
		if !emitted[i] {
			place(i)
		}
	}
	flush()
	return batches
}

// Size returns the length of the body Encode produces for b (an upper
// bound when objects carry surrounding white space).
func (b Batch) Size() int {
	if len(b.Objects) == 0 {
		return 2
	}
	n := 1 + len(b.Objects)
	for _, o := range b.Objects {
		n += len(o)
	}
	return n
}

// stixRefs are the fields of a STIX object Split looks at.
type stixRefs struct {
	ID                string   `json:"id"`
	CreatedByRef      string   `json:"created_by_ref"`
	ObjectMarkingRefs []string `json:"object_marking_refs"`
}

// references returns, for each object, the indices of the objects in the
// input it references directly, and which objects are referenced by another.
func references(objects []json.RawMessage) (refs [][]int, isDep []bool) {
	metas := make([]stixRefs, len(objects))
	byID := make(map[string]int)
	for i, o := range objects {
		metas[i] = scanRefs(o)
		if id := metas[i].ID; id != "" {
			if _, dup := byID[id]; !dup {
				byID[id] = i
			}
		}
	}
	refs = make([][]int, len(objects))
	isDep = make([]bool, len(objects))
	add := func(i int, id string) {
		if id == "" {
			return
		}
		if j, ok := byID[id]; ok && j != i {
			refs[i] = append(refs[i], j)
			isDep[j] = true
		}
	}
	for i := range metas {
		add(i, metas[i].CreatedByRef)
		for _, id := range metas[i].ObjectMarkingRefs {
			add(i, id)
		}
	}
	return refs, isDep
}

// closure appends to dst the dependencies of object i, transitively and
// each once, followed by i itself.
func closure(dst []int, i int, refs [][]int) []int {
	if len(refs[i]) == 0 {
		return append(dst, i)
	}
	seen := map[int]bool{i: true}
	var walk func(k int)
	walk = func(k int) {
		for _, j := range refs[k] {
			if !seen[j] {
				seen[j] = true
				walk(j)
				dst = append(dst, j)
			}
		}
	}
	walk(i)
	return append(dst, i)
}
