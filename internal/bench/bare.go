// Package bench is the harness behind "walhook bench": a reproducible CRM write workload,
// a loopback receiver that verifies signatures and measures commit-to-receipt latency, and
// the ceiling walhook is compared with — a bare replication read of the same changes.
package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// BareRead drains a slot with the least work possible — receive, count INSERT messages,
// no decoding — until it has seen inserts row inserts, and returns how long that took
// from the first message. It is the ceiling of any pgoutput consumer on this machine.
func BareRead(ctx context.Context, dsn, slot, publication string, inserts int) (time.Duration, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return 0, fmt.Errorf("parse dsn: %w", err)
	}
	cfg.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("connect for replication: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = pglogrepl.StartReplication(ctx, conn, slot, 0, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + publication + "'"},
	})
	if err != nil {
		return 0, fmt.Errorf("start replication on slot %q: %w", slot, err)
	}
	var start time.Time
	var last pglogrepl.LSN
	for seen := 0; seen < inserts; {
		msg, err := conn.ReceiveMessage(ctx)
		if err != nil {
			return 0, fmt.Errorf("receive: %w", err)
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok || len(cd.Data) == 0 || cd.Data[0] != pglogrepl.XLogDataByteID {
			continue
		}
		if start.IsZero() {
			start = time.Now()
		}
		xld, err := pglogrepl.ParseXLogData(cd.Data[1:])
		if err != nil {
			return 0, fmt.Errorf("parse xlogdata: %w", err)
		}
		if len(xld.WALData) > 0 && xld.WALData[0] == 'I' {
			seen++
		}
		last = xld.WALStart
	}
	elapsed := time.Since(start)
	_ = pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: last})
	return elapsed, nil
}
