package cdc

import (
	"strconv"

	"github.com/walhook/walhook/event"
)

// makeEventID builds "<commit LSN, 16 hex digits>-<seq>-<event name>".
func makeEventID(commit event.LSN, seq uint32, name event.EventName) event.EventID {
	b := make([]byte, 0, 16+1+10+1+len(name))
	s := strconv.FormatUint(uint64(commit), 16)
	for i := len(s); i < 16; i++ {
		b = append(b, '0')
	}
	b = append(b, s...)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(seq), 10)
	b = append(b, '-')
	b = append(b, name...)
	return event.EventID(b)
}
