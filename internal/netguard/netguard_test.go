package netguard

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		ip   string
		want string
	}{
		{"8.8.8.8", ""},
		{"93.184.216.34", ""},
		{"2606:4700:4700::1111", ""},
		{"0.0.0.0", ReasonUnspecified},
		{"::", ReasonUnspecified},
		{"127.0.0.1", ReasonLoopback},
		{"127.255.1.2", ReasonLoopback},
		{"::1", ReasonLoopback},
		{"10.1.2.3", ReasonPrivate},
		{"172.16.0.1", ReasonPrivate},
		{"172.31.255.255", ReasonPrivate},
		{"172.32.0.1", ""},
		{"192.168.1.1", ReasonPrivate},
		{"fc00::1", ReasonPrivate},
		{"fdff:ffff::1", ReasonPrivate},
		{"169.254.1.1", ReasonLinkLocal},
		{"fe80::1", ReasonLinkLocal},
		{"fe80::1%eth0", ReasonLinkLocal},
		{"100.64.0.1", ReasonCGNAT},
		{"100.127.255.255", ReasonCGNAT},
		{"100.128.0.1", ""},
		{"169.254.169.254", ReasonMetadata},
		{"fd00:ec2::254", ReasonMetadata},
		{"224.0.0.1", ReasonMulticast},
		{"ff02::1", ReasonMulticast},
		{"255.255.255.255", ReasonReserved},
		{"::ffff:127.0.0.1", ReasonLoopback},
		{"::ffff:169.254.169.254", ReasonMetadata},
		{"::ffff:8.8.8.8", ""},
		{"::127.0.0.1", ReasonLoopback},
		{"64:ff9b::7f00:1", ReasonLoopback},
		{"64:ff9b::808:808", ""},
		{"2002:7f00:1::1", ReasonLoopback},
		{"2002:0808:0808::1", ""},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.ip)
		if got := Classify(ip); got != tt.want {
			t.Errorf("Classify(%s) = %q, want %q", tt.ip, got, tt.want)
		}
		if got := Forbidden(ip); got != (tt.want != "") {
			t.Errorf("Forbidden(%s) = %v", tt.ip, got)
		}
	}
	if !Forbidden(netip.Addr{}) {
		t.Error("the zero Addr must be forbidden")
	}
}

func FuzzClassify(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1})
	f.Add(make([]byte, 16))
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		r := Classify(ip)
		if ip.Is4In6() && Classify(ip.Unmap()) != r {
			t.Fatalf("%s and its unmapped form disagree", ip)
		}
		if (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsMulticast()) && r == "" {
			t.Fatalf("%s is not forbidden", ip)
		}
	})
}
