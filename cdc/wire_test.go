package cdc

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

// wire builds pgoutput protocol 1 messages for decoder tests.
type wire []byte

func (w wire) u8(v byte) wire    { return append(w, v) }
func (w wire) u16(v uint16) wire { return binary.BigEndian.AppendUint16(w, v) }
func (w wire) u32(v uint32) wire { return binary.BigEndian.AppendUint32(w, v) }
func (w wire) u64(v uint64) wire { return binary.BigEndian.AppendUint64(w, v) }
func (w wire) str(s string) wire { return append(append(w, s...), 0) }
func (w wire) pgTime(t time.Time) wire {
	return w.u64(uint64(t.Sub(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).Microseconds()))
}

func beginMsg(final pglogrepl.LSN, at time.Time, xid uint32) []byte {
	return wire{'B'}.u64(uint64(final)).pgTime(at).u32(xid)
}

func commitMsg(commit, end pglogrepl.LSN, at time.Time) []byte {
	return wire{'C'}.u8(0).u64(uint64(commit)).u64(uint64(end)).pgTime(at)
}

type wireCol struct {
	name string
	oid  uint32
}

func relationMsg(id uint32, schema, name string, cols []wireCol) []byte {
	w := wire{'R'}.u32(id).str(schema).str(name).u8('f').u16(uint16(len(cols)))
	for _, c := range cols {
		w = w.u8(0).str(c.name).u32(c.oid).u32(0xffffffff)
	}
	return w
}

// tuple encodes values: nil is NULL, "\x00u" is an unchanged TOAST marker.
func tuple(w wire, vals []*string) wire {
	w = w.u16(uint16(len(vals)))
	for _, v := range vals {
		switch {
		case v == nil:
			w = w.u8('n')
		case *v == "\x00u":
			w = w.u8('u')
		default:
			w = w.u8('t').u32(uint32(len(*v)))
			w = append(w, *v...)
		}
	}
	return w
}

func insertMsg(rel uint32, vals ...*string) []byte {
	return tuple(wire{'I'}.u32(rel).u8('N'), vals)
}

func updateMsg(rel uint32, old, new []*string) []byte {
	w := wire{'U'}.u32(rel)
	if old != nil {
		w = tuple(w.u8('O'), old)
	}
	return tuple(w.u8('N'), new)
}

func deleteMsg(rel uint32, old ...*string) []byte {
	return tuple(wire{'D'}.u32(rel).u8('O'), old)
}

func skipKeyMsg(key string) []byte {
	w := wire{'M'}.u8(1).u64(0).str(event.SkipKeyPrefix).u32(uint32(len(key)))
	return append(w, key...)
}

func s(v string) *string { return &v }

// recorder is a handler that keeps what the decoder hands out.
type recorder struct {
	events   []*event.Event
	commits  []event.Txn
	messages []event.Message
}

func (r *recorder) event(ev *event.Event) error { r.events = append(r.events, ev); return nil }
func (r *recorder) commit(t event.Txn) error    { r.commits = append(r.commits, t); return nil }
func (r *recorder) message(m event.Message) error {
	r.messages = append(r.messages, m)
	return nil
}

const testMappingYAML = `
entities:
  Opportunity:
    table: crm.deals
    key: id
    owner: owner_id
    discriminator: {field: kind, value: opportunity}
    soft_delete: {field: is_deleted, value: true}
    fields: {closing_date: closingDate}
    exclude: [secret]
    transitions:
      - {action: Won, field: status, to: Won}
      - {action: Move, field: step_id}
      - {action: Lost, field: status, to: Lost}
      - {action: Lost, field: notes, to: lost}
      - {action: Qualify, from: Lead}
  Lead:
    table: crm.deals
    key: id
    owner: owner_id
    discriminator: {field: kind, value: lead}
    transitions:
      - {action: BackToLead, from: Opportunity}
  Task:
    table: crm.tasks
    key: id
  TaskComment:
    table: crm.task_comments
    key: id
    events: false
links:
  - table: crm.task_comments
    action: Comment
    parent: {entity: Task, field: task_id}
    related: {entity: TaskComment}
`

// dealCols is crm.deals: id, kind, owner_id, status, step_id, "closingDate", is_deleted, secret, notes.
var dealCols = []wireCol{{"id", 20}, {"kind", 25}, {"owner_id", 2950}, {"status", 25}, {"step_id", 20},
	{"closingDate", 1082}, {"is_deleted", 16}, {"secret", 25}, {"notes", 25}}

func deal(id, kind, owner, status, step string, deleted string) []*string {
	return []*string{s(id), s(kind), s(owner), s(status), s(step), s("2026-12-01"), s(deleted), s("hunter2"), s("long notes")}
}

func newTestDecoder(tb testing.TB) (*decoder, *recorder) {
	tb.Helper()
	m, err := mapping.Parse([]byte(testMappingYAML))
	if err != nil {
		tb.Fatalf("parse test mapping: %v", err)
	}
	rec := &recorder{}
	d := newDecoder(m, discardLogger(), rec, newMetrics(nil, nil))
	for _, msg := range [][]byte{
		relationMsg(1, "crm", "deals", dealCols),
		relationMsg(2, "crm", "tasks", []wireCol{{"id", 20}, {"subject", 25}}),
		relationMsg(3, "crm", "task_comments", []wireCol{{"id", 20}, {"task_id", 20}, {"body", 25}}),
	} {
		if err := d.decode(0, msg); err != nil {
			tb.Fatalf("relation: %v", err)
		}
	}
	return d, rec
}
