package ioc

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// corpusFile is one hand-labelled snippet of testdata/extract: NAME.txt and
// NAME.want, whose lines are "type value" after normalization.
type corpusFile struct {
	name string
	text string
	want []string
}

func readCorpus(tb testing.TB) []corpusFile {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "extract", "*.txt"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no corpus: %v", err)
	}
	var cs []corpusFile
	for _, p := range paths {
		text, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		want, err := os.ReadFile(strings.TrimSuffix(p, ".txt") + ".want")
		if err != nil {
			tb.Fatal(err)
		}
		c := corpusFile{name: filepath.Base(p), text: string(text)}
		for line := range strings.SplitSeq(string(want), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				c.want = append(c.want, line)
			}
		}
		cs = append(cs, c)
	}
	return cs
}

// extracted returns the "type value" lines for Extract(text), checking the
// Candidate contract on the way.
func extracted(t *testing.T, text string) []string {
	t.Helper()
	var got []string
	for _, c := range Extract(text) {
		if c.Offset < 0 || c.Offset+len(c.Raw) > len(text) || text[c.Offset:c.Offset+len(c.Raw)] != c.Raw {
			t.Errorf("candidate %+v is not text[Offset:]", c)
			continue
		}
		o, err := Normalize(c.Raw, c.Type)
		if err != nil {
			t.Errorf("candidate %+v does not normalize: %v", c, err)
			continue
		}
		got = append(got, string(o.Type)+" "+o.Value)
	}
	return got
}

// TestExtractCorpus measures precision and recall over the labelled corpus
// and fails when either is below 0.98.
func TestExtractCorpus(t *testing.T) {
	t.Parallel()
	corpus := readCorpus(t)
	if len(corpus) < 30 {
		t.Errorf("corpus has %d snippets, want at least 30", len(corpus))
	}
	var tp, fp, fn int
	for _, c := range corpus {
		got := extracted(t, c.text)
		for _, g := range got {
			if slices.Contains(c.want, g) {
				tp++
			} else {
				fp++
				t.Logf("%s: false positive %q", c.name, g)
			}
		}
		for _, w := range c.want {
			if !slices.Contains(got, w) {
				fn++
				t.Logf("%s: missed %q", c.name, w)
			}
		}
	}
	precision := float64(tp) / float64(max(tp+fp, 1))
	recall := float64(tp) / float64(max(tp+fn, 1))
	t.Logf("corpus: %d snippets, %d labels: tp=%d fp=%d fn=%d precision=%.4f recall=%.4f",
		len(corpus), tp+fn, tp, fp, fn, precision, recall)
	if precision < 0.98 || recall < 0.98 {
		t.Errorf("precision %.4f, recall %.4f: want both >= 0.98", precision, recall)
	}
}

func TestExtract(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		text string
		want []string
	}{
		{"empty", "", nil},
		{"defanged url", "see hxxps://evil[.]com/a.", []string{"url https://evil.com/a"}},
		{"defanged ip", "ip 1.2.3[.]4", []string{"ipv4 1.2.3.4"}},
		{"defanged email", "from user[@]evil[.]com", []string{"email user@evil.com"}},
		{"paren dot", "evil(.)com", []string{"domain evil.com"}},
		{"trailing dot", "go to evil.com.", []string{"domain evil.com"}},
		{"parens", "(http://x.y.com/a)", []string{"url http://x.y.com/a"}},
		{"balanced parens", "http://en.wikipedia.org/wiki/A_(b)", []string{"url http://en.wikipedia.org/wiki/A_(b)"}},
		{"quoted comma", `"http://x.y.com",`, []string{"url http://x.y.com"}},
		{"markdown", "[a](https://x.y.com/p)", []string{"url https://x.y.com/p"}},
		{"angle", "<https://x.y.com/p>", []string{"url https://x.y.com/p"}},
		{"file names", "setup.exe invoice.pdf update.zip README.md index.html config.json file.dll script.ps1", nil},
		{"versions", "v1.2.3 1.2.3 version 2.0.1.4 v2.0.1.4 e.g. i.e. a.b", nil},
		{"bare quad", "2.0.1.4", []string{"ipv4 2.0.1.4"}},
		{"dedupe", "Evil.com evil.com evil[.]com", []string{"domain evil.com"}},
		{"ip port", "1.2.3.4:8080", []string{"ipv4 1.2.3.4"}},
		{"v6 bracket port", "[2001:db8::1]:443", []string{"ipv6 2001:db8::1"}},
		{"hash upper", "D41D8CD98F00B204E9800998ECF8427E", []string{"md5 d41d8cd98f00b204e9800998ecf8427e"}},
		{"hash in word", "xd41d8cd98f00b204e9800998ecf8427e", nil},
		{"capital tld", "System.Net ASP.NET", nil},
		{"call", "shell.run(x)", nil},
		{"path", "/tmp/x/evil.com C:\\a\\evil.com", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := extracted(t, tc.text); !slices.Equal(got, tc.want) {
				t.Errorf("Extract(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

// FuzzExtract checks that Extract never panics, that it finds what
// extractRe alone finds, that every candidate's Raw is the input at Offset
// and that every candidate normalizes.
func FuzzExtract(f *testing.F) {
	for _, c := range readCorpus(f) {
		f.Add(c.text)
	}
	f.Add("hxxps[:]//evil[.]com/a_(b)) [x](y) 1.2.3.4:5 [::1]:2 a@b[.]cc")
	for _, h := range hostileTexts { // issue 12: inputs that were quadratic
		f.Add(hostile(h.unit, 512))
	}
	f.Add("-evil.com evil-.com http://evil.top/a\u202egpj.exe " + strings.Repeat("a", 65) + "@evil.com")
	f.Fuzz(func(t *testing.T, text string) {
		got := Extract(text)
		full := extractor{text: text, fullOnly: true}
		if want, _ := full.run(context.Background()); !slices.Equal(got, want) {
			t.Fatalf("Extract = %v, extractRe alone %v", got, want)
		}
		for _, c := range got {
			if c.Offset < 0 || c.Offset+len(c.Raw) > len(text) || text[c.Offset:c.Offset+len(c.Raw)] != c.Raw {
				t.Fatalf("candidate %+v is not text[Offset:]", c)
			}
			if _, err := Normalize(c.Raw, c.Type); err != nil {
				t.Fatalf("candidate %+v does not normalize: %v", c, err)
			}
		}
	})
}

func BenchmarkExtract(b *testing.B) {
	var text strings.Builder
	for _, c := range readCorpus(b) {
		text.WriteString(c.text)
	}
	s := text.String()
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Extract(s)
	}
}
