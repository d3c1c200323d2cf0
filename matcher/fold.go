package matcher

import (
	"cmp"
	"unicode"
	"unicode/utf8"
)

// Case-insensitive matching for the contains, starts and ends filter operators: Unicode
// simple case folding, rune by rune, without allocating (the folded forms of a letter may
// differ in byte length, as K and the Kelvin sign do).

// prefixFold reports whether s starts with prefix, ignoring case, and how many bytes of s
// the match took.
func prefixFold(s []byte, prefix string) (int, bool) {
	i := 0
	for j := 0; j < len(prefix); {
		if i >= len(s) {
			return 0, false
		}
		r1, n1 := utf8.DecodeRune(s[i:])
		r2, n2 := utf8.DecodeRuneInString(prefix[j:])
		if !equalFoldRune(r1, r2) {
			return 0, false
		}
		i, j = i+n1, j+n2
	}
	return i, true
}

func containsFold(s []byte, sub string) bool {
	for i := 0; i <= len(s); {
		if _, ok := prefixFold(s[i:], sub); ok {
			return true
		}
		if i == len(s) {
			break
		}
		_, n := utf8.DecodeRune(s[i:])
		i += n
	}
	return false
}

func suffixFold(s []byte, suffix string) bool {
	for i := 0; i <= len(s); {
		if n, ok := prefixFold(s[i:], suffix); ok && i+n == len(s) {
			return true
		}
		if i == len(s) {
			break
		}
		_, n := utf8.DecodeRune(s[i:])
		i += n
	}
	return false
}

func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	if a < utf8.RuneSelf && b < utf8.RuneSelf {
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		return a == b
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// cmpFoldASCII compares a and b byte by byte with ASCII letters lower-cased (UUID text).
func cmpFoldASCII(a []byte, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := lowerASCII(a[i]), lowerASCII(b[i])
		if x != y {
			return cmp.Compare(int(x), int(y))
		}
	}
	return cmp.Compare(len(a), len(b))
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
