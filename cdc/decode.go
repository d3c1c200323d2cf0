package cdc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

// ErrMalformed wraps every error about pgoutput bytes walhook cannot decode.
var ErrMalformed = errors.New("malformed pgoutput message")

// rawCol is one column of a TupleData, pointing into the message buffer.
type rawCol struct {
	kind byte // 'n', 'u', 't' or 'b'
	data []byte
}

// handler is what the decoder feeds: the Reader's adapter around the user's Handler.
type handler interface {
	event(ev *event.Event) error
	message(m event.Message) error
	commit(txn event.Txn) error
}

// txnState is the transaction being decoded.
type txnState struct {
	active     bool
	xid        uint32
	commitLSN  pglogrepl.LSN
	commitTime time.Time
	seq        uint32
	events     int
	skipKeys   []string
}

// decoder turns pgoutput messages into events. It keeps the relation cache and the
// transaction state; it is used by one goroutine.
type decoder struct {
	m       *mapping.Mapping
	log     *slog.Logger
	rels    map[uint32]*relation
	txn     txnState
	h       handler
	met     *metrics
	byEnt   map[event.EntityName]prometheus.Counter
	oldCols []rawCol
	newCols []rawCol
	lookups *lookups
	parents parentResolver // nil: shared-table link parents are never found
}

func newDecoder(m *mapping.Mapping, log *slog.Logger, h handler, met *metrics) *decoder {
	return &decoder{m: m, log: log, rels: make(map[uint32]*relation), h: h, met: met, byEnt: make(map[event.EntityName]prometheus.Counter), lookups: newLookups(m)}
}

// countEvent counts a raised event, caching the entity's counter.
func (d *decoder) countEvent(e event.EntityName) {
	c := d.byEnt[e]
	if c == nil {
		c = d.met.events.WithLabelValues(string(e))
		d.byEnt[e] = c
	}
	c.Inc()
}

// decode handles one pgoutput message that started at walStart. Malformed input gives an
// error naming the LSN, never a panic.
//
// Only the parsing of outside bytes is guarded (STYLE 36): parseMessage recovers from a
// panic in pglogrepl.Parse, and parseTuple checks every length itself. Deriving events and
// handing them to the handler run unguarded, so a bug there (in the matcher or the sender,
// say) is a panic or the handler's own error, never "malformed pgoutput message".
func (d *decoder) decode(walStart pglogrepl.LSN, data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("%w at %s: empty message", ErrMalformed, walStart)
	}
	var err error
	switch pglogrepl.MessageType(data[0]) {
	case pglogrepl.MessageTypeInsert, pglogrepl.MessageTypeUpdate, pglogrepl.MessageTypeDelete:
		err = d.change(data)
	default:
		err = d.other(data)
	}
	if err != nil && !errors.Is(err, errHandler) {
		return fmt.Errorf("decode message at %s: %w", walStart, err)
	}
	return err
}

// errHandler marks errors that came from the handler, which are passed through unwrapped.
var errHandler = errors.New("handler")

// errParsePanic marks a panic recovered in pglogrepl.Parse. checkLengths is meant to make
// it impossible, so FuzzDecode fails on it: it means a length check is missing.
var errParsePanic = errors.New("pgoutput parser panicked")

// parseMessage is pglogrepl.Parse behind our own length checks and a recover that covers
// only the library: Parse indexes past the end of short messages instead of failing.
func parseMessage(data []byte) (msg pglogrepl.Message, err error) {
	if err := checkLengths(data); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, fmt.Errorf("%w: %w: %v", ErrMalformed, errParsePanic, r)
		}
	}()
	msg, err = pglogrepl.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return msg, nil
}

