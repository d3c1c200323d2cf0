package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Inbound webhooks (DESIGN.md §13): a call received by walhook is landed in the CRM
// database's WAL as a transactional logical decoding message, and the replication reader
// turns it into an Event like any row change, so that it is matched, ordered, delivered
// and acknowledged with every guarantee of §6.
const (
	// InboundPrefix is the logical decoding message prefix of a landed inbound call. Its
	// content is written by AppendInboundMessage and read by ParseInboundMessage.
	InboundPrefix = "walhook.inbound"
	// InboundKeyRoot starts every inbound event key ("webhook.salesforce.lead.created"),
	// PIPEFORCE's recommended root group. It keeps inbound keys apart from CRM event names
	// ("<Entity>.<Action>"), so a subscription is validated without a lookup.
	InboundKeyRoot = "webhook."
	// EntityInbound is the entity of every inbound event.
	EntityInbound EntityName = "Inbound"
	// ActionReceive is the action of every inbound event; its name is the event key.
	ActionReceive Action = "Receive"
	// MaxInboundKeyBytes bounds an event key.
	MaxInboundKeyBytes = 200
)

// ErrInboundMessage wraps every error about an inbound message's content.
var ErrInboundMessage = errors.New("malformed inbound message")

// IsInboundName reports whether an event name or pattern is an inbound one: it starts
// with InboundKeyRoot.
func IsInboundName(name string) bool { return strings.HasPrefix(name, InboundKeyRoot) }

// CheckInboundKey checks an event key: InboundKeyRoot and then one or more dot-separated
// segments of letters, digits, '_' and '-'; with wildcard, a final "*" segment is allowed
// too ("webhook.salesforce.*").
func CheckInboundKey(key string, wildcard bool) error {
	if !IsInboundName(key) {
		return fmt.Errorf("must start with %q (e.g. webhook.salesforce.lead.created)", InboundKeyRoot)
	}
	if len(key) > MaxInboundKeyBytes {
		return fmt.Errorf("longer than %d bytes", MaxInboundKeyBytes)
	}
	segs := strings.Split(key, ".")
	for i, s := range segs {
		if s == "*" && wildcard && i == len(segs)-1 {
			continue
		}
		if s == "" {
			return errors.New("has an empty segment")
		}
		for _, c := range s {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				if c == '*' {
					return errors.New(`"*" only as the last segment of a pattern ("webhook.salesforce.*")`)
				}
				return fmt.Errorf("segment %q: only letters, digits, '_' and '-'", s)
			}
		}
	}
	return nil
}

// AppendInboundMessage appends the content of an inbound message: the call id, a newline,
// the event key, a newline, and the call object (JSON).
func AppendInboundMessage(dst []byte, callID, key string, call []byte) []byte {
	dst = append(dst, callID...)
	dst = append(dst, '\n')
	dst = append(dst, key...)
	dst = append(dst, '\n')
	return append(dst, call...)
}

// ParseInboundMessage reads an inbound message's content. call points into b. The content
// is outside bytes (anyone who may call pg_logical_emit_message can write one): the key is
// checked and the call must be a JSON object.
func ParseInboundMessage(b []byte) (callID, key string, call []byte, err error) {
	id, rest, ok := bytes.Cut(b, []byte{'\n'})
	if !ok || len(id) == 0 || len(id) > 64 {
		return "", "", nil, fmt.Errorf("%w: no call id", ErrInboundMessage)
	}
	k, call, ok := bytes.Cut(rest, []byte{'\n'})
	if !ok {
		return "", "", nil, fmt.Errorf("%w: no event key", ErrInboundMessage)
	}
	if err := CheckInboundKey(string(k), false); err != nil {
		return "", "", nil, fmt.Errorf("%w: event key %.64q %v", ErrInboundMessage, k, err)
	}
	if len(call) == 0 || call[0] != '{' || !json.Valid(call) {
		return "", "", nil, fmt.Errorf("%w: call of call id %.64q is not a JSON object", ErrInboundMessage, id)
	}
	return string(id), string(k), call, nil
}
