// Package feedtest generates realistic feed payloads of any size for
// benchmarks and load tests of the feed parsers and the pipeline behind
// them. Output is deterministic: the same n always gives the same bytes.
package feedtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// ThreatFox ioc types in the proportions the generator uses.
var tfKinds = [...]string{"ip:port", "domain", "url", "sha256_hash", "ip:port", "url", "md5_hash", "sha1_hash"}

// ioc returns the i-th generated IOC value of a ThreatFox ioc_type.
func iocValue(kind string, i int) string {
	switch kind {
	case "ip:port":
		return fmt.Sprintf("%d.%d.%d.%d:%d", 11+i%200, (i/200)%256, (i/51200)%256, 1+i%254, 1024+i%60000)
	case "domain":
		return fmt.Sprintf("c2-%d.example-%d.top", i, i%97)
	case "url":
		return fmt.Sprintf("http://dl-%d.example-%d.xyz/payload/%d.exe?id=%d&a=b", i, i%89, i, i*7)
	case "md5_hash":
		return hex(i, 32)
	case "sha1_hash":
		return hex(i, 40)
	}
	return hex(i, 64)
}

// hex returns n deterministic hex digits derived from i.
func hex(i, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	x := uint64(i)*0x9e3779b97f4a7c15 + 1
	for k := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[k] = digits[x&15]
	}
	return string(b)
}

var malware = [...][4]string{
	{"win.cobalt_strike", "Cobalt Strike", "Agentemis,BEACON,CobaltStrike,cobeacon", "botnet_cc"},
	{"win.asyncrat", "AsyncRAT", "", "botnet_cc"},
	{"elf.mirai", "Mirai", "Katana", "botnet_cc"},
	{"win.vidar", "Vidar", "", "payload"},
	{"js.clearfake", "ClearFake", "", "payload_delivery"},
}

func stamp(i int) string {
	return fmt.Sprintf("2026-07-%02d %02d:%02d:%02d", 1+i%28, i%24, i%60, (i*7)%60)
}

// ThreatFoxJSON returns a ThreatFox API get_iocs response with n records.
func ThreatFoxJSON(n int) []byte {
	var b bytes.Buffer
	WriteThreatFoxJSON(&b, n)
	return b.Bytes()
}

// WriteThreatFoxJSON writes what ThreatFoxJSON returns to w, a record at a
// time, so that payloads of millions of records need no memory; it
// returns the first write error.
func WriteThreatFoxJSON(w io.Writer, n int) error {
	b := bufio.NewWriterSize(w, 64<<10)
	b.WriteString("{\n  \"query_status\": \"ok\",\n  \"data\": [\n")
	for i := range n {
		kind := tfKinds[i%len(tfKinds)]
		m := malware[i%len(malware)]
		alias := "null"
		if m[2] != "" {
			alias = strconv.Quote(m[2])
		}
		last, ref := "null", `""`
		if i%3 == 0 {
			last = strconv.Quote(stamp(i+1) + " UTC")
			ref = strconv.Quote(fmt.Sprintf("https://bazaar.abuse.ch/sample/%s/", hex(i, 64)))
		}
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(b, `    {"id":"%d","ioc":%q,"threat_type":%q,"threat_type_desc":"Indicator that identifies a botnet command&control server (C&C)","ioc_type":%q,"ioc_type_desc":"ip:port combination that is used for botnet Command&control (C&C)","malware":%q,"malware_printable":%q,"malware_alias":%s,"malware_malpedia":"https:\/\/malpedia.caad.fkie.fraunhofer.de\/details\/%s","confidence_level":%d,"is_compromised":%t,"first_seen":"%s UTC","last_seen":%s,"reference":%s,"reporter":"abuse_ch","tags":[%q,"tag-%d"]}`,
			1000000+i, iocValue(kind, i), m[3], kind, m[0], m[1], alias, m[0], []int{50, 75, 100}[i%3], i%17 == 0, stamp(i), last, ref, m[1], i%13)
	}
	b.WriteString("\n  ]\n}\n")
	return b.Flush()
}

const tfBanner = "################################################################\r\n" +
	"# ThreatFox IOCs: recent additions - CSV format                #\r\n" +
	"# Last updated: 2026-07-04 22:19:04 UTC                        #\r\n" +
	"#\r\n" +
	`# "first_seen_utc","ioc_id","ioc_value","ioc_type","threat_type","fk_malware","malware_alias","malware_printable","last_seen_utc","confidence_level","is_compromised","reference","tags","anonymous","reporter"` + "\r\n"

// ThreatFoxCSV returns a ThreatFox CSV export (2026 layout, CRLF) with n
// rows and the entry-count trailer.
func ThreatFoxCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString(tfBanner)
	for i := range n {
		kind := tfKinds[i%len(tfKinds)]
		m := malware[i%len(malware)]
		alias := m[2]
		if alias == "" {
			alias = "None"
		}
		last := ""
		if i%3 == 0 {
			last = stamp(i + 1)
		}
		fmt.Fprintf(&b, `"%s", "%d", "%s", "%s", "%s", "%s", "%s", "%s", "%s", "%d", "%s", "None", "%s,tag-%d", "%d", "abuse_ch"`+"\r\n",
			stamp(i), 1000000+i, iocValue(kind, i), kind, m[3], m[0], alias, m[1], last, []int{50, 75, 100}[i%3],
			[]string{"False", "True"}[min(i%17, 1)^1], m[1], i%13, i%2)
	}
	fmt.Fprintf(&b, "# Number of entries: %d\r\n", n)
	return b.Bytes()
}