// checkLengths walks the messages whose pglogrepl decoders read past the length they check
// (Relation, Truncate and logical decoding Message), so Parse only ever sees them whole; it
// also keeps a Truncate's relation count from sizing an allocation beyond the message.
// Parse checks the others itself.
func checkLengths(data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: empty message", ErrMalformed)
	}
	r := wireReader{b: data[1:]}
	switch pglogrepl.MessageType(data[0]) {
	case pglogrepl.MessageTypeRelation:
		r.skip(4) // relation id
		r.cstring()
		r.cstring()
		r.skip(1) // replica identity
		for n := r.uint(2); n > 0 && !r.short; n-- {
			r.skip(1) // flags
			r.cstring()
			r.skip(8) // type oid, type modifier
		}
	case pglogrepl.MessageTypeTruncate:
		n := r.uint(4)
		r.skip(1) // options
		r.skip(4 * n)
	case pglogrepl.MessageTypeMessage:
		r.skip(9) // flags, LSN
		r.cstring()
		r.skip(r.uint(4))
	}
	if r.short {
		return fmt.Errorf("%w: truncated %c message of %d bytes", ErrMalformed, data[0], len(data))
	}
	return nil
}

// wireReader walks protocol fields without decoding them; reading past the end sets short.
type wireReader struct {
	b     []byte
	short bool
}

func (r *wireReader) skip(n int) {
	if n > len(r.b) {
		r.b, r.short = nil, true
		return
	}
	r.b = r.b[n:]
}

// uint reads an n-byte big-endian unsigned integer (n ≤ 4).
func (r *wireReader) uint(n int) int {
	if n > len(r.b) {
		r.b, r.short = nil, true
		return 0
	}
	v := 0
	for _, c := range r.b[:n] {
		v = v<<8 | int(c)
	}
	r.b = r.b[n:]
	return v
}

// cstring skips a NUL-terminated string.
func (r *wireReader) cstring() {
	i := bytes.IndexByte(r.b, 0)
	if i < 0 {
		r.b, r.short = nil, true
		return
	}
	r.b = r.b[i+1:]
}

func (d *decoder) other(data []byte) error {
	msg, err := parseMessage(data)
	if err != nil {
		return err
	}
	switch msg := msg.(type) {
	case *pglogrepl.BeginMessage:
		d.txn = txnState{active: true, xid: msg.Xid, commitLSN: msg.FinalLSN, commitTime: msg.CommitTime, skipKeys: d.txn.skipKeys[:0:0]}
	case *pglogrepl.CommitMessage:
		if !d.txn.active {
			return fmt.Errorf("%w: commit without begin", ErrMalformed)
		}
		t := d.txn
		d.txn.active = false
		d.met.transaction.Inc()
		return d.h.commit(event.Txn{XID: t.xid, CommitLSN: event.LSN(t.commitLSN), CommitTime: t.commitTime, EndLSN: event.LSN(msg.TransactionEndLSN), Changes: int(t.seq), Events: t.events})
	case *pglogrepl.RelationMessage:
		d.rels[msg.RelationID] = d.newRelation(msg)
	case *pglogrepl.TruncateMessage:
		d.met.truncates.Inc()
		d.txn.seq++
		for _, id := range msg.RelationIDs {
			if rel := d.rels[id]; rel != nil {
				d.log.Warn("truncate raises no events", "table", rel.table.String(), "xid", d.txn.xid)
			}
		}
	case *pglogrepl.LogicalDecodingMessage:
		if msg.Transactional && msg.Prefix == event.SkipKeyPrefix && d.txn.active {
			d.addSkipKey(string(msg.Content))
		}
		if msg.Transactional && msg.Prefix == event.InboundPrefix && d.txn.active {
			return d.inbound(msg.Content)
		}
		if msg.Transactional && msg.Prefix == event.BackfillPrefix && d.txn.active {
			return d.message(msg.Prefix, msg.Content)
		}
	case *pglogrepl.TypeMessage, *pglogrepl.OriginMessage:
		// Types need nothing: columns of unknown types are text. Origins are not filtered.
	}
	return nil
}

// message hands a message of walhook's own on, in its place in the transaction's sequence
// (so what it raises has ids stable on replay).
func (d *decoder) message(prefix string, content []byte) error {
	d.txn.seq++
	// content points into the message buffer, which the reader reuses.
	m := event.Message{Prefix: prefix, Content: bytes.Clone(content), XID: d.txn.xid,
		CommitLSN: event.LSN(d.txn.commitLSN), CommitTime: d.txn.commitTime, Seq: d.txn.seq}
	if err := d.h.message(m); err != nil {
		return fmt.Errorf("%w: %w", errHandler, err)
	}
	return nil
}

