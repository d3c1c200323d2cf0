package cdc

import (
	"github.com/walhook/walhook/event"
)

// inbound raises the event of a landed inbound call (an event.InboundPrefix message, see
// package inbound): named by its event key, entity event.EntityInbound, entity id the call
// id, the call object as its Data. It takes a place in the transaction's sequence like a
// row change, so its id is stable on replay. A message that does not parse raises nothing
// and is logged: only walhook writes that prefix, and one bad message must not stop the
// reader for every other event.
func (d *decoder) inbound(content []byte) error {
	callID, key, call, err := event.ParseInboundMessage(content)
	if err != nil {
		d.log.Error("inbound message raises no event", "xid", d.txn.xid, "err", err)
		return nil
	}
	d.txn.seq++
	// content points into the message buffer, which the reader reuses: copy what the event keeps.
	data := make([]byte, len(call))
	copy(data, call)
	ev := &event.Event{
		Name:       event.EventName(key),
		Entity:     event.EntityInbound,
		Action:     event.ActionReceive,
		EntityID:   callID,
		CommitLSN:  event.LSN(d.txn.commitLSN),
		CommitTime: d.txn.commitTime,
		XID:        d.txn.xid,
		Seq:        d.txn.seq,
		Data:       data,
		OrderKey:   inboundOrderKey(data),
		SkipKeys:   d.txn.skipKeys[:len(d.txn.skipKeys):len(d.txn.skipKeys)],
	}
	return d.hand(ev)
}

// inboundOrderKey returns the call object's "uuid" (the inbound webhook), which orders
// its calls; package inbound writes it as the object's first member.
func inboundOrderKey(call []byte) string {
	const lead = `{"uuid":"`
	if len(call) < len(lead)+36+1 || string(call[:len(lead)]) != lead || call[len(lead)+36] != '"' {
		return ""
	}
	return string(call[len(lead) : len(lead)+36])
}
