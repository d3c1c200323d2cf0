package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The benchmark's CRM writes go to crm.tasks of the sample CRM. Each row's owner is one of
// a set of bench owners (crm.clients rows added by AddOwners), row g's being owner
// g mod owners, so that webhooks filtered on owner_id each see a known share of the rows.
// Flat-out writes run as one DO block whose loop commits every txRows rows: the server
// writes the backlog without a round trip per transaction.

// OwnerID is the id of bench owner i.
func OwnerID(i int) string { return fmt.Sprintf("c2000000-0000-4000-8000-%012d", i) }

// AddOwners adds bench owners 0 … n-1 to crm.clients (idempotent).
func AddOwners(ctx context.Context, pool *pgxpool.Pool, n int) error {
	_, err := pool.Exec(ctx, `INSERT INTO crm.clients (id, email, first_name)
		SELECT ('c2000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'bench' || g || '@example.com', 'Bench ' || g
		FROM generate_series(0, $1::int - 1) g ON CONFLICT DO NOTHING`, n)
	if err != nil {
		return fmt.Errorf("add %d bench owners: %w", n, err)
	}
	return nil
}

// insertSQL inserts the rows numbered $from … $to (written in by fmt) tagged tag.
func insertSQL(tag string, from, to, owners string) string {
	return `INSERT INTO crm.tasks (subject, owner_id, due_date, priority)
		SELECT '` + tag + ` ' || g, ('c2000000-0000-4000-8000-' || lpad((g % ` + owners + `)::text, 12, '0'))::uuid,
			DATE '2026-01-01' + (g % 365), 1 + g % 3
		FROM generate_series(` + from + `, ` + to + `) g`
}

// Insert inserts rows tasks tagged tag (an identifier-like word), txRows per transaction
// (0: all in one), owned by owners bench owners in turn, as fast as the server goes.
func Insert(ctx context.Context, pool *pgxpool.Pool, tag string, rows, txRows, owners int) error {
	if txRows <= 0 || txRows > rows {
		txRows = rows
	}
	sql := fmt.Sprintf(`DO $$ BEGIN
		FOR t IN 0 .. %[1]d LOOP
			%[2]s;
			COMMIT;
		END LOOP; END $$`, (rows-1)/txRows,
		insertSQL(tag, fmt.Sprintf("1 + t * %d", txRows), fmt.Sprintf("least((t + 1) * %d, %d)", txRows, rows), fmt.Sprint(owners)))
	if _, err := pool.Exec(ctx, sql); err != nil {
		return fmt.Errorf("insert %d rows in transactions of %d: %w", rows, txRows, err)
	}
	return nil
}

// Update updates every task tagged tag (inserted by one Insert, so with consecutive ids),
// moving its due date, txRows rows per transaction (0: all in one), and returns how many
// rows it updated. Only due_date changes: each row raises exactly one Task.Update.
func Update(ctx context.Context, pool *pgxpool.Pool, tag string, txRows int) (int, error) {
	var lo, hi, n int64
	err := pool.QueryRow(ctx, `SELECT coalesce(min(id), 0), coalesce(max(id), -1), count(*) FROM crm.tasks WHERE subject LIKE $1 || ' %'`, tag).Scan(&lo, &hi, &n)
	if err != nil {
		return 0, fmt.Errorf("find the rows to update: %w", err)
	}
	if n == 0 || hi-lo+1 != n {
		return 0, fmt.Errorf("update: the %d rows tagged %q do not have consecutive ids (%d-%d)", n, tag, lo, hi)
	}
	if txRows <= 0 || int64(txRows) > n {
		txRows = int(n)
	}
	sql := fmt.Sprintf(`DO $$ BEGIN
		FOR t IN 0 .. %[1]d LOOP
			UPDATE crm.tasks SET due_date = due_date + 1 WHERE id BETWEEN %[2]d + t * %[3]d AND least(%[2]d + (t + 1) * %[3]d - 1, %[4]d);
			COMMIT;
		END LOOP; END $$`, (n-1)/int64(txRows), lo, txRows, hi)
	if _, err := pool.Exec(ctx, sql); err != nil {
		return 0, fmt.Errorf("update %d rows in transactions of %d: %w", n, txRows, err)
	}
	return int(n), nil
}

// InsertAtRate inserts rows tasks tagged tag at rate rows per second, txRows per
// transaction, one transaction per tick; it returns when the last one committed. The
// schedule is kept from the start: a transaction late because the server was slow is
// followed at once by the next, so the rate holds on average.
func InsertAtRate(ctx context.Context, pool *pgxpool.Pool, tag string, rows, txRows, rate, owners int) error {
	if txRows <= 0 {
		txRows = 1
	}
	interval := time.Duration(float64(time.Second) * float64(txRows) / float64(rate))
	start := time.Now()
	for k, from := 0, 1; from <= rows; k, from = k+1, from+txRows {
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		to := min(from+txRows-1, rows)
		if _, err := pool.Exec(ctx, insertSQL(tag, "$1::int", "$2::int", fmt.Sprint(owners)), from, to); err != nil {
			return fmt.Errorf("insert rows %d-%d: %w", from, to, err)
		}
	}
	return nil
}