func (d *decoder) addSkipKey(key string) {
	for _, k := range d.txn.skipKeys {
		if k == key {
			return
		}
	}
	d.txn.skipKeys = append(d.txn.skipKeys, key)
}

// change decodes an Insert, Update or Delete and derives its events.
func (d *decoder) change(data []byte) error {
	if !d.txn.active {
		return fmt.Errorf("%w: row change outside a transaction", ErrMalformed)
	}
	if len(data) < 6 {
		return fmt.Errorf("%w: short %c message", ErrMalformed, data[0])
	}
	typ := data[0]
	relID := binary.BigEndian.Uint32(data[1:5])
	rel := d.rels[relID]
	if rel == nil {
		return fmt.Errorf("%w: %c for unknown relation %d", ErrMalformed, typ, relID)
	}
	d.txn.seq++
	var err error
	d.oldCols, d.newCols = d.oldCols[:0], d.newCols[:0]
	pos := 5
	switch typ {
	case 'I':
		d.met.changeOps[0].Inc()
		if data[pos] != 'N' {
			return fmt.Errorf("%w: insert tuple type %q", ErrMalformed, data[pos])
		}
		d.newCols, _, err = parseTuple(data, pos+1, d.newCols)
	case 'U':
		d.met.changeOps[1].Inc()
		if data[pos] == 'K' || data[pos] == 'O' {
			if d.oldCols, pos, err = parseTuple(data, pos+1, d.oldCols); err != nil {
				return err
			}
		}
		if pos >= len(data) || data[pos] != 'N' {
			return fmt.Errorf("%w: update without new tuple", ErrMalformed)
		}
		d.newCols, _, err = parseTuple(data, pos+1, d.newCols)
	case 'D':
		d.met.changeOps[2].Inc()
		if data[pos] != 'K' && data[pos] != 'O' {
			return fmt.Errorf("%w: delete tuple type %q", ErrMalformed, data[pos])
		}
		d.oldCols, _, err = parseTuple(data, pos+1, d.oldCols)
	}
	if err != nil {
		return err
	}
	if n := len(rel.cols); (len(d.newCols) != 0 && len(d.newCols) != n) || (len(d.oldCols) != 0 && len(d.oldCols) != n) {
		return fmt.Errorf("%w: tuple of %d/%d columns for %s with %d", ErrMalformed, len(d.oldCols), len(d.newCols), rel.table, n)
	}
	return d.derive(rel, typ, d.oldCols, d.newCols)
}

// parseTuple parses a TupleData starting at pos, appending its columns to dst. Column data
// points into b.
func parseTuple(b []byte, pos int, dst []rawCol) ([]rawCol, int, error) {
	if pos+2 > len(b) {
		return dst, pos, fmt.Errorf("%w: truncated tuple header", ErrMalformed)
	}
	n := int(binary.BigEndian.Uint16(b[pos:]))
	pos += 2
	for i := 0; i < n; i++ {
		if pos >= len(b) {
			return dst, pos, fmt.Errorf("%w: truncated tuple at column %d", ErrMalformed, i)
		}
		c := rawCol{kind: b[pos]}
		pos++
		switch c.kind {
		case 'n', 'u':
		case 't', 'b':
			if pos+4 > len(b) {
				return dst, pos, fmt.Errorf("%w: truncated length of column %d", ErrMalformed, i)
			}
			l := int(binary.BigEndian.Uint32(b[pos:]))
			pos += 4
			if l < 0 || l > len(b)-pos {
				return dst, pos, fmt.Errorf("%w: column %d length %d exceeds message", ErrMalformed, i, l)
			}
			c.data = b[pos : pos+l : pos+l]
			pos += l
		default:
			return dst, pos, fmt.Errorf("%w: column %d has kind %q", ErrMalformed, i, c.kind)
		}
		dst = append(dst, c)
	}
	return dst, pos, nil
}
