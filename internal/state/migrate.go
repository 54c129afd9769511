package state

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// fileLine is one line of the JSON-lines state file earlier versions kept
// (state.jsonl); exactly one field is set.
type fileLine struct {
	Indicator *Indicator     `json:"indicator,omitempty"`
	Feed      *FeedStatus    `json:"feed,omitempty"`
	Cursor    *namedCursor   `json:"cursor,omitempty"`
	Uploader  *UploaderStats `json:"uploader,omitempty"`
}

type namedCursor struct {
	Feed string `json:"feed"`
	Cursor
}

// maxLegacyLine bounds one line of a legacy state file: a record holds at
// most MaxObjectSize of object plus strings bounded by maxStringSize.
const maxLegacyLine = 4 << 20

// migrateBatch is how many legacy lines one transaction writes.
const migrateBatch = 5000

// MigrationResult says what Migrate copied.
type MigrationResult struct {
	Indicators, Feeds, Cursors int
}

// Migrate copies a legacy JSON-lines state file (the state.jsonl of
// earlier versions) into dst, streaming: memory does not grow with the
// file. Records already in dst are replaced. A line that is not a state
// record fails the migration with its line number and what to do; dst then
// holds the lines before it.
func Migrate(ctx context.Context, legacy io.Reader, dst *BoltStore) (MigrationResult, error) {
	var res MigrationResult
	br := bufio.NewReaderSize(legacy, 64<<10)
	var pending []fileLine
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := dst.update(ctx, func(tx *bolt.Tx) error {
			inds := tx.Bucket(bucketIndicators)
			for _, l := range pending {
				switch {
				case l.Indicator != nil:
					ver, err := inds.NextSequence()
					if err != nil {
						return err
					}
					v := encodeBolt(l.Indicator, ver)
					if err := inds.Put([]byte(l.Indicator.Key), v); err != nil {
						return err
					}
				case l.Feed != nil:
					if err := putJSON(tx, bucketFeeds, []byte(l.Feed.Feed), l.Feed); err != nil {
						return err
					}
				case l.Cursor != nil:
					if err := putJSON(tx, bucketCursors, []byte(l.Cursor.Feed), l.Cursor.Cursor); err != nil {
						return err
					}
				case l.Uploader != nil:
					if err := putJSON(tx, bucketMeta, metaUploader, l.Uploader); err != nil {
						return err
					}
				}
			}
			return nil
		})
		pending = pending[:0]
		return err
	}
	for n := 1; ; n++ {
		line, err := readLine(br, maxLegacyLine)
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errLineTooLong) {
			return res, fmt.Errorf("state: legacy file line %d is longer than %d bytes, which no state record is: the file is damaged; delete that line (or the file: the next run re-learns state from the feeds and uploads what they list again)", n, maxLegacyLine)
		}
		if err != nil {
			return res, fmt.Errorf("state: legacy file line %d: %w", n, err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var l fileLine
		if err := json.Unmarshal(line, &l); err != nil {
			return res, fmt.Errorf("state: legacy file line %d is not a state record (%v); delete that line or the file", n, err)
		}
		switch {
		case l.Indicator != nil:
			if l.Indicator.Key == "" {
				return res, fmt.Errorf("state: legacy file line %d: an indicator without a key; delete that line", n)
			}
			if err := validate([]*Indicator{l.Indicator}); err != nil {
				return res, fmt.Errorf("state: legacy file line %d: %w; delete that line", n, err)
			}
			res.Indicators++
		case l.Feed != nil:
			res.Feeds++
		case l.Cursor != nil:
			res.Cursors++
		case l.Uploader == nil:
			continue // an empty object: nothing to copy
		}
		pending = append(pending, l)
		if len(pending) == migrateBatch {
			if err := flush(); err != nil {
				return res, fmt.Errorf("state: migrate: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return res, fmt.Errorf("state: migrate: %w", err)
	}
	return res, nil
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line of br without its newline, refusing one
// longer than limit (the rest of it is not read into memory). It returns
// io.EOF only when no byte is left.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > limit+1 {
			return nil, errLineTooLong
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
}

// MigrateFile migrates the legacy state file at legacyPath into dst (see
// Migrate) and, when it succeeded, renames the legacy file to
// legacyPath + ".migrated" so it is not migrated again. A missing legacy
// file is no error: the result is then zero and migrated is false.
func MigrateFile(ctx context.Context, legacyPath string, dst *BoltStore) (res MigrationResult, migrated bool, err error) {
	f, err := os.Open(legacyPath)
	if errors.Is(err, os.ErrNotExist) {
		return res, false, nil
	}
	if err != nil {
		return res, false, fmt.Errorf("state: migrate %s: %w", legacyPath, err)
	}
	res, err = Migrate(ctx, f, dst)
	f.Close()
	if err != nil {
		return res, false, fmt.Errorf("%s: %w", legacyPath, err)
	}
	if err := os.Rename(legacyPath, legacyPath+".migrated"); err != nil {
		return res, true, fmt.Errorf("state: migrated %s but could not rename it: %w", legacyPath, err)
	}
	return res, true, nil
}
