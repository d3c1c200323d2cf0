package event

import (
	"strings"
	"testing"
)

func TestInboundMessageRoundTrip(t *testing.T) {
	call := `{"uuid":"u","body":"a\nb"}`
	id, key, got, err := ParseInboundMessage(AppendInboundMessage(nil, "c1", "webhook.a.b", []byte(call)))
	if err != nil || id != "c1" || key != "webhook.a.b" || string(got) != call {
		t.Fatalf("ParseInboundMessage = %q, %q, %q, %v", id, key, got, err)
	}
	for _, bad := range []string{"", "c1", "c1\nwebhook.a", "c1\nAccount.Create\n{}", "\nwebhook.a\n{}", "c1\nwebhook.a\n[1]", "c1\nwebhook.a\n{"} {
		if _, _, _, err := ParseInboundMessage([]byte(bad)); err == nil {
			t.Errorf("ParseInboundMessage(%q) accepted", bad)
		}
	}
}

func FuzzParseInboundMessage(f *testing.F) {
	f.Add([]byte("c1\nwebhook.a.b\n{\"x\":1}"))
	f.Add([]byte("c1\nwebhook.*\n{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, key, call, err := ParseInboundMessage(b)
		if err != nil {
			return
		}
		if id == "" || !strings.HasPrefix(key, InboundKeyRoot) || call[0] != '{' {
			t.Fatalf("accepted %q as %q %q %q", b, id, key, call)
		}
	})
}
