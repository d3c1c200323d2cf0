package matcher

import "cmp"

// decimal is an exact decimal number read from its text, without allocating: PostgreSQL
// integers, numerics ("125000.00") and floats ("1.5e+20"), and filter values written as JSON
// numbers or numeric strings. Its value is ±0.D × 10^exp, D being the significant digits.
type decimal struct {
	neg  bool
	zero bool
	// intPart and fracPart are the digits before and after the point, as written.
	intPart, fracPart []byte
	// lo and hi delimit the significant digits within intPart ++ fracPart.
	lo, hi int
	exp    int
}

// digit returns the k-th digit of intPart ++ fracPart.
func (d *decimal) digit(k int) byte {
	if k < len(d.intPart) {
		return d.intPart[k]
	}
	return d.fracPart[k-len(d.intPart)]
}

// parseDecimal reads [+-]digits[.digits][e[+-]digits]. NaN, Infinity and anything else
// fail: they compare with nothing.
func parseDecimal(b []byte) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		d.neg = b[i] == '-'
		i++
	}
	start := i
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	d.intPart = b[start:i]
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		d.fracPart = b[fs:i]
	}
	if len(d.intPart)+len(d.fracPart) == 0 {
		return d, false
	}
	e10 := 0
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			eneg = b[i] == '-'
			i++
		}
		es := i
		for i < len(b) && isDigit(b[i]) && i-es < 7 {
			e10 = e10*10 + int(b[i]-'0')
			i++
		}
		if i == es {
			return d, false
		}
		if eneg {
			e10 = -e10
		}
	}
	if i != len(b) {
		return d, false
	}
	n := len(d.intPart) + len(d.fracPart)
	d.lo = 0
	for d.lo < n && d.digit(d.lo) == '0' {
		d.lo++
	}
	if d.lo == n {
		d.zero, d.neg = true, false
		return d, true
	}
	d.hi = n
	for d.digit(d.hi-1) == '0' {
		d.hi--
	}
	d.exp = len(d.intPart) - d.lo + e10
	return d, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// cmpDecimal returns -1, 0 or +1 as a is less than, equal to or greater than b.
func cmpDecimal(a, b *decimal) int {
	sa, sb := a.sign(), b.sign()
	if sa != sb {
		return cmp.Compare(sa, sb)
	}
	if sa == 0 {
		return 0
	}
	mag := 0
	switch {
	case a.exp != b.exp:
		mag = cmp.Compare(a.exp, b.exp)
	default:
		i, j := a.lo, b.lo
		for ; i < a.hi && j < b.hi; i, j = i+1, j+1 {
			if x, y := a.digit(i), b.digit(j); x != y {
				mag = cmp.Compare(int(x), int(y))
				break
			}
		}
		if mag == 0 {
			mag = cmp.Compare(a.hi-i, b.hi-j) // the one with digits left is larger
		}
	}
	return sa * mag
}

func (d *decimal) sign() int {
	switch {
	case d.zero:
		return 0
	case d.neg:
		return -1
	}
	return 1
}
