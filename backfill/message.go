package backfill

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// The messages a backfill emits (prefix event.BackfillPrefix). Each is one transactional
// logical decoding message; its first byte says which:
//
//	'L' + JSON {"b": backfill id, "w": window, "e": entity}  the low watermark of a window
//	'C' + JSON header + '\n' + rows                           a chunk: the high watermark
//	'E' + JSON {"b": backfill id}                              the backfill ended
//
// A chunk's rows follow its header in a compact binary form, so that any bytes a column
// holds pass unchanged: per row the row's xmin (uvarint), then the key values, then the
// field values, each a uvarint of its length plus one (0 for NULL) and its bytes, all in
// PostgreSQL's text format.
const (
	kindLow   = 'L'
	kindChunk = 'C'
	kindEnd   = 'E'
)

// ErrMessage wraps every error about a backfill message's content.
var ErrMessage = errors.New("malformed backfill message")

// mark is the content of a low watermark or an end message.
type mark struct {
	Backfill string `json:"b"`
	Window   int64  `json:"w,omitempty"`
	Entity   string `json:"e,omitempty"`
}

// header describes a chunk's rows.
type header struct {
	Backfill string `json:"b"`
	Webhook  string `json:"wh"`
	Window   int64  `json:"w"`
	Entity   string `json:"e"`
	// Table is the table read, as schema.name.
	Table string `json:"t"`
	// Keys are the key columns; Fields the API names and OIDs of the fields sent.
	Keys   []string `json:"k"`
	Fields []string `json:"f"`
	OIDs   []uint32 `json:"o"`
	// Reread marks a chunk of rows read again (rechecks), not the next rows of the scan.
	Reread bool `json:"r,omitempty"`
	// Xip are the transactions in progress in the snapshot the rows were read in (32-bit
	// xids, as the stream names them).
	Xip []uint32 `json:"x,omitempty"`
	// Filter is the backfill's filter, in the options' syntax (null for none).
	Filter json.RawMessage `json:"filter,omitempty"`
}

// row is one row of a chunk.
type row struct {
	xmin   uint64
	keys   [][]byte
	fields [][]byte
}

func appendMark(kind byte, m mark) []byte {
	b, _ := json.Marshal(m) // a struct of strings and ints always encodes
	return append([]byte{kind}, b...)
}

// appendChunk encodes a chunk message.
func appendChunk(h *header, rows []row) ([]byte, error) {
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode chunk header: %w", err)
	}
	size := 2 + len(hb)
	for _, r := range rows {
		size += binary.MaxVarintLen64
		for _, v := range r.keys {
			size += len(v) + binary.MaxVarintLen32
		}
		for _, v := range r.fields {
			size += len(v) + binary.MaxVarintLen32
		}
	}
	b := make([]byte, 0, size)
	b = append(b, kindChunk)
	b = append(b, hb...)
	b = append(b, '\n')
	for _, r := range rows {
		b = binary.AppendUvarint(b, r.xmin)
		for _, v := range r.keys {
			b = appendValue(b, v)
		}
		for _, v := range r.fields {
			b = appendValue(b, v)
		}
	}
	return b, nil
}

func appendValue(b, v []byte) []byte {
	if v == nil {
		return binary.AppendUvarint(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(v))+1)
	return append(b, v...)
}

// parseMark parses a low watermark or end message's content (after the kind byte).
func parseMark(content []byte) (mark, error) {
	var m mark
	if err := json.Unmarshal(content, &m); err != nil || m.Backfill == "" {
		return m, fmt.Errorf("%w: bad mark %.80q", ErrMessage, content)
	}
	return m, nil
}

// parseChunk parses a chunk message's content (after the kind byte). The rows' values
// point into content.
func parseChunk(content []byte) (*header, []row, error) {
	nl := -1
	for i, c := range content {
		if c == '\n' {
			nl = i
			break
		}
	}
	if nl < 0 {
		return nil, nil, fmt.Errorf("%w: chunk without a header line", ErrMessage)
	}
	h := &header{}
	if err := json.Unmarshal(content[:nl], h); err != nil {
		return nil, nil, fmt.Errorf("%w: chunk header: %w", ErrMessage, err)
	}
	if h.Backfill == "" || h.Webhook == "" || h.Entity == "" || len(h.Keys) == 0 || len(h.Fields) != len(h.OIDs) {
		return nil, nil, fmt.Errorf("%w: incomplete chunk header %.200q", ErrMessage, content[:nl])
	}
	b := content[nl+1:]
	var rows []row
	for len(b) > 0 {
		var r row
		x, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, nil, fmt.Errorf("%w: row %d: bad xmin", ErrMessage, len(rows))
		}
		r.xmin, b = x, b[n:]
		var err error
		if r.keys, b, err = readValues(b, len(h.Keys)); err != nil {
			return nil, nil, fmt.Errorf("%w: row %d key: %w", ErrMessage, len(rows), err)
		}
		if r.fields, b, err = readValues(b, len(h.Fields)); err != nil {
			return nil, nil, fmt.Errorf("%w: row %d: %w", ErrMessage, len(rows), err)
		}
		rows = append(rows, r)
	}
	return h, rows, nil
}

func readValues(b []byte, n int) ([][]byte, []byte, error) {
	vs := make([][]byte, n)
	for i := range vs {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k)+1 {
			return nil, nil, fmt.Errorf("value %d: bad length", i)
		}
		b = b[k:]
		if l == 0 {
			continue
		}
		vs[i], b = b[:l-1:l-1], b[l-1:]
	}
	return vs, b, nil
}
