package main

import (
	"strings"
	"testing"
)

// TestFeedsDetection: `handler feeds` says, per source, which shipped rule
// can match its indicators, and where certificate hashes come from.
func TestFeedsDetection(t *testing.T) {
	code, out, _ := runCLI(t, map[string]string{"FEED_MY_LIST_URL": "https://lists.example.org/ips.txt"}, "", "feeds")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"Detection: analytic rules shipped in infra/rules",
		"  spamhaus-drop [cidr4 cidr6 ipv4 ipv6]: ti-ip (deployDetectionRules), ti-cidr (deployDetectionRules)\n",
		"  sslbl [x509-sha1]: ti-x509-corelight (deployCertificateRule)\n",
		"  openphish [url]: ti-url (deployDetectionRules)\n",
		"  my-list [any type (user list)]: ti-ip (deployDetectionRules), ti-cidr",
		"no ASIM schema or common Microsoft table carries the server certificate hash",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("feeds output lacks %q:\n%s", want, out)
		}
	}
}
