package cdc

import (
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
// error naming the event.LSN, never a panic.
func (d *decoder) decode(walStart pglogrepl.LSN, data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w at %s: %v", ErrMalformed, walStart, r)
		}
	}()
	if len(data) == 0 {
		return fmt.Errorf("%w at %s: empty message", ErrMalformed, walStart)
	}
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

func (d *decoder) other(data []byte) error {
	msg, err := pglogrepl.Parse(data)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
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
	case *pglogrepl.TypeMessage, *pglogrepl.OriginMessage:
		// Types need nothing: columns of unknown types are text. Origins are not filtered.
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
