package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/feeds2sentinel/feeds2sentinel/internal/detect"
	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// printDetection writes, for each feed, which analytic rules shipped in
// infra/ (internal/detect) can match its indicators and the deployment
// parameter that turns each on. User lists may carry any type, so every
// rule applies to them.
func printDetection(w io.Writer, feeds []string) error {
	var b strings.Builder
	b.WriteString("\nDetection: analytic rules shipped in infra/rules (off until deployed; README \"What you see in Sentinel\"):\n")
	params := map[string]string{}
	for _, r := range detect.Rules() {
		params[r.Key] = r.Param
	}
	for _, name := range feeds {
		types, builtin := detect.FeedTypes(name)
		var rules []string
		for _, key := range detect.FeedRules(name) {
			rules = append(rules, key+" ("+params[key]+")")
		}
		kinds := "any type (user list)"
		if builtin {
			kinds = joinTypes(types)
		}
		fmt.Fprintf(&b, "  %s [%s]: %s\n", name, kinds, strings.Join(rules, ", "))
	}
	for _, r := range detect.RulesFor(ioc.TypeX509SHA1) {
		fmt.Fprintf(&b, "  Certificate SHA-1 (%s): %s reads %s.\n", ioc.TypeX509SHA1, r.Key, r.Data)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func joinTypes(ts []ioc.Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, " ")
}