// URLhausCSV returns a URLhaus csv_recent dump with n rows.
func URLhausCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("################################################################\n" +
		"# abuse.ch URLhaus Database Dump (CSV - recent URLs only)      #\n#\n" +
		"# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n")
	for i := range n {
		status, last := "online", stamp(i)
		if i%4 == 0 {
			status, last = "offline", ""
		}
		fmt.Fprintf(&b, "\"%d\",\"%s\",\"%s\",\"%s\",\"%s\",\"malware_download\",\"32-bit,elf,mips,Mozi\",\"https://urlhaus.abuse.ch/url/%d/\",\"geenensp\"\n",
			3000000+i, stamp(i), iocValue("url", i), status, last, 3000000+i)
	}
	return b.Bytes()
}

// URLhausAPI returns a URLhaus API urls/recent response with n entries.
func URLhausAPI(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"query_status":"ok","urls":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%d","urlhaus_reference":"https://urlhaus.abuse.ch/url/%d/","url":%q,"url_status":"online","host":"example-%d.xyz","date_added":"%s UTC","threat":"malware_download","blacklists":{"spamhaus_dbl":"not listed","surbl":"not listed"},"reporter":"tammeto","larted":"true","tags":["elf","Mozi"]}`,
			1600000+i, 1600000+i, iocValue("url", i), i%89, stamp(i))
	}
	b.WriteString("]}\n")
	return b.Bytes()
}

// FeodoJSON returns a Feodo Tracker ipblocklist.json with n entries.
func FeodoJSON(n int) []byte {
	var b bytes.Buffer
	b.WriteString("[\n")
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"ip_address":"%d.%d.%d.%d","port":%d,"status":"%s","hostname":null,"as_number":%d,"as_name":"OVH","country":"FR","first_seen":"%s","last_online":"2026-07-%02d","malware":"QakBot"}`,
			11+i%200, (i/200)%256, (i/51200)%256, 1+i%254, 443+i%1000, []string{"online", "offline"}[i%2], 16276+i%10, stamp(i), 1+i%28)
	}
	b.WriteString("\n]\n")
	return b.Bytes()
}

// MalwareBazaarJSON returns a MalwareBazaar get_recent response with n
// samples (3n records).
func MalwareBazaarJSON(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"query_status":"ok","data":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sha256_hash":"%s","sha3_384_hash":"%s","sha1_hash":"%s","md5_hash":"%s","first_seen":"%s","last_seen":null,"file_name":"sample-%d.exe","file_size":%d,"file_type_mime":"application/x-dosexec","file_type":"exe","reporter":"abuse_ch","origin_country":"FR","anonymous":0,"signature":"RedLineStealer","imphash":"%s","tlsh":null,"telfhash":null,"ssdeep":null,"dhash_icon":null,"tags":["exe","RedLineStealer"],"code_sign":[],"intelligence":{"clamav":null,"downloads":"11","uploads":"1","mail":null}}`,
			hex(i, 64), hex(i+1, 96), hex(i, 40), hex(i, 32), stamp(i), i, 400000+i, hex(i+2, 32))
	}
	b.WriteString("]}\n")
	return b.Bytes()
}

// MalwareBazaarCSV returns a MalwareBazaar CSV export with n samples.
func MalwareBazaarCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`# "first_seen_utc","sha256_hash","md5_hash","sha1_hash","reporter","file_name","file_type_guess","mime_type","signature","clamav","vtpercent","imphash","ssdeep","tlsh"` + "\n")
	for i := range n {
		fmt.Fprintf(&b, `"%s", "%s", "%s", "%s", "abuse_ch", "sample-%d.exe", "exe", "application/x-dosexec", "Loki", "n/a", "n/a", "%s", "n/a", "n/a"`+"\n",
			stamp(i), hex(i, 64), hex(i, 32), hex(i, 40), i, hex(i+2, 32))
	}
	fmt.Fprintf(&b, "# Number of entries: %d\n", n)
	return b.Bytes()
}

// SSLBLCSV returns an SSLBL certificate blacklist with n rows.
func SSLBLCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("# abuse.ch SSLBL SSL Certificate Blacklist (SHA1 Fingerprints) #\n#\n# Listingdate,SHA1,Listingreason\n")
	for i := range n {
		fmt.Fprintf(&b, "%s,%s,%s C&C\n", stamp(i), hex(i, 40), malware[i%len(malware)][1])
	}
	return b.Bytes()
}

// OpenPhish returns an OpenPhish feed.txt with n URLs.
func OpenPhish(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "https://login-%d.example-%d.click/verify?id=%d&amp;u=x\n", i, i%101, i)
	}
	return b.Bytes()
}

// SpamhausDROP returns a Spamhaus drop_v4.json (NDJSON) with n ranges and
// the metadata line.
func SpamhausDROP(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"cidr":"%d.%d.%d.0/24","sblid":"SBL%d","rir":"apnic"}`+"\n", 11+i%200, (i/200)%256, (i/51200)%256, 200000+i)
	}
	fmt.Fprintf(&b, `{"type":"metadata","timestamp":1741743474,"size":%d,"records":%d,"copyright":"(c) 2025 The Spamhaus Project SLU","terms":"https://www.spamhaus.org/drop/terms/"}`+"\n", b.Len(), n)
	return b.Bytes()
}

// List returns a plain-text IOC list with n entries of mixed types, with
// comments.
func List(n int) []byte {
	var b bytes.Buffer
	b.WriteString("# generated list\n")
	for i := range n {
		kind := tfKinds[i%len(tfKinds)]
		v := iocValue(kind, i)
		if kind == "ip:port" {
			v = v[:bytes.LastIndexByte([]byte(v), ':')]
		}
		if i%10 == 0 {
			fmt.Fprintf(&b, "%s # note %d\n", v, i)
		} else {
			b.WriteString(v + "\n")
		}
	}
	return b.Bytes()
}
