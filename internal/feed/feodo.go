package feed

import (
	"context"
	"io"
	"time"
)

const expectFeodo = "Feodo Tracker ipblocklist.json (a JSON array of C2 objects)"

// ParseFeodoTracker parses Feodo Tracker's ipblocklist.json, a top-level
// array of botnet C2 objects. Each becomes a record whose Value is
// "ip:port" (IPv6 as "[addr]:port"; Type left empty for detection; the
// port is context, the IP the indicator), ID the IP (the feed has no
// record id), ThreatType botnet_cc, MalwarePrintable the malware family,
// Status online/offline, FirstSeen first_seen (may be absent), LastSeen
// last_online (a date), Description the hostname, AS and country, and
// RecordURL https://feodotracker.abuse.ch/browse/host/<ip>/. Offline
// entries get ValidUntil (see OfflineValidity).
func ParseFeodoTracker(ctx context.Context, r io.Reader, emit Emit) (Stats, error) {
	const format = NameFeodoTracker
	br, err := open(r, format, expectFeodo)
	if err != nil {
		return Stats{}, err
	}
	e := newEmitter(ctx, emit)
	j := &jsonRecord{s: newScanner(format, br), st: &e.stats}
	if err := j.s.open('[', expectFeodo); err != nil {
		if _, perr := j.s.peek(); perr == io.EOF {
			return e.stats, badPayload(format, expectFeodo, nil)
		}
		return e.stats, err
	}
	if err := j.s.elems(func() error { return feodoRecord(e, j) }); err != nil {
		return e.stats, err
	}
	return e.stats, j.s.done()
}

func feodoRecord(e *emitter, j *jsonRecord) error {
	var ip, port, status, host, asn, asName, country, malware span
	var firstSeen, lastOnline time.Time
	err := j.object("Feodo Tracker C2 object", func(key []byte) (err error) {
		switch string(key) {
		case "ip_address":
			ip, err = j.str()
		case "port":
			port, err = j.str()
		case "status":
			status, err = j.str()
		case "hostname":
			host, err = j.str()
		case "as_number":
			asn, err = j.str()
		case "as_name":
			asName, err = j.str()
		case "country":
			country, err = j.str()
		case "malware":
			malware, err = j.str()
		case "first_seen":
			firstSeen, err = j.time("first_seen")
		case "last_online":
			lastOnline, err = j.time("last_online")
		default:
			err = j.s.skip(0)
		}
		return err
	})
	if err != nil {
		return err
	}
	if ip.a == ip.b {
		e.stats.skip("empty_value")
		return nil
	}
	value := ip
	if port.b > port.a {
		if n, ok := atoi(port.bytes(j.buf)); ok && n > 0 && n < 65536 {
			value = j.wrap("", ip, ":")
			value.b = j.addBytes(port.bytes(j.buf)).b
			value = j.bracketIPv6Port(value)
		} else {
			e.stats.fieldError("port")
		}
	}
	desc := j.describe(
		labeled{"hostname ", host},
		labeled{"AS", asn},
		labeled{"AS name ", asName},
		labeled{"country ", country})
	recURL := j.wrap("https://feodotracker.abuse.ch/browse/host/", ip, "/")
	s := string(j.buf)
	r := e.record()
	r.Source = NameFeodoTracker
	r.ID = ip.of(s)
	r.Value = value.of(s)
	r.ThreatType = "botnet_cc"
	r.MalwarePrintable = malware.of(s)
	r.Status = status.of(s)
	r.FirstSeen = firstSeen
	r.LastSeen = lastOnline
	r.Description = desc.of(s)
	r.RecordURL = recURL.of(s)
	setOfflineValidity(r)
	return e.send(r)
}

// labeled is a label and the span of its value.
type labeled struct {
	label string
	sp    span
}

// describe appends "label value; label value" for the parts with a
// non-empty value and returns the span of the text.
func (j *jsonRecord) describe(parts ...labeled) span {
	start := len(j.buf)
	for _, p := range parts {
		if p.sp.b <= p.sp.a {
			continue
		}
		if len(j.buf) > start {
			j.buf = append(j.buf, "; "...)
		}
		j.buf = append(j.buf, p.label...)
		j.buf = append(j.buf, j.buf[p.sp.a:p.sp.b]...)
	}
	return span{start, len(j.buf)}
}

// feodoSource declares the FeodoTracker feed (registered in Builtin).
func feodoSource() Source {
	return Source{
		Name:       NameFeodoTracker,
		DefaultURL: "https://feodotracker.abuse.ch/downloads/ipblocklist.json",
		Method:     "GET", AbuseCH: true, MinInterval: defaultMinInterval,
		MaxBytes:          smallFeedMaxBytes,
		Complete:          true,
		DefaultConfidence: 90,
		Parse:             ParseFeodoTracker,
		TLP:               "clear",
		Docs: "Feodo Tracker (abuse.ch) botnet C2 IP blocklist, JSON: the complete current list, so C2s that disappear may be revoked. " +
			"Auth-Key sent when configured. Offline C2s are kept with Status offline and a short validity.",
		Function: "FeedFeodoTracker",
		Schedule: "0 */30 * * * *",
		Enabled:  true,
	}
}
