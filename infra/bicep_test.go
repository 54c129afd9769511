// Package infra holds no Go code: its tests check the Bicep templates,
// azure.yaml and infra/README.md against the Go code they deploy (settings
// read by internal/config, functions from internal/app and functions/*),
// because the Bicep compiler cannot run where the tests run.
package infra

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// bicepFile is one template: its path relative to infra/ and its text.
type bicepFile struct {
	path string
	src  string
}

// readBicep returns main.bicep and every module, sorted by path.
func readBicep(t *testing.T) []bicepFile {
	t.Helper()
	paths, err := filepath.Glob("modules/*.bicep")
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, "main.bicep")
	sort.Strings(paths)
	var fs []bicepFile
	for _, p := range paths {
		fs = append(fs, bicepFile{path: p, src: readText(t, p)})
	}
	return fs
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stripComment removes a trailing // comment from a Bicep line, leaving
// // inside single-quoted strings (URLs) alone.
func stripComment(line string) string {
	in := false
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && in:
			i++
		case line[i] == '\'':
			in = !in
		case !in && strings.HasPrefix(line[i:], "//"):
			return line[:i]
		}
	}
	return line
}

var keyRE = regexp.MustCompile(`^  ('?)([A-Za-z0-9_]+)'?:\s*(.*)$`)

// objectVar returns the top-level keys of `var name = {` … `}` in src (keys
// at two spaces of indentation, the closing brace at column 0) mapped to
// their value expressions. ok is false when the var does not exist.
func objectVar(src, name string) (map[string]string, bool) {
	lines := strings.Split(src, "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimRight(l, " \r") == "var "+name+" = {" {
			start = i + 1
			break
		}
	}
	if start < 0 {
		return nil, false
	}
	keys := map[string]string{}
	for _, l := range lines[start:] {
		l = strings.TrimRight(l, " \r")
		if l == "}" {
			break
		}
		if m := keyRE.FindStringSubmatch(stripComment(l)); m != nil {
			keys[m[2]] = strings.TrimSpace(m[3])
		}
	}
	return keys, true
}

// param is one `param` declaration.
type param struct {
	name, typ, def string // def is the default expression ("" = none)
	secure         bool   // preceded by @secure()
}

var paramRE = regexp.MustCompile(`^param (\w+) (\w+)(?: = (.+))?$`)

// params returns the param declarations of src by name.
func params(src string) map[string]param {
	ps := map[string]param{}
	secure := false
	for _, l := range strings.Split(src, "\n") {
		l = strings.TrimSpace(stripComment(l))
		switch {
		case l == "@secure()":
			secure = true
		case strings.HasPrefix(l, "param "):
			if m := paramRE.FindStringSubmatch(l); m != nil {
				ps[m[1]] = param{name: m[1], typ: m[2], def: strings.TrimSpace(m[3]), secure: secure}
			}
			secure = false
		case l == "" || strings.HasPrefix(l, "@") || strings.HasPrefix(l, "'") || l == "])" || strings.HasPrefix(l, "]"):
			// decorators and their multi-line arguments keep the flag
		default:
			secure = false
		}
	}
	return ps
}

// blocks returns the text of every `resource … '<typePrefix>…' … = … {`
// block in src (up to the next line that is exactly "}").
func blocks(src, typePrefix string) []string {
	var out []string
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "resource ") || !strings.Contains(l, "'"+typePrefix) {
			continue
		}
		var b strings.Builder
		for _, m := range lines[i:] {
			b.WriteString(m)
			b.WriteByte('\n')
			if strings.TrimRight(m, " \r") == "}" {
				break
			}
		}
		out = append(out, b.String())
	}
	return out
}

// unquote turns a Bicep string literal 'x' into x; other expressions are
// returned unchanged.
func unquote(expr string) string {
	if len(expr) >= 2 && expr[0] == '\'' && expr[len(expr)-1] == '\'' {
		return strings.ReplaceAll(expr[1:len(expr)-1], `\'`, "'")
	}
	return expr
}

// balanced reports the first bracket that does not match in src, ignoring
// strings (following ${…} interpolations into them) and comments; ""
// means balanced.
func balanced(src string) string {
	var stack []byte // '(', '[', '{', or 'I' for an open ${ interpolation
	pairs := map[byte]byte{')': '(', ']': '[', '}': '{'}
	inStr := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inStr {
			switch {
			case c == '\\':
				i++
			case c == '\'':
				inStr = false
			case c == '$' && i+1 < len(src) && src[i+1] == '{':
				stack = append(stack, 'I')
				inStr = false
				i++
			}
			continue
		}
		switch {
		case strings.HasPrefix(src[i:], "'''"):
			end := strings.Index(src[i+3:], "'''")
			if end < 0 {
				return "unterminated '''"
			}
			i += end + 5
		case c == '\'':
			inStr = true
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i:], "*/")
			if end < 0 {
				return "unterminated /*"
			}
			i += end + 1
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case c == '}' && len(stack) > 0 && stack[len(stack)-1] == 'I':
			stack = stack[:len(stack)-1]
			inStr = true
		case c == ')' || c == ']' || c == '}':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return "unexpected " + string(c) + " near: " + snippet(src, i)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if inStr {
		return "unterminated string"
	}
	if len(stack) > 0 {
		return "unclosed " + string(stack[len(stack)-1])
	}
	return ""
}

func snippet(s string, i int) string {
	lo, hi := max(0, i-40), min(len(s), i+40)
	return strings.ReplaceAll(s[lo:hi], "\n", "⏎")
}
