package uuidx

import "testing"

func TestIs(t *testing.T) {
	for s, want := range map[string]bool{
		"01234567-abcd-dcba-ffff-000000000000":          true,
		"01234567-ABCD-DCBA-FFFF-000000000000":          true,
		"0123456789abcddcbaffff000000000000":            false,
		"{01234567-abcd-dcba-ffff-000000000000}":        false,
		"urn:uuid:01234567-abcd-dcba-ffff-000000000000": false,
		"01234567-abcd-dcba-ffff-00000000000g":          false,
		"01234567_abcd-dcba-ffff-000000000000":          false,
		"":                                              false,
	} {
		if got := Is(s); got != want {
			t.Errorf("Is(%q) = %t, want %t", s, got, want)
		}
	}
}
