package event

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// SkipKeyPrefix is the prefix of the transactional logical decoding messages that the
// walhook.skip_key SQL function emits (migration 0001 spells the same string; a test checks
// it): a source recognises skip keys by it.
const SkipKeyPrefix = "walhook.skip_key"

// ApplicationName is the application_name that walhook's database sessions carry in
// pg_stat_activity (NameSession), so that a DBA tells walhook's load from the CRM's.
const ApplicationName = "walhook"

// NameSession sets application_name to name in a connection's run-time parameters, unless
// they have one already (from the connection string, or from PGAPPNAME, which pgconn's
// ParseConfig reads).
func NameSession(params map[string]string, name string) {
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = name
	}
}

// sessionParams are the session settings under which a query renders values exactly as
// the replication stream does, so that a row looks the same whether it came from the WAL or
// from a query: ISO dates (month before day when ambiguous), times in UTC, PostgreSQL's
// interval style, shortest exact floats and hex bytea.
var sessionParams = map[string]string{
	"DateStyle":          "ISO, MDY",
	"TimeZone":           "UTC",
	"IntervalStyle":      "postgres",
	"extra_float_digits": "3",
	"bytea_output":       "hex",
}

// SessionParams returns the session settings rows must be read under (a new map each
// call), as connection run-time parameters.
func SessionParams() map[string]string { return maps.Clone(sessionParams) }

// SessionSQL returns the SET statements that apply SessionParams to a session already
// open, in a stable order.
func SessionSQL() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(sessionParams)) {
		b.WriteString("SET ")
		b.WriteString(k)
		b.WriteString(" = '")
		b.WriteString(sessionParams[k])
		b.WriteString("'; ")
	}
	return strings.TrimSuffix(b.String(), " ")
}

// SessionMatches reports whether a session's reported parameters (those the server
// reports, such as DateStyle, TimeZone and IntervalStyle; status returns one) are those of
// SessionParams. extra_float_digits and bytea_output are not reported by the server, so a
// session that was not opened with SessionParams must be set with SessionSQL.
func SessionMatches(status func(name string) string) bool {
	for _, k := range []string{"DateStyle", "TimeZone", "IntervalStyle"} {
		if status(k) != sessionParams[k] {
			return false
		}
	}
	return true
}

// BackfillPrefix is the prefix of the transactional logical decoding messages a backfill
// emits (its watermarks and the rows it read, package backfill): a source hands them to a
// MessageHandler, in commit order with the changes.
const BackfillPrefix = "walhook.backfill"

// Message is a transactional logical decoding message of walhook's own (other than skip
// keys and inbound calls), as a source hands it out in commit order with the changes.
type Message struct {
	Prefix string
	// Content is the message's bytes; the receiver may keep them.
	Content    []byte
	XID        uint32
	CommitLSN  LSN
	CommitTime time.Time
	// Seq is the message's position in its transaction, counted with the row changes.
	Seq uint32
}
