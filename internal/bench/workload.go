package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Workload is the benchmark's CRM writes: Rows task inserts in transactions of TxRows,
// at Rate rows per second (0: flat out).
type Workload struct {
	Rows   int
	TxRows int
	Rate   int
	// Tag marks the rows (their subject), so phases can be told apart.
	Tag string
}

// Write runs the workload and returns when every transaction has committed.
func (w Workload) Write(ctx context.Context, pool *pgxpool.Pool) error {
	if w.TxRows <= 0 {
		w.TxRows = 100
	}
	var tick *time.Ticker
	if w.Rate > 0 {
		interval := time.Duration(float64(time.Second) * float64(w.TxRows) / float64(w.Rate))
		tick = time.NewTicker(max(interval, time.Millisecond))
		defer tick.Stop()
	}
	for from := 1; from <= w.Rows; from += w.TxRows {
		to := min(from+w.TxRows-1, w.Rows)
		_, err := pool.Exec(ctx, `INSERT INTO crm.tasks (subject, owner_id, due_date, priority)
			SELECT $1 || g, '9900cce6-bcd6-412a-bcd1-1904556c949a', DATE '2026-01-01' + (g % 365), 1 + g % 3
			FROM generate_series($2::int, $3::int) g`, w.Tag+" ", from, to)
		if err != nil {
			return fmt.Errorf("write rows %d-%d: %w", from, to, err)
		}
		if tick != nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
	}
	return nil
}
