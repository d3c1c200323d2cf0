package matcher

// Timestamps and dates are compared as integers (microseconds or days since 1970-01-01)
// read straight from their text, without allocating. Accepted forms are PostgreSQL's ISO
// output ("2025-06-03 09:00:00.5+00", "2025-06-03") and RFC 3339 ("2025-06-03T09:00:00Z").
// A timestamp without an offset is taken as UTC. Years before 1 (BC) and infinity do not
// parse, and so compare with nothing.

const (
	microsPerSecond = int64(1_000_000)
	microsPerDay    = 86_400 * microsPerSecond
)

// parseDate reads YYYY-MM-DD (four or more year digits) and returns days since the epoch.
func parseDate(b []byte) (int64, bool) {
	days, n, ok := readDate(b)
	return days, ok && n == len(b)
}

// readDate reads a date at the start of b and returns the days and bytes consumed.
func readDate(b []byte) (days int64, n int, ok bool) {
	y, i := readInt(b, 0, 4, 9)
	if i < 0 || i >= len(b) || b[i] != '-' {
		return 0, 0, false
	}
	mo, i := readInt(b, i+1, 2, 2)
	if i < 0 || i >= len(b) || b[i] != '-' {
		return 0, 0, false
	}
	d, i := readInt(b, i+1, 2, 2)
	if i < 0 || y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) {
		return 0, 0, false
	}
	return daysFromCivil(y, mo, d), i, true
}

// parseTimestamp reads a date, optionally followed by ' ' or 'T', HH:MM[:SS[.fraction]]
// and an offset (Z, ±HH, ±HH:MM, ±HHMM, ±HH:MM:SS), and returns microseconds since the
// epoch in UTC. A date alone is midnight UTC.
func parseTimestamp(b []byte) (int64, bool) {
	days, i, ok := readDate(b)
	if !ok {
		return 0, false
	}
	t := days * microsPerDay
	if i == len(b) {
		return t, true
	}
	if b[i] != ' ' && b[i] != 'T' && b[i] != 't' {
		return 0, false
	}
	h, i := readInt(b, i+1, 2, 2)
	if i < 0 || i >= len(b) || b[i] != ':' {
		return 0, false
	}
	mi, i := readInt(b, i+1, 2, 2)
	if i < 0 || h > 24 || mi > 59 {
		return 0, false
	}
	t += (int64(h)*3600 + int64(mi)*60) * microsPerSecond
	if i < len(b) && b[i] == ':' {
		var s int
		if s, i = readInt(b, i+1, 2, 2); i < 0 || s > 60 {
			return 0, false
		}
		t += int64(s) * microsPerSecond
		if i < len(b) && b[i] == '.' {
			var frac int64
			if frac, i = readFraction(b, i+1); i < 0 {
				return 0, false
			}
			t += frac
		}
	}
	off, ok := readOffset(b[i:])
	if !ok {
		return 0, false
	}
	return t - off, true
}

// readFraction reads up to 9 fraction digits (more are ignored) as microseconds.
func readFraction(b []byte, i int) (int64, int) {
	start := i
	var micros int64
	for ; i < len(b) && isDigit(b[i]); i++ {
		if i-start < 6 {
			micros = micros*10 + int64(b[i]-'0')
		}
	}
	if i == start {
		return 0, -1
	}
	for n := i - start; n < 6; n++ {
		micros *= 10
	}
	return micros, i
}

// readOffset reads what follows the time: nothing, Z, or ±HH[[:]MM[[:]SS]].
func readOffset(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	if len(b) == 1 && (b[0] == 'Z' || b[0] == 'z') {
		return 0, true
	}
	if b[0] != '+' && b[0] != '-' {
		return 0, false
	}
	sign := int64(1)
	if b[0] == '-' {
		sign = -1
	}
	var secs int64
	i := 1
	for part := 0; part < 3 && i < len(b); part++ {
		if part > 0 && b[i] == ':' {
			i++
		}
		v, next := readInt(b, i, 2, 2)
		if next < 0 {
			return 0, false
		}
		secs += int64(v) * [3]int64{3600, 60, 1}[part]
		i = next
	}
	if i != len(b) || i == 1 {
		return 0, false
	}
	return sign * secs * microsPerSecond, true
}

// readInt reads between minDigits and maxDigits decimal digits at b[i:]; it returns the
// value and the index after them, or -1.
func readInt(b []byte, i, minDigits, maxDigits int) (int, int) {
	v, start := 0, i
	for i < len(b) && isDigit(b[i]) && i-start < maxDigits {
		v = v*10 + int(b[i]-'0')
		i++
	}
	if i-start < minDigits {
		return 0, -1
	}
	return v, i
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian date.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
