package feed

import (
	"bytes"
	"context"
	"io"
	"time"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

const expectThreatFoxJSON = `ThreatFox JSON ({"query_status":"ok","data":[...]} or one record per line)`

// ParseThreatFoxJSON parses a ThreatFox API get_iocs response
// {"query_status":"ok","data":[...]} (the two keys in any order; data may be
// the "no_result" string). As a convenience it also accepts API records one
// per line (NDJSON) and the JSON export (an object keyed by IOC id, each
// value an array of records with ioc_value/first_seen_utc keys).
//
// Mapping: id → ID and RecordURL https://threatfox.abuse.ch/ioc/<id>/;
// ioc → Value; ioc_type → Type (domain, url, md5_hash, sha1_hash,
// sha256_hash, sha512_hash; "ip:port" leaves Type empty for detection and
// writes an IPv6 address with its port as "[addr]:port", splitting on the
// last colon, so that the value is unambiguous; records of any other
// ioc_type are skipped as "unsupported_ioc_type"); threat_type, malware
// (except "unknown"), malware_printable (except "Unknown malware"),
// malware_alias (comma-separated) → MalwareAliases, malware_malpedia,
// confidence_level (int or string; -1 or absent = unset), first_seen,
// last_seen, reference, reporter, tags; is_compromised true adds the tag
// "compromised". Records without an ioc are skipped as "empty_value".
func ParseThreatFoxJSON(ctx context.Context, r io.Reader, emit Emit) (Stats, error) {
	const format = NameThreatFox
	br, err := open(r, format, expectThreatFoxJSON)
	if err != nil {
		return Stats{}, err
	}
	p := &tfParser{e: newEmitter(ctx, emit), format: format}
	p.j.s = newScanner(format, br)
	p.j.st = &p.e.stats
	err = p.run()
	return p.e.stats, err
}

// tfRecord holds the fields of one ThreatFox record as spans of the record
// buffer.
type tfRecord struct {
	id, value, iocType, threatType, malware, printable, malpedia, reference, reporter span
	aliases, tags                                                                     [2]int
	first, last                                                                       time.Time
	conf                                                                              int
	confSet, compromised                                                              bool
}

type tfParser struct {
	e      *emitter
	j      jsonRecord
	format string
	rec    tfRecord
	status []byte
}

func (p *tfParser) run() error {
	s := p.j.s
	objects := 0
	for {
		c, err := s.peek()
		if err == io.EOF {
			if objects == 0 {
				return badPayload(p.format, expectThreatFoxJSON, nil)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if c != '{' {
			return s.syntax(expectThreatFoxJSON)
		}
		s.pos++
		objects++
		envelope, err := p.object()
		if err != nil {
			return err
		}
		if envelope {
			return s.done()
		}
	}
}

// object decodes one top-level object: an API envelope, an export object
// keyed by id, or a single record. It reports whether it was an envelope
// or export object, after which nothing may follow.
func (p *tfParser) object() (envelope bool, err error) {
	s := p.j.s
	p.startRecord()
	var statusSeen, dataString, fields bool
	for first := true; ; first = false {
		key, ok, err := s.member(first)
		if err != nil {
			return false, err
		}
		if !ok {
			break
		}
		switch {
		case string(key) == "query_status":
			envelope, statusSeen = true, true
			if _, p.status, err = s.value(p.status[:0]); err != nil {
				return false, err
			}
		case string(key) == "data":
			envelope = true
			if dataString, err = p.data(nil); err != nil {
				return false, err
			}
		case isDigits(key) && !fields:
			// The JSON export: {"<id>":[{record}], ...}.
			envelope = true
			id := append([]byte(nil), key...)
			if _, err := p.data(id); err != nil {
				return false, err
			}
		default:
			known, err := p.field(key)
			if err != nil {
				return false, err
			}
			fields = fields || known
		}
	}
	if envelope && fields {
		return false, badPayloadf(p.format, "expected an API envelope or a record, got an object mixing both")
	}
	if envelope {
		empty, err := checkStatus(p.format, p.status, statusSeen)
		if err != nil {
			return true, err
		}
		if dataString && !empty {
			return true, badPayloadf(p.format, `expected "data" to be an array, got a string`)
		}
		return true, nil
	}
	if !fields {
		p.e.stats.skip("empty_object")
		return false, nil
	}
	return false, p.finish()
}

// data decodes the value of "data" (or of an export id key, given as id):
// an array of records, null, or a string (the "no result" message).
func (p *tfParser) data(id []byte) (isString bool, err error) {
	s := p.j.s
	c, err := s.next()
	if err != nil {
		return false, err
	}
	switch c {
	case 'n':
		_, _, err := s.value(nil)
		return false, err
	case '"':
		return true, s.skip(0)
	case '[':
	default:
		return false, s.syntax(`"data" array`)
	}
	s.pos++
	for first := true; ; first = false {
		ok, err := s.elem(first)
		if err != nil || !ok {
			return false, err
		}
		if err := s.open('{', "ThreatFox record object"); err != nil {
			return false, err
		}
		p.startRecord()
		if id != nil {
			p.rec.id = p.j.addBytes(id)
		}
		for first := true; ; first = false {
			key, ok, err := s.member(first)
			if err != nil {
				return false, err
			}
			if !ok {
				break
			}
			if _, err := p.field(key); err != nil {
				return false, err
			}
		}
		if err := p.finish(); err != nil {
			return false, err
		}
	}
}

func (p *tfParser) startRecord() {
	p.j.reset()
	p.rec = tfRecord{conf: -1}
}

// field decodes the value of one record member; known reports whether
// the key is a record field (others are skipped).
func (p *tfParser) field(key []byte) (known bool, err error) {
	j, rec := &p.j, &p.rec
	known = true
	switch string(key) {
	case "id", "ioc_id":
		rec.id, err = j.str()
	case "ioc", "ioc_value":
		rec.value, err = j.str()
	case "ioc_type":
		rec.iocType, err = j.str()
	case "threat_type":
		rec.threatType, err = j.str()
	case "malware", "fk_malware":
		rec.malware, err = j.str()
	case "malware_printable":
		rec.printable, err = j.str()
	case "malware_alias":
		rec.aliases, err = j.list()
	case "malware_malpedia":
		rec.malpedia, err = j.str()
	case "reference":
		rec.reference, err = j.str()
	case "reporter":
		rec.reporter, err = j.str()
	case "tags":
		rec.tags, err = j.list()
	case "first_seen", "first_seen_utc":
		rec.first, err = j.time("first_seen")
	case "last_seen", "last_seen_utc":
		rec.last, err = j.time("last_seen")
	case "confidence_level":
		var b []byte
		if _, b, err = j.scratch(); err == nil {
			rec.conf, rec.confSet = confidence(b, j.st)
		}
	case "is_compromised":
		var b []byte
		if _, b, err = j.scratch(); err == nil {
			rec.compromised = isTrue(b)
		}
	default:
		known = false
		err = j.s.skip(0)
	}
	return known, err
}

// confidence parses a 0-100 confidence; -1, null and "" mean unset.
func confidence(b []byte, st *Stats) (int, bool) {
	b = trimSpan(b, span{0, len(b)}).bytes(b)
	if len(b) == 0 || string(b) == "-1" || string(b) == "None" {
		return -1, false
	}
	n, ok := atoi(b)
	if !ok || n < 0 || n > 100 {
		st.fieldError("confidence_level")
		return -1, false
	}
	return n, true
}

func isTrue(b []byte) bool {
	switch string(b) {
	case "true", "True", "TRUE", "1", "yes":
		return true
	}
	return false
}

func isDigits(b []byte) bool {
	_, ok := digits(b)
	return ok
}

// threatFoxType maps a ThreatFox ioc_type to a Type; ok is false for types
// feeds2sentinel does not handle.
func threatFoxType(t []byte) (typ ioc.Type, ok bool) {
	switch string(t) {
	case "ip:port", "":
		return "", true
	case "domain":
		return ioc.TypeDomain, true
	case "url":
		return ioc.TypeURL, true
	case "md5_hash":
		return ioc.TypeMD5, true
	case "sha1_hash":
		return ioc.TypeSHA1, true
	case "sha256_hash":
		return ioc.TypeSHA256, true
	case "sha512_hash":
		return ioc.TypeSHA512, true
	}
	return "", false
}

// bracketIPv6Port rewrites an unbracketed IPv6 ip:port ("2a02:cf40:1::5:40669")
// as "[2a02:cf40:1::5]:40669" in the record buffer. Other values are kept.
func (j *jsonRecord) bracketIPv6Port(v span) span {
	b := v.bytes(j.buf)
	if bytes.Count(b, []byte{':'}) < 2 || b[0] == '[' {
		return v
	}
	i := bytes.LastIndexByte(b, ':')
	start := len(j.buf)
	j.buf = append(j.buf, '[')
	j.buf = append(j.buf, j.buf[v.a:v.a+i]...)
	j.buf = append(j.buf, ']')
	j.buf = append(j.buf, j.buf[v.a+i:v.b]...)
	return span{start, len(j.buf)}
}

// finish turns the decoded fields into a record and emits it.
func (p *tfParser) finish() error {
	j, rec := &p.j, &p.rec
	if rec.value.b == rec.value.a {
		p.e.stats.skip("empty_value")
		return nil
	}
	typ, ok := threatFoxType(rec.iocType.bytes(j.buf))
	if !ok {
		p.e.stats.skip("unsupported_ioc_type")
		return nil
	}
	value := rec.value
	if string(rec.iocType.bytes(j.buf)) == "ip:port" {
		value = j.bracketIPv6Port(value)
	}
	var recURL span
	if rec.id.b > rec.id.a {
		recURL = j.wrap("https://threatfox.abuse.ch/ioc/", rec.id, "/")
	}
	s := string(j.buf)
	r := p.e.record()
	r.Source = NameThreatFox
	r.ID = rec.id.of(s)
	r.Value = value.of(s)
	r.Type = typ
	r.ThreatType = rec.threatType.of(s)
	if m := rec.malware.of(s); m != "unknown" {
		r.Malware = m
	}
	if m := rec.printable.of(s); m != "Unknown malware" {
		r.MalwarePrintable = m
	}
	r.MalwareAliases = p.e.tags(s, j.spans, rec.aliases, "")
	r.MalpediaURL = rec.malpedia.of(s)
	if rec.confSet {
		r.Confidence, r.ConfidenceSet = rec.conf, true
	}
	r.FirstSeen, r.LastSeen = rec.first, rec.last
	r.Reference = rec.reference.of(s)
	r.Reporter = rec.reporter.of(s)
	extra := ""
	if rec.compromised {
		extra = "compromised"
	}
	r.Tags = p.e.tags(s, j.spans, rec.tags, extra)
	r.RecordURL = recURL.of(s)
	return p.e.send(r)
}

// threatFoxSource declares the ThreatFox feed (registered in Builtin).
func threatFoxSource() Source {
	return Source{
		Name:              NameThreatFox,
		DefaultURL:        "https://threatfox-api.abuse.ch/api/v1/",
		Method:            "POST",
		Body:              threatFoxBody,
		AbuseCH:           true,
		RequiresKey:       true,
		MinInterval:       defaultMinInterval,
		MaxBytes:          256 * mib, // get_iocs: at most 7 days, tens of MiB of JSON
		DefaultConfidence: 50,
		Parse:             ParseThreatFoxJSON,
		TLP:               "clear",
		Docs: "ThreatFox API (abuse.ch) get_iocs: IOCs added in the last 1-7 days (Days option). " +
			"Requires an abuse.ch Auth-Key; auth query_status values fail with ErrAuth, no_result is an empty success. " +
			"Record confidence_level is used when given. Not a complete list: nothing is revoked when IOCs age out.",
		Function: "FeedThreatFox",
		Schedule: "0 */15 * * * *",
		Enabled:  true,
		Days:     1,
	}
}
