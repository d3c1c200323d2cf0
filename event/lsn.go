package event

import (
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
)

// LSN is a position in PostgreSQL's write-ahead log. Its text form is PostgreSQL's
// pg_lsn form, two hexadecimal halves separated by a slash ("16/B374D848"). It scans from
// and is sent to the database as pg_lsn text.
type LSN uint64

// String returns the pg_lsn form.
func (l LSN) String() string {
	return fmt.Sprintf("%X/%X", uint32(l>>32), uint32(l))
}

// ParseLSN parses the pg_lsn form.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("parse LSN %q: no slash", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("parse LSN %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("parse LSN %q: %w", s, err)
	}
	return LSN(h<<32 | l), nil
}

// Scan implements sql.Scanner for pg_lsn values read as text.
func (l *LSN) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	case nil:
		*l = 0
		return nil
	default:
		return fmt.Errorf("scan LSN: cannot scan %T", src)
	}
	v, err := ParseLSN(s)
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Value implements driver.Valuer: the pg_lsn text form.
func (l LSN) Value() (driver.Value, error) { return l.String(), nil }
