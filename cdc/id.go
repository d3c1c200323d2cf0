package cdc

import (
	"strconv"

	"github.com/walhook/walhook/event"
)

// makeEventID builds "<commit LSN, 16 hex digits>-<seq>-<event name>", with one
// allocation: the id's own string (it is built on every event).
func makeEventID(commit event.LSN, seq uint32, name event.EventName) event.EventID {
	const hexDigits = "0123456789abcdef"
	var buf [64]byte
	b := buf[:16]
	for i, v := 15, uint64(commit); i >= 0; i, v = i-1, v>>4 {
		b[i] = hexDigits[v&0xF]
	}
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(seq), 10)
	b = append(b, '-')
	b = append(b, name...)
	return event.EventID(b)
}
