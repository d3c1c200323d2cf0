// Package uuidx is walhook's one UUID check.
package uuidx

// Is reports whether s is a UUID in the 8-4-4-4-12 hexadecimal form, of any version and
// in any case (so "01234567-abcd-dcba-ffff-000000000000" is one). Webhook ids, delivery
// ids and signatures must be; other spellings (braces, "urn:uuid:", no dashes) are not.
func Is(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
