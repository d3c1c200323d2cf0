// Package bench is the harness behind "walhook bench": reproducible CRM write workloads,
// a receiver process that verifies every signature and measures commit-to-receipt
// latency, the measurements of walhook running in the bench's own process (peak RSS, CPU,
// chunks queued), and the ceiling walhook is compared with — a bare replication read of
// the same changes.
package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// BareTiming is how long a bare read took.
type BareTiming struct {
	// Total runs from connecting to the last row message, like walhook's time, which runs
	// from its start to the last receipt: both include the server decoding the backlog
	// (a transaction is sent only once its commit is decoded).
	Total time.Duration
	// FirstMessage is when, within Total, the first row message arrived.
	FirstMessage time.Duration
	// ServerCPU is the CPU time its WAL sender used (0 when it cannot be read).
	ServerCPU time.Duration
}

// BareRead drains a slot with the least work possible — receive, count row messages
// (INSERT, UPDATE, DELETE), no decoding — until it has seen rows of them. It is the
// ceiling of any pgoutput consumer on this machine: the same protocol options as
// walhook's reader, nothing done with the rows.
func BareRead(ctx context.Context, dsn, slot, publication string, rows int) (BareTiming, error) {
	var t BareTiming
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return t, fmt.Errorf("parse dsn: %w", err)
	}
	cfg.RuntimeParams["replication"] = "database"
	start := time.Now()
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return t, fmt.Errorf("connect for replication: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = pglogrepl.StartReplication(ctx, conn, slot, 0, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + publication + "'", "messages 'true'"},
	})
	if err != nil {
		return t, fmt.Errorf("start replication on slot %q: %w", slot, err)
	}
	var last pglogrepl.LSN
	for seen := 0; seen < rows; {
		msg, err := conn.ReceiveMessage(ctx)
		if err != nil {
			return t, fmt.Errorf("receive from slot %q after %d of %d rows: %w", slot, seen, rows, err)
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok || len(cd.Data) == 0 || cd.Data[0] != pglogrepl.XLogDataByteID {
			continue
		}
		xld, err := pglogrepl.ParseXLogData(cd.Data[1:])
		if err != nil {
			return t, fmt.Errorf("parse xlogdata: %w", err)
		}
		if len(xld.WALData) > 0 {
			switch xld.WALData[0] {
			case 'I', 'U', 'D':
				if seen == 0 {
					t.FirstMessage = time.Since(start)
				}
				seen++
			}
		}
		last = xld.WALStart
	}
	t.Total = time.Since(start)
	t.ServerCPU, _ = ProcessCPU(int(conn.PID()))
	_ = pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: last})
	return t, nil
}
