package seal

import (
	"errors"
	"strings"
	"testing"
)

const key = "0123456789abcdef0123456789abcdef"

func TestSealOpenRoundTrip(t *testing.T) {
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal("signature", "c4a5e000-0000-4000-8000-00000000c4a5")
	if !strings.HasPrefix(sealed, Prefix) || strings.Contains(sealed, "c4a5e000") {
		t.Fatalf("sealed value %q is not sealed", sealed)
	}
	if again := s.Seal("signature", "c4a5e000-0000-4000-8000-00000000c4a5"); again == sealed {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	got, err := s.Open("signature", sealed)
	if err != nil || got != "c4a5e000-0000-4000-8000-00000000c4a5" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open("http_auth_password", sealed); !errors.Is(err, ErrOpen) {
		t.Errorf("a value sealed for signature opened as http_auth_password: %v", err)
	}
	other, _ := New(strings.Repeat("x", 40))
	if _, err := other.Open("signature", sealed); !errors.Is(err, ErrOpen) {
		t.Errorf("another key opened the value: %v", err)
	}
	var none *Sealer
	if _, err := none.Open("signature", sealed); !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), "WALHOOK_SECRET_KEY") {
		t.Errorf("without a key: %v, want an error naming WALHOOK_SECRET_KEY", err)
	}
	if got, err := none.Open("signature", "plain"); err != nil || got != "plain" {
		t.Errorf("plain values pass through: %q, %v", got, err)
	}
	if none.Seal("signature", "plain") != "plain" || s.Seal("signature", "") != "" {
		t.Error("a nil sealer or an empty value must not seal")
	}
}

func TestShortKeyRefused(t *testing.T) {
	if _, err := New("short"); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("New(short) = %v", err)
	}
}
