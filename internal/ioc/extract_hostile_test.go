package ioc

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// hostileTexts are free-text bodies that made extraction quadratic: long
// runs of digits, of "1.", of letters, of dotted labels and of closing
// brackets after a URL.
var hostileTexts = []struct {
	name string
	unit string
}{
	{"zeros", "0"},
	{"one-dot", "1."},
	{"letters", "a"},
	{"labels", "a."},
	{"caps", "a.A"},
	{"hex-dot", "d41d8cd98f00b204e9800998ecf8427e."},
	{"url-parens", "http://a.b)"},
	{"md-links", "evil.com/]("},
	{"brackets", "http://x.y/[[.]]"},
	{"spaces-quad", " 1.2.3.4"},
}

func hostile(unit string, n int) string {
	return strings.Repeat(unit, n/len(unit)+1)[:n]
}

func BenchmarkExtractHostile(b *testing.B) {
	for _, h := range hostileTexts {
		for _, n := range []int{1 << 10, 64 << 10, 1 << 20} {
			s := hostile(h.unit, n)
			b.Run(h.name+"/"+strconv.Itoa(n>>10)+"KiB", func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					_ = Extract(s)
				}
			})
		}
	}
}

// TestExtractHostile runs every hostile text at 64 KiB (seconds each
// before extraction was made linear) and checks what it finds.
func TestExtractHostile(t *testing.T) {
	t.Parallel()
	for _, h := range hostileTexts {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			text := hostile(h.unit, 64<<10)
			for _, c := range Extract(text) {
				if text[c.Offset:c.Offset+len(c.Raw)] != c.Raw {
					t.Fatalf("candidate %+v is not text[Offset:]", c)
				}
				if _, err := Normalize(c.Raw, c.Type); err != nil {
					t.Fatalf("candidate %+v does not normalize: %v", c, err)
				}
			}
		})
	}
}

func TestExtractContextCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := ExtractContext(ctx, hostile("1.2.3.4 ", 1<<20))
	if !errors.Is(err, context.Canceled) || len(got) != 0 {
		t.Fatalf("ExtractContext(cancelled) = %d candidates, %v; want 0, context.Canceled", len(got), err)
	}
	got, err = ExtractContext(context.Background(), "see 1.2.3.4")
	if err != nil || len(got) != 1 {
		t.Fatalf("ExtractContext = %v, %v; want one candidate", got, err)
	}
}

// TestExtractBounds covers the limits that keep extraction linear: they
// must not turn a too-long value into a shorter, wrong one.
func TestExtractBounds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		text string
		want []string
	}{
		{"local part 64", strings.Repeat("a", 64) + "@evil.com", []string{"email " + strings.Repeat("a", 64) + "@evil.com"}},
		{"local part 65 not cut", "x " + strings.Repeat("a", 65) + "@evil.com", nil},
		{"url closing parens", "http://a.b.com/x" + strings.Repeat(")", 3000), []string{"url http://a.b.com/x"}},
		{"url balanced parens", "http://a.b.com/(x))", []string{"url http://a.b.com/(x)"}},
		{"domain path markdown", "[x](evil.com/a](evil.com/b)", []string{"url http://evil.com/a", "url http://evil.com/b"}},
		{"long domain", strings.Repeat("ab.", 400) + "com", nil},
		{"hex subdomain", "d41d8cd98f00b204e9800998ecf8427e.evil.com", []string{"domain d41d8cd98f00b204e9800998ecf8427e.evil.com"}},
		{"hex label longer than a hash", "d41d8cd98f00b204e9800998ecf8427e1.evil.com", []string{"domain d41d8cd98f00b204e9800998ecf8427e1.evil.com"}},
		{"hash after a word", "x" + strings.Repeat("d41d8cd98f00b204e9800998ecf8427e", 2) + " evil.com", []string{"domain evil.com"}},
		{"version after spaces", "version" + strings.Repeat(" ", 20) + "1.2.3.4", []string{"ipv4 1.2.3.4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := extracted(t, tc.text); !slices.Equal(got, tc.want) {
				t.Errorf("Extract(%.80q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

// TestExtractShortcut checks that trying noEmailRe far from an at sign
// finds what extractRe alone finds.
func TestExtractShortcut(t *testing.T) {
	t.Parallel()
	texts := []string{"a@b.com x 1.2.3.4 " + strings.Repeat("y", 70) + " c[@]d.com 5.6.7.8",
		strings.Repeat("1.", 100) + "x@evil.com", strings.Repeat("a", 63) + "@evil.com"}
	for _, c := range readCorpus(t) {
		texts = append(texts, c.text)
	}
	for _, h := range hostileTexts {
		texts = append(texts, hostile(h.unit, 4096)+" user@evil.com "+hostile(h.unit, 200))
	}
	for _, text := range texts {
		fast := extractor{text: text}
		full := extractor{text: text, fullOnly: true}
		got, _ := fast.run(context.Background())
		want, _ := full.run(context.Background())
		if !slices.Equal(got, want) {
			t.Errorf("text %.60q: shortcut %v, extractRe alone %v", text, got, want)
		}
	}
}
