// Package netguard classifies IP addresses that walhook must never send webhooks to unless
// private targets are explicitly allowed: loopback, private, link-local, unspecified,
// carrier-grade NAT, multicast, reserved, and cloud metadata addresses.
//
// The API checks a webhook URL's host (and what it resolves to) at create time; the sender
// checks the address it actually dials, after DNS, so DNS rebinding cannot get around the
// guard. Both use Forbidden, so the two checks always agree. The classification is pure (no
// I/O) and safe for concurrent use.
package netguard

import "net/netip"

// Reasons returned by Classify.
const (
	ReasonUnspecified = "unspecified"
	ReasonLoopback    = "loopback"
	ReasonPrivate     = "private"
	ReasonLinkLocal   = "link-local"
	ReasonCGNAT       = "carrier-grade NAT"
	ReasonMetadata    = "cloud metadata"
	ReasonMulticast   = "multicast"
	ReasonReserved    = "reserved"
)

var (
	metadataV4 = netip.MustParseAddr("169.254.169.254")
	metadataV6 = netip.MustParseAddr("fd00:ec2::254")

	v4Ranges = []struct {
		prefix netip.Prefix
		reason string
	}{
		{netip.MustParsePrefix("0.0.0.0/8"), ReasonUnspecified}, // "this network"
		{netip.MustParsePrefix("10.0.0.0/8"), ReasonPrivate},
		{netip.MustParsePrefix("100.64.0.0/10"), ReasonCGNAT},
		{netip.MustParsePrefix("127.0.0.0/8"), ReasonLoopback},
		{netip.MustParsePrefix("169.254.0.0/16"), ReasonLinkLocal},
		{netip.MustParsePrefix("172.16.0.0/12"), ReasonPrivate},
		{netip.MustParsePrefix("192.0.0.0/24"), ReasonReserved}, // IETF protocol assignments
		{netip.MustParsePrefix("192.168.0.0/16"), ReasonPrivate},
		{netip.MustParsePrefix("198.18.0.0/15"), ReasonReserved}, // benchmarking
		{netip.MustParsePrefix("224.0.0.0/4"), ReasonMulticast},
		{netip.MustParsePrefix("240.0.0.0/4"), ReasonReserved}, // incl. 255.255.255.255
	}
	v6Ranges = []struct {
		prefix netip.Prefix
		reason string
	}{
		{netip.MustParsePrefix("fc00::/7"), ReasonPrivate}, // unique local
		{netip.MustParsePrefix("fe80::/10"), ReasonLinkLocal},
		{netip.MustParsePrefix("fec0::/10"), ReasonPrivate}, // deprecated site-local
		{netip.MustParsePrefix("ff00::/8"), ReasonMulticast},
		{netip.MustParsePrefix("100::/64"), ReasonReserved}, // discard-only
	}
	// Prefixes that embed an IPv4 address in their last 32 bits: the embedded address
	// decides (NAT64 64:ff9b::/96 reaches 127.0.0.1 as 64:ff9b::7f00:1).
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	// 6to4 embeds the IPv4 address in bits 16–47.
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Forbidden reports whether ip is an address walhook must not deliver to when private
// targets are not allowed. The zero (invalid) Addr is forbidden: failing closed.
func Forbidden(ip netip.Addr) bool {
	return Classify(ip) != ""
}

// Classify returns why ip is forbidden (one of the Reason constants), or "" when it is a
// public unicast address. IPv4-mapped and IPv4-compatible IPv6 addresses, NAT64 and 6to4
// addresses are judged by the IPv4 address they embed. The zero Addr is ReasonUnspecified.
func Classify(ip netip.Addr) string {
	if !ip.IsValid() {
		return ReasonUnspecified
	}
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	if ip.Is4() {
		return classify4(ip)
	}
	switch {
	case ip == metadataV6:
		return ReasonMetadata
	case ip.IsUnspecified():
		return ReasonUnspecified
	case ip.IsLoopback():
		return ReasonLoopback
	case nat64.Contains(ip):
		b := ip.As16()
		return classify4(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	case sixToFour.Contains(ip):
		b := ip.As16()
		return classify4(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	}
	if b := ip.As16(); isZero(b[:12]) {
		// IPv4-compatible (deprecated ::a.b.c.d); :: and ::1 were handled above.
		return classify4(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	for _, r := range v6Ranges {
		if r.prefix.Contains(ip) {
			return r.reason
		}
	}
	return ""
}

func classify4(ip netip.Addr) string {
	if ip == metadataV4 {
		return ReasonMetadata
	}
	for _, r := range v4Ranges {
		if r.prefix.Contains(ip) {
			return r.reason
		}
	}
	return ""
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
