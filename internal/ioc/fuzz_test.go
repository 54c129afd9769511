package ioc

import (
	"testing"
	"unicode"
)

var normalizeSeeds = []struct {
	raw  string
	hint Type
}{
	{"1.2.3.4", ""}, {"1.2.3.4:80", ""}, {"2a02:cf40:1::5:40669", HintIPPort},
	{"[2001:db8::1]:443", ""}, {"10.1.2.3/8", TypeCIDRv4}, {"::ffff:1.2.3.4", ""},
	{"evil[.]com", ""}, {"bücher.example", TypeDomain}, {"sign_adfs-07en2p.zlatanibile.workers.dev", TypeDomain},
	{"hxxps[:]//Evil[.]COM:443/a?b=c#d", ""}, {`http://evil.com/a"b\c`, TypeURL}, {"www.x.com/p", TypeURL},
	{"http://[2001:DB8::1]:80/x", ""}, {"D41D8CD98F00B204E9800998ECF8427E", ""},
	{"john[@]evil[.]com", ""}, {"[[.]]", ""}, {"<'\"a\"'>", ""}, {"xn--bcher-kva.de", ""},
	{"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01", TypeX509SHA1},
	// Issue 12: hyphens at label edges, invisible characters in URLs.
	{"-evil.com", ""}, {"evil-.com", TypeDomain}, {"http://evil-.com/", ""},
	{"http://evil.top/a\u202egpj.exe", ""}, {"http://u\u200b@evil.top/\ufeff?\u2066", TypeURL},
}

// FuzzNormalize checks that Normalize never panics, that accepted values
// are idempotent under Normalize with the returned type, and that accepted
// values hold no white space, control or invisible format characters.
func FuzzNormalize(f *testing.F) {
	for _, s := range normalizeSeeds {
		f.Add(s.raw, string(s.hint))
	}
	f.Fuzz(func(t *testing.T, raw, hint string) {
		o, err := Normalize(raw, Type(hint))
		if err != nil {
			if _, ok := err.(*Rejection); !ok {
				t.Fatalf("Normalize(%q, %q) error %T, want *Rejection", raw, hint, err)
			}
			return
		}
		for _, r := range o.Value {
			if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar || unicode.Is(unicode.Cf, r) {
				t.Fatalf("Normalize(%q, %q) = %q: holds %q", raw, hint, o.Value, r)
			}
		}
		again, err := Normalize(o.Value, o.Type)
		if err != nil || again.Value != o.Value || again.Type != o.Type {
			t.Fatalf("Normalize(%q, %q) = %+v; again: %+v, %v", raw, hint, o, again, err)
		}
		var p Policy
		_ = p.Check(o) // must not panic
	})
}

var benchValues = []struct {
	raw  string
	hint Type
}{
	{"185.220.101.34", TypeIPv4},
	{"45.95.147.236:8080", HintIPPort},
	{"2a02:cf40:1::5:40669", HintIPPort},
	{"evil-domain.xyz", TypeDomain},
	{"sign_adfs-07en2p.zlatanibile.workers.dev", TypeDomain},
	{"http://117.213.42.113:45128/i", TypeURL},
	{"https://paste.ee/d/YxTfLHqC/0", TypeURL},
	{"http://Malware.Example.COM:80/payload.exe?id=42", TypeURL},
	{"d41d8cd98f00b204e9800998ecf8427e", TypeMD5},
	{"da39a3ee5e6b4b0d3255bfef95601890afd80709", TypeSHA1},
	{"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", TypeSHA256},
	{"hxxps://evil[.]com/login", ""},
}

func BenchmarkNormalize(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for _, v := range benchValues {
			_, _ = Normalize(v.raw, v.hint)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(benchValues)), "ns/value")
}

func BenchmarkNormalizeByType(b *testing.B) {
	for _, v := range benchValues {
		b.Run(string(v.hint)+"/"+v.raw[:min(len(v.raw), 20)], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Normalize(v.raw, v.hint)
			}
		})
	}
}

func BenchmarkPolicyCheck(b *testing.B) {
	obs := make([]Observable, 0, len(benchValues))
	for _, v := range benchValues {
		o, err := Normalize(v.raw, v.hint)
		if err == nil {
			obs = append(obs, o)
		}
	}
	var p Policy
	b.ReportAllocs()
	for b.Loop() {
		for _, o := range obs {
			_ = p.Check(o)
		}
	}
}
