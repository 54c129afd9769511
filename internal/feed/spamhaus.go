package feed

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"time"
)

const (
	expectSpamhaus     = `Spamhaus DROP NDJSON ({"cidr":...,"sblid":...} lines and a metadata line) or drop.txt`
	expectSpamhausText = "Spamhaus drop.txt lines such as '1.4.0.0/17 ; SBL256893'"
)

// ParseSpamhausDROP parses the Spamhaus DROP lists: the NDJSON form
// (drop_v4.json, drop_v6.json: one {"cidr","sblid","rir"} object per line
// and a final {"type":"metadata",...} line) or, told apart by the first
// byte, the legacy text form (drop.txt, dropv6.txt: "1.4.0.0/17 ;
// SBL256893" with ';' comments). Each range becomes a record with Value the
// CIDR (Type left empty for detection), ID the SBL id, ThreatType
// hijacked-netblock, RecordURL https://check.spamhaus.org/sbl/query/<sblid>
// and the RIR in Description. The metadata line is counted in
// Stats.SkippedBy["metadata"]; when it has a "records" count that differs
// from the ranges read, the payload is ErrBadPayload (truncated).
func ParseSpamhausDROP(ctx context.Context, r io.Reader, emit Emit) (Stats, error) {
	const format = NameSpamhausDROP
	br, err := open(r, format, expectSpamhaus)
	if err != nil {
		return Stats{}, err
	}
	e := newEmitter(ctx, emit)
	switch firstByte(br) {
	case 0:
		return e.stats, badPayload(format, expectSpamhaus, nil)
	case '{':
	default:
		return e.stats, spamhausText(e, br)
	}
	j := &jsonRecord{s: newScanner(format, br), st: &e.stats}
	declared, ranges := -1, 0
	for {
		c, err := j.s.peek()
		if err == io.EOF {
			break
		}
		if err != nil {
			return e.stats, err
		}
		if c != '{' {
			return e.stats, j.s.syntax("DROP JSON object")
		}
		j.s.pos++
		j.reset()
		var cidr, sblid, rir, typ span
		records := -1
		for first := true; ; first = false {
			key, ok, err := j.s.member(first)
			if err != nil {
				return e.stats, err
			}
			if !ok {
				break
			}
			switch string(key) {
			case "cidr":
				cidr, err = j.str()
			case "sblid":
				sblid, err = j.str()
			case "rir":
				rir, err = j.str()
			case "type":
				typ, err = j.str()
			case "records":
				var b []byte
				if _, b, err = j.scratch(); err == nil {
					if n, ok := atoi(b); ok {
						records = n
					}
				}
			default:
				err = j.s.skip(0)
			}
			if err != nil {
				return e.stats, err
			}
		}
		if string(typ.bytes(j.buf)) == "metadata" {
			e.stats.skip("metadata")
			declared = records
			continue
		}
		ranges++
		if cidr.a == cidr.b {
			e.stats.skip("empty_value")
			continue
		}
		desc := j.describe(labeled{"Spamhaus DROP; RIR ", rir})
		var recURL span
		if sblid.b > sblid.a {
			recURL = j.wrap("https://check.spamhaus.org/sbl/query/", sblid, "")
		}
		if err := spamhausEmit(e, string(j.buf), cidr, sblid, desc, recURL); err != nil {
			return e.stats, err
		}
	}
	if ranges == 0 && declared < 0 && e.stats.Skipped == 0 {
		return e.stats, badPayload(format, expectSpamhaus, nil)
	}
	if declared >= 0 && declared != ranges {
		return e.stats, badPayloadf(format, "expected %d ranges as the metadata line declares, got %d (truncated?)", declared, ranges)
	}
	return e.stats, nil
}

func spamhausEmit(e *emitter, s string, cidr, sblid, desc, recURL span) error {
	r := e.record()
	r.Source = NameSpamhausDROP
	r.ID = sblid.of(s)
	r.Value = cidr.of(s)
	r.ThreatType = "hijacked-netblock"
	r.Description = desc.of(s)
	r.RecordURL = recURL.of(s)
	return e.send(r)
}

// spamhausText parses the legacy drop.txt form.
func spamhausText(e *emitter, br *bufio.Reader) error {
	l := &lineReader{format: NameSpamhausDROP, br: br}
	j := &jsonRecord{}
	return l.each(&e.stats, func(line []byte) error {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == ';' || line[0] == '#' {
			return nil
		}
		cidrPart, sblPart, _ := bytes.Cut(line, []byte(";"))
		cidrPart, sblPart = bytes.TrimSpace(cidrPart), bytes.TrimSpace(sblPart)
		if bytes.ContainsAny(cidrPart, " \t{}\"") {
			return badPayload(NameSpamhausDROP, expectSpamhausText, line)
		}
		j.reset()
		cidr := j.addBytes(cidrPart)
		sblid := j.addBytes(sblPart)
		var recURL span
		if sblid.b > sblid.a {
			recURL = j.wrap("https://check.spamhaus.org/sbl/query/", sblid, "")
		}
		return spamhausEmit(e, string(j.buf), cidr, sblid, span{}, recURL)
	})
}

// spamhausSource declares the SpamhausDROP feed (registered in Builtin).
func spamhausSource() Source {
	return Source{
		Name:              NameSpamhausDROP,
		DefaultURL:        "https://www.spamhaus.org/drop/drop_v4.json",
		AltURLs:           []string{"https://www.spamhaus.org/drop/drop_v6.json", "https://www.spamhaus.org/drop/drop.txt"},
		Method:            "GET",
		MinInterval:       time.Hour,
		MaxBytes:          smallFeedMaxBytes,
		Complete:          true,
		DefaultConfidence: 90,
		Parse:             ParseSpamhausDROP,
		TLP:               "clear",
		Docs: "Spamhaus DROP (Don't Route Or Peer): netblocks hijacked or run by criminals, NDJSON with a metadata line " +
			"whose record count is checked (legacy drop.txt also accepted). Automated downloads must be at least one hour apart. " +
			"No auth. The complete current list.",
		Function: "FeedSpamhausDrop",
		Schedule: "0 40 */6 * * *",
		Enabled:  true,
	}
}
