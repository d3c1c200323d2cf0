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
	return bareStream(ctx, dsn, slot, publication, rows, nil, nil)
}

// BareLive reads a slot as BareRead does while rows are being written, and returns each
// row's latency from its transaction's commit (the commit record's timestamp) to the
// arrival of the commit message, when a consumer could first act on the row. It is the
// floor of any pgoutput consumer's commit-to-delivery latency on this machine. ready is
// closed once the slot streams.
func BareLive(ctx context.Context, dsn, slot, publication string, rows int, ready chan<- struct{}) ([]time.Duration, error) {
	latencies := make([]time.Duration, 0, rows)
	inTx := 0 // rows of the transaction being received
	_, err := bareStream(ctx, dsn, slot, publication, rows, ready, func(msg []byte) error {
		switch msg[0] {
		case 'I', 'U', 'D':
			inTx++
		case 'C':
			now := time.Now()
			c, err := pglogrepl.Parse(msg)
			if err != nil {
				return fmt.Errorf("parse commit message: %w", err)
			}
			for range inTx {
				latencies = append(latencies, now.Sub(c.(*pglogrepl.CommitMessage).CommitTime))
			}
			inTx = 0
		}
		return nil
	})
	return latencies, err
}

// openStream connects for replication and starts streaming slot (pgoutput, protocol 1,
// publication, walhook's messages included).
func openStream(ctx context.Context, dsn, slot, publication string) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse dsn: %w", err)
	}
	cfg.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect for replication: %w", err)
	}
	err = pglogrepl.StartReplication(ctx, conn, slot, 0, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + publication + "'", "messages 'true'"},
	})
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("start replication on slot %q: %w", slot, err)
	}
	return conn, nil
}

// bareStream reads slot until rows row messages arrived (and, with onMessage, their
// transaction's commit), handing every pgoutput message to onMessage when set.
func bareStream(ctx context.Context, dsn, slot, publication string, rows int, ready chan<- struct{}, onMessage func([]byte) error) (BareTiming, error) {
	var t BareTiming
	start := time.Now()
	conn, err := openStream(ctx, dsn, slot, publication)
	if err != nil {
		return t, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if ready != nil {
		close(ready)
	}
	var last pglogrepl.LSN
	for seen, open := 0, false; seen < rows || open; {
		msg, err := conn.ReceiveMessage(ctx)
		if err != nil {
			return t, fmt.Errorf("receive from slot %q after %d of %d rows: %w", slot, seen, rows, err)
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok || len(cd.Data) == 0 {
			continue
		}
		if cd.Data[0] == pglogrepl.PrimaryKeepaliveMessageByteID {
			// Answer a keepalive that asks for it, or the server ends a read longer than
			// wal_sender_timeout (a live run of a minute or more).
			if k, err := pglogrepl.ParsePrimaryKeepaliveMessage(cd.Data[1:]); err == nil && k.ReplyRequested {
				if err := pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: last}); err != nil {
					return t, fmt.Errorf("answer a keepalive on slot %q: %w", slot, err)
				}
			}
			continue
		}
		if cd.Data[0] != pglogrepl.XLogDataByteID {
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
				open = onMessage != nil
			case 'C':
				open = false
			}
			if onMessage != nil {
				if err := onMessage(xld.WALData); err != nil {
					return t, err
				}
			}
		}
		last = xld.WALStart
	}
	t.Total = time.Since(start)
	t.ServerCPU, _ = ProcessCPU(int(conn.PID()))
	_ = pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: last})
	return t, nil
}
