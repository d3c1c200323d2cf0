package event

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/walhook/walhook/internal/jsonx"
)

// Action is the part of an event name after the dot, such as "Create" or "Won".
type Action string

// The actions every source raises. Transitions name theirs in the mapping (Move, Won,
// Lost, Qualify, BackToLead, or any other word).
const (
	ActionCreate         Action = "Create"
	ActionUpdate         Action = "Update"
	ActionDelete         Action = "Delete"
	ActionOwnerChanged   Action = "OwnerChanged"
	ActionDocumentLinked Action = "DocumentLinked"
	ActionComment        Action = "Comment"
	// ActionBackfill is a row's current state sent by a backfill (DESIGN.md §14): not a
	// change, and meant for one webhook only (Event.Target).
	ActionBackfill Action = "Backfill"
)

// EntityName is an entity's API name: "Account", "Opportunity", "CE_Bid".
type EntityName string

// EventName is "<Entity>.<Action>", with "CustomEntity" as the entity of custom entities:
// "Opportunity.Won", "CustomEntity.Create".
type EventName string

// EventID identifies one event: unique per change and event name, and identical when the
// same change is replayed from the slot. It is built from the transaction's commit LSN, the
// change's position in the transaction and the event name.
type EventID string

// Field is one field of a row: its API name and value.
type Field struct {
	Name  string
	Value Value
}

// Row is an entity body: the mapped, non-excluded columns of a table row in column order,
// under their API names.
type Row []Field

// Get returns the named field's value and whether the row has that field.
func (r Row) Get(name string) (Value, bool) {
	for i := range r {
		if r[i].Name == name {
			return r[i].Value, true
		}
	}
	return Value{}, false
}

// AppendJSON appends the row as a JSON object in column order.
func (r Row) AppendJSON(dst []byte) []byte {
	if r == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	for i := range r {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(dst, r[i].Name)
		dst = append(dst, ':')
		dst = r[i].Value.AppendJSON(dst)
	}
	return append(dst, '}')
}

// Related is the secondary entity of a link event: the document of a DocumentLinked, the
// comment of a Comment.
type Related struct {
	Entity EntityName
	// ID is the related row's key as text.
	ID string
	// Row is the related row when the change carried it (a comment is the link row
	// itself); nil when it must be loaded by key (a linked document).
	Row Row
}

// Event is one entity event raised by a row change. Events are immutable once handed to
// a consumer and may be shared between goroutines.
type Event struct {
	ID     EventID
	Name   EventName
	Entity EntityName
	Action Action
	// Custom is true for custom entities (Name is "CustomEntity.<Action>").
	Custom bool
	// Table is the table the change came from, as schema.name ("crm.meetings"): an entity
	// mapped over several tables (meetings and calls as Appointment) is told apart by it.
	// For a link event it is the link table.
	Table string
	// EntityID is the entity's key as text ("42", a UUID, …).
	EntityID string
	// CommitLSN is the LSN of the transaction's commit record; CommitTime its time.
	CommitLSN  LSN
	CommitTime time.Time
	XID        uint32
	// Seq is the change's position in its transaction, from 1.
	Seq uint32
	// New is the row after the change; nil for a real DELETE and for link events, whose
	// parent row is not in the change.
	New Row
	// Old is the row before the change; nil for INSERT and for link events.
	Old Row
	// Changed lists the API names of the fields an UPDATE changed (old vs new).
	Changed []string
	// Related is set for link events (DocumentLinked, Comment).
	Related *Related
	// Link is the inserted link row of a link event.
	Link Row
	// SkipKeys are the skip keys the transaction emitted before this change.
	SkipKeys []string
	// Data is the body of an event that carries its own (an inbound call: the call object
	// of DESIGN.md §13), rendered as the item's data as it is; nil for row events, whose
	// body is New or Old.
	Data json.RawMessage
	// OrderKey, when set, replaces EntityID as what orders the entity's events: events
	// with the same Entity and OrderKey are delivered in commit order (inbound calls:
	// the inbound webhook's uuid, so each call has its own id but calls of one inbound
	// webhook keep their order).
	OrderKey string
	// Target, when set, is the id of the only webhook the event is for (a backfill row): it
	// is offered to that webhook alone, whatever the webhook's event subscription, and its
	// entity filters still apply.
	Target string
}

// Txn describes a committed transaction once all its events have been handed out.
type Txn struct {
	XID        uint32
	CommitLSN  LSN
	CommitTime time.Time
	// EndLSN is the end of the commit record: the position to acknowledge once every event
	// of the transaction is delivered or durably queued.
	EndLSN LSN
	// Changes counts the row changes decoded; Events the events raised.
	Changes int
	Events  int
}

// MakeID builds an event id from the change's place in the stream: "<commit LSN, 16 hex
// digits>-<seq>-<name>", or, for the part-th of several events one message raises (a
// backfill chunk's rows; part ≥ 0), "<commit LSN>-<seq>.<part>-<name>". A replay of the
// same change builds the same id.
func MakeID(commit LSN, seq uint32, part int, name EventName) EventID {
	b := make([]byte, 0, 16+1+10+1+10+1+len(name))
	s := strconv.FormatUint(uint64(commit), 16)
	for i := len(s); i < 16; i++ {
		b = append(b, '0')
	}
	b = append(b, s...)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(seq), 10)
	if part >= 0 {
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(part), 10)
	}
	b = append(b, '-')
	b = append(b, name...)
	return EventID(b)
}
