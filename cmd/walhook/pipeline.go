package main

import (
	"context"

	"github.com/walhook/walhook/cdc"
)

// pipelineHandler is the handler "walhook run" uses: until the matcher and sender are
// wired, every transaction is acknowledged as matched by nothing.
func pipelineHandler(s *service, ack func(cdc.LSN)) (cdc.Handler, error) {
	return ackHandler{ack: ack}, nil
}

type ackHandler struct{ ack func(cdc.LSN) }

func (ackHandler) HandleEvent(context.Context, *cdc.Event) error { return nil }

func (h ackHandler) HandleCommit(_ context.Context, txn cdc.Txn) error {
	h.ack(txn.EndLSN)
	return nil
}
