package stix

import (
	"crypto/sha1"
	"strconv"
	"strings"

	"github.com/feeds2sentinel/feeds2sentinel/internal/ioc"
)

// NamespaceUUID is the UUIDv5 namespace of every id this package derives:
// uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/feeds2sentinel/feeds2sentinel")).
// It must never change: ids already uploaded to Sentinel are derived from it.
const NamespaceUUID = "c75fce18-b533-5898-a983-25e0433fed93"

// namespace is NamespaceUUID as bytes (id_test.go checks that they agree).
func namespace() [16]byte {
	return [16]byte{0xc7, 0x5f, 0xce, 0x18, 0xb5, 0x33, 0x58, 0x98, 0xa9, 0x83, 0x25, 0xe0, 0x43, 0x3f, 0xed, 0x93}
}

// IndicatorID returns the deterministic STIX id of the indicator for o:
// "indicator--" + UUIDv5(NamespaceUUID, "<pattern object path>:<value>"), e.g.
// over "ipv4-addr:value:1.2.3.4" or "file:hashes.'SHA-256':<hex>", with
// "#<revision>" appended when revision > 0. The same IOC from any source and
// any run has the same id; the port is not part of it. Revoked ids are never
// reused: a returning IOC gets revision+1. o must be normalized (ioc.Normalize)
// so that equal IOCs have equal values; for an unsupported type the name is
// o.Key() instead of the pattern path.
func IndicatorID(o ioc.Observable, revision int) string {
	var buf [64]byte
	return string(appendIndicatorID(buf[:0], o, revision))
}

// appendIndicatorID appends IndicatorID(o, revision) to dst.
func appendIndicatorID(dst []byte, o ioc.Observable, revision int) []byte {
	var stack [256]byte
	ns := namespace()
	name := append(stack[:0], ns[:]...)
	if path := objectPath(o.Type); path != "" {
		name = append(name, path...)
	} else {
		name = append(name, o.Type...)
	}
	name = append(name, ':')
	name = append(name, o.Value...)
	if revision > 0 {
		name = append(name, '#')
		name = strconv.AppendInt(name, int64(revision), 10)
	}
	return appendID(dst, "indicator--", name)
}

// IdentityID returns the deterministic id of the identity object of a source:
// "identity--" + UUIDv5(NamespaceUUID, "identity:" + lower(source)).
func IdentityID(source string) string {
	var buf [64]byte
	return string(appendIdentityID(buf[:0], source))
}

// appendIdentityID appends IdentityID(source) to dst.
func appendIdentityID(dst []byte, source string) []byte {
	var stack [128]byte
	ns := namespace()
	name := append(stack[:0], ns[:]...)
	name = append(name, "identity:"...)
	name = append(name, strings.ToLower(source)...)
	return appendID(dst, "identity--", name)
}

// appendID appends prefix + the UUIDv5 whose SHA-1 input (namespace bytes
// followed by the name) is data, formatted as RFC 9562 text. It is
// uuid.NewSHA1 without the allocations.
func appendID(dst []byte, prefix string, data []byte) []byte {
	sum := sha1.Sum(data)
	sum[6] = sum[6]&0x0f | 0x50 // version 5
	sum[8] = sum[8]&0x3f | 0x80 // RFC 4122 variant
	dst = append(dst, prefix...)
	return appendUUID(dst, sum[:16])
}

func appendUUID(dst, u []byte) []byte {
	const hex = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hex[c>>4], hex[c&0x0f])
	}
	return dst
}
