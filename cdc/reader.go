package cdc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

// Handler consumes the reader's output. Both methods are called on the reader's goroutine,
// in commit order; either may block to apply backpressure (the reader then stops reading,
// so memory stays bounded), and an error from either ends the replication session.
type Handler interface {
	// HandleEvent receives each event as it is decoded, before its transaction's commit
	// is known to the handler (transactions are only streamed once committed, so every
	// event belongs to a committed transaction).
	HandleEvent(ctx context.Context, ev *event.Event) error
	// HandleCommit marks the end of txn: all its events have been passed to HandleEvent.
	// The reader has registered txn.EndLSN as pending before the call, so Reader.Ack may
	// be called with it synchronously, from inside HandleCommit, or later from any
	// goroutine.
	HandleCommit(ctx context.Context, txn event.Txn) error
}

// MessageHandler is implemented by a Handler that takes walhook's own transactional logical
// decoding messages besides skip keys and inbound calls: those with prefix
// event.BackfillPrefix. HandleMessage receives each in commit order with the events of its
// transaction, before the transaction's HandleCommit. A Handler without it never sees them.
type MessageHandler interface {
	HandleMessage(ctx context.Context, m event.Message) error
}

// Resyncer is implemented by a Handler whose state mirrors the database (the webhook set)
// and must be re-read whenever a session starts: after a reconnect, a takeover or a
// replaced database, changes it was notified of may have been missed, or read from a
// database half-way through a restore. Resync runs after START_REPLICATION and before the
// first event; its error ends the session, which is retried.
type Resyncer interface {
	Resync(ctx context.Context) error
}

// Config configures a Reader. Zero values mean the defaults.
type Config struct {
	// ConnString is the CRM database's connection string (a URL or key=value DSN); the
	// reader adds replication=database itself.
	ConnString  string
	Slot        string
	Publication string
	Mapping     *mapping.Mapping
	// StandbyInterval is the longest time between standby status updates (default 10s);
	// one is also sent at once when the server asks.
	StandbyInterval time.Duration
	// ConfirmDelay is how long acknowledgements are coalesced before the advanced
	// position is confirmed to the server (default 100ms), so that a crash replays about
	// what was in flight rather than a whole StandbyInterval of history.
	ConfirmDelay time.Duration
	// ReconnectBackoff is the first wait before reconnecting (default 1s), doubled up to
	// 30s while connecting keeps failing.
	ReconnectBackoff time.Duration
	Logger           *slog.Logger
	Registerer       prometheus.Registerer
	// AfterNetConnect, when set, wraps the replication connection (fault injection in
	// tests).
	AfterNetConnect func(ctx context.Context, cfg *pgconn.Config, conn net.Conn) (net.Conn, error)
}

// Reader streams a logical replication slot and turns its changes into entity events.
//
// One goroutine (Run's) owns the replication connection: it receives, decodes, calls the
// Handler and sends standby status updates. The slot's confirmed event.LSN is the low-water mark
// of acknowledged transactions (see Ack); between transactions, when nothing is pending,
// server keepalives advance it, so idle mapped tables never pin WAL.
type Reader struct {
	cfg   Config
	log   *slog.Logger
	met   *metrics
	track tracker

	serverEnd atomic.Uint64
	// health is the reader's standing problem (a lost slot), or holds a nil error.
	health atomic.Pointer[error]

	// Run's goroutine only.
	origin     origin        // the server the remembered position came from
	lastSent   pglogrepl.LSN // the position of the last standby status update
	lastSentAt time.Time
	lookups    *lookups // transition lookups, read at each session's start
}

// New returns a Reader. It does no I/O. Its Ack may be handed to the consumer before Run
// starts, so the consumer and the reader can be built without a cycle.
func New(cfg Config) (*Reader, error) {
	if cfg.Mapping == nil {
		return nil, errors.New("cdc: config has no mapping")
	}
	if cfg.Slot == "" || cfg.Publication == "" {
		return nil, errors.New("cdc: config needs a slot and a publication")
	}
	if _, err := pgconn.ParseConfig(cfg.ConnString); err != nil {
		return nil, fmt.Errorf("cdc: parse connection string: %w", err)
	}
	if cfg.StandbyInterval <= 0 {
		cfg.StandbyInterval = 10 * time.Second
	}
	if cfg.ReconnectBackoff <= 0 {
		cfg.ReconnectBackoff = time.Second
	}
	if cfg.ConfirmDelay <= 0 {
		cfg.ConfirmDelay = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Reader{cfg: cfg, log: cfg.Logger.With("slot", cfg.Slot), met: newMetrics(cfg.Registerer, cfg.Mapping)}
	r.met.setState(StateStopped)
	return r, nil
}

// Ack marks the transaction that ended at end (event.Txn.EndLSN) as delivered, durably queued or
// matched by nothing. Safe for concurrent use; acks may come in any order.
func (r *Reader) Ack(end event.LSN) { r.track.ack(pglogrepl.LSN(end)) }

// Confirmed returns the event.LSN the reader will confirm at its next standby status update.
func (r *Reader) Confirmed() pglogrepl.LSN {
	lsn, _, _ := r.track.state()
	return lsn
}

// Health returns the reader's standing problem, or nil: a lost slot (wrapping
// ErrSlotLost, naming the slot, the cause and the fix) until a session streams again.
// Safe for concurrent use; /readyz fails while it is not nil.
func (r *Reader) Health() error {
	if p := r.health.Load(); p != nil {
		return *p
	}
	return nil
}

func (r *Reader) setHealth(err error) { r.health.Store(&err) }

// Run streams until ctx is done, reconnecting after connection errors with backoff. While
// another instance holds the slot it waits as a standby and takes over when the slot is
// free. A lost or missing slot is reported (Health, an ERROR; a lost one also in the
// reader state) and retried with backoff, so the reader goes on by itself once "walhook
// setup" has made it. Run returns nil when ctx ends, or the first error that retrying
// cannot fix (an undecodable message, a missing publication, a Handler error).
func (r *Reader) Run(ctx context.Context, h Handler) error {
	defer r.met.setState(StateStopped)
	backoff := r.cfg.ReconnectBackoff
	var lastLog time.Time
	for {
		r.met.setState(StateConnecting)
		streamed, err := r.session(ctx, h)
		if ctx.Err() != nil {
			return nil
		}
		if permanent(err) {
			return err
		}
		if streamed {
			backoff = r.cfg.ReconnectBackoff
		}
		r.sessionEnded(err, backoff, &lastLog)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// sessionEnded sets the reader's state, health and metrics after a session ended with
// err, and logs it.
func (r *Reader) sessionEnded(err error, backoff time.Duration, lastLog *time.Time) {
	if errors.Is(err, ErrSlotLost) {
		// Loud every time: nothing is read until an operator recreates the slot. The lag
		// gauge was set by the session from the slot's row.
		r.met.setState(StateSlotLost)
		r.met.lagSeconds.Set(0)
		r.setHealth(err)
		r.log.Error("replication slot lost; nothing can be read until it is recreated", "retry_in", backoff.String(), "err", err)
		return
	}
	if errors.Is(err, errNoSlot) {
		// The slot was dropped, or the database replaced, under a running walhook: loud,
		// and retried, since "walhook setup" fixes it while walhook runs.
		r.setHealth(err)
		r.log.Error("replication slot missing; retrying until it exists", "retry_in", backoff.String(), "err", err)
	}
	state := StateConnecting
	if isSlotBusy(err) {
		state = StateStandby
	} else {
		r.met.reconnects.Inc()
	}
	r.met.setState(state)
	// Not streaming: the lag gauges would otherwise keep the last session's values.
	r.met.lagBytes.Set(0)
	r.met.lagSeconds.Set(0)
	if time.Since(*lastLog) > 30*time.Second || state == StateConnecting {
		r.log.Warn("replication session ended; retrying", append([]any{"state", state, "backoff", backoff.String()}, errAttrs(err)...)...)
		*lastLog = time.Now()
	}
}

// errAttrs logs err with the server's DETAIL and HINT, which PgError.Error leaves out.
func errAttrs(err error) []any {
	attrs := []any{"err", err}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Detail != "" {
			attrs = append(attrs, "detail", pgErr.Detail)
		}
		if pgErr.Hint != "" {
			attrs = append(attrs, "hint", pgErr.Hint)
		}
	}
	return attrs
}

// permanent reports errors that retrying does not fix.
func permanent(err error) bool {
	if errors.Is(err, errNoSlot) {
		return false // setup recreates it while walhook runs
	}
	if errors.Is(err, ErrMalformed) || errors.Is(err, errHandler) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "42704", "42P01": // undefined object (slot, publication), undefined table
			return true
		}
	}
	return false
}

func isSlotBusy(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55006" // object_in_use
}

// connect opens a replication connection with the session settings the decoder relies on.
func (r *Reader) connect(ctx context.Context) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(r.cfg.ConnString)
	if err != nil {
		return nil, fmt.Errorf("parse connection string: %w", err)
	}
	cfg.RuntimeParams["replication"] = "database"
	cfg.RuntimeParams["application_name"] = event.ApplicationName
	// Rows from the WAL are rendered as text under these settings, like rows read by query.
	maps.Copy(cfg.RuntimeParams, event.SessionParams())
	// A 1 MiB read buffer: with pgconn's default buffering, loopback runs stalled for
	// 200 ms about one time in five.
	cfg.BuildFrontend = func(rd io.Reader, w io.Writer) *pgproto3.Frontend {
		return pgproto3.NewFrontend(bufio.NewReaderSize(rd, 1<<20), w)
	}
	cfg.AfterNetConnect = r.cfg.AfterNetConnect
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect for replication: %w", err)
	}
	return conn, nil
}

// session runs one replication session; streamed reports whether it got as far as
// streaming.
//
// It always starts from the slot's own confirmed position, never from the position this
// instance remembers: the slot is what the server will keep, and a remembered position
// may belong to another server (a restored or replaced database, a failover) or to a slot
// that was recreated, where starting from it would skip changes silently. Since the
// confirmed position is reported promptly (Config.ConfirmDelay), this replays only what
// was in flight.
func (r *Reader) session(ctx context.Context, h Handler) (streamed bool, err error) {
	conn, err := r.connect(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	sys, err := pglogrepl.IdentifySystem(ctx, conn)
	if err != nil {
		return false, fmt.Errorf("identify system: %w", err)
	}
	slot, err := readSlot(ctx, conn, r.cfg.Slot)
	if err != nil {
		return false, err
	}
	if slot.walStatus == "lost" {
		r.met.lagBytes.Set(float64(lagOf(slot.serverEnd, slot.confirmed)))
		return false, lostError(r.cfg.Slot, slot)
	}
	r.lookups = newLookups(r.cfg.Mapping)
	if err := r.lookups.load(ctx, conn); err != nil {
		return false, err
	}
	now := origin{system: sys.SystemID, timeline: sys.Timeline}
	r.logResume(r.Confirmed(), now, slot)
	err = pglogrepl.StartReplication(ctx, conn, r.cfg.Slot, slot.confirmed, pglogrepl.StartReplicationOptions{
		PluginArgs: pluginArgs(r.cfg.Publication),
	})
	if err != nil {
		if isLostAtStart(err) {
			return false, lostError(r.cfg.Slot, slot)
		}
		if isUndefinedObject(err) {
			// The slot was dropped since readSlot: retried like a missing one.
			return false, fmt.Errorf("%w: replication slot %q does not exist (dropped while connecting): %w; run \"walhook setup\"", errNoSlot, r.cfg.Slot, err)
		}
		return false, fmt.Errorf("start replication on slot %q: %w", r.cfg.Slot, err)
	}
	if rs, ok := h.(Resyncer); ok {
		if err := rs.Resync(ctx); err != nil {
			return false, fmt.Errorf("resync the handler before streaming: %w", err)
		}
	}
	r.origin = now
	r.serverEnd.Store(uint64(slot.serverEnd)) // this server's, not a replaced one's
	r.track.restart(slot.confirmed)
	r.lastSent, r.lastSentAt = slot.confirmed, time.Now()
	r.setHealth(nil)
	r.met.setState(StateStreaming)
	r.log.Info("replication started", "from", slot.confirmed.String(), "server_wal", sys.XLogPos.String(),
		"timeline", sys.Timeline, "system", sys.SystemID)
	err = r.stream(ctx, conn, h)
	if ctx.Err() != nil {
		// Shutting down: confirm what is done so a restart replays as little as possible.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		r.sendStatus(fctx, conn)
		return true, nil
	}
	return true, err
}

// logResume says where a session resumes when that is not where this instance had got
// to: loudly when the remembered position is not valid on this server.
func (r *Reader) logResume(remembered pglogrepl.LSN, now origin, slot slotInfo) {
	if reason := resumeReason(remembered, r.origin, now, slot); reason != "" {
		r.met.positionResets.Inc()
		r.log.Error("the position this instance remembers is not valid on this server; resuming from the slot's confirmed position",
			"reason", reason, "remembered", remembered.String(), "resume_from", slot.confirmed.String(), "server_wal", slot.serverEnd.String())
		return
	}
	if remembered > slot.confirmed {
		r.log.Info("resuming from the slot's confirmed position; acknowledged changes after it are replayed",
			"remembered", remembered.String(), "resume_from", slot.confirmed.String(), "replayed_bytes", uint64(remembered-slot.confirmed))
	}
}

// pluginArgs pins the pgoutput options in one place: protocol 1 (transactions arrive
// whole, after commit, so there are no aborts to handle), the publication, and logical
// decoding messages (skip keys ride on them).
func pluginArgs(publication string) []string {
	return []string{
		"proto_version '1'",
		fmt.Sprintf("publication_names '%s'", publication),
		"messages 'true'",
	}
}

// stream is the receive loop of one session.
func (r *Reader) stream(ctx context.Context, conn *pgconn.PgConn, h Handler) error {
	dec := newDecoder(r.cfg.Mapping, r.log, adapter{r: r, h: h, ctx: ctx}, r.met)
	if r.lookups != nil {
		dec.lookups = r.lookups
	}
	resolver := newRowResolver(ctx, r.cfg.ConnString, r.cfg.Mapping)
	defer resolver.close()
	dec.parents = resolver
	// Reads are bounded by the connection's read deadline, moved once per status tick, and
	// ReceiveMessage gets context.Background(): pgconn watches any other context with a
	// context.AfterFunc per call, two allocations and a lock round trip per row.
	dl := watchReads(ctx, conn.Conn())
	defer dl.stop()
	tick := min(r.cfg.ConfirmDelay, r.cfg.StandbyInterval)
	dl.reset(tick)
	for {
		if dl.passed() {
			if r.statusDue() {
				if err := r.sendStatus(ctx, conn); err != nil {
					return err
				}
			}
			dl.reset(tick)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("receive replication message: %w", err)
		}
		msg, err := conn.ReceiveMessage(context.Background())
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("receive replication message: %w", ctx.Err())
			}
			if pgconn.Timeout(err) {
				continue
			}
			return fmt.Errorf("receive replication message: %w", err)
		}
		switch msg := msg.(type) {
		case *pgproto3.CopyData:
			if err := r.handleCopyData(ctx, conn, dec, msg.Data); err != nil {
				return err
			}
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("replication stream: %w", pgconn.ErrorResponseToPgError(msg))
		case *pgproto3.CopyDone:
			return errors.New("replication stream: server ended the copy")
		}
	}
}

func (r *Reader) handleCopyData(ctx context.Context, conn *pgconn.PgConn, dec *decoder, data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: empty CopyData", ErrMalformed)
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return fmt.Errorf("%w: keepalive: %v", ErrMalformed, err)
		}
		r.noteServerEnd(ka.ServerWALEnd)
		if !dec.txn.active {
			r.track.idle(ka.ServerWALEnd)
		}
		if ka.ReplyRequested {
			return r.sendStatus(ctx, conn)
		}
	case pglogrepl.XLogDataByteID:
		xld, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return fmt.Errorf("%w: xlogdata: %v", ErrMalformed, err)
		}
		r.noteServerEnd(xld.ServerWALEnd)
		return dec.decode(xld.WALStart, xld.WALData)
	}
	return nil
}

func (r *Reader) noteServerEnd(lsn pglogrepl.LSN) {
	if uint64(lsn) > r.serverEnd.Load() {
		r.serverEnd.Store(uint64(lsn))
	}
}

// statusDue reports whether a standby status update is due: the confirmable position
// advanced since the last one (coalesced over one ConfirmDelay tick), or StandbyInterval
// has passed.
func (r *Reader) statusDue() bool {
	lsn, _, _ := r.track.state()
	return lsn != r.lastSent || time.Since(r.lastSentAt) >= r.cfg.StandbyInterval
}

// sendStatus confirms the low-water mark to the server and refreshes the lag gauges.
func (r *Reader) sendStatus(ctx context.Context, conn *pgconn.PgConn) error {
	lsn, pending, oldest := r.track.state()
	end := pglogrepl.LSN(r.serverEnd.Load())
	if end > lsn {
		r.met.lagBytes.Set(float64(end - lsn))
	} else {
		r.met.lagBytes.Set(0)
	}
	if pending > 0 {
		r.met.lagSeconds.Set(time.Since(time.Unix(0, oldest)).Seconds())
	} else {
		r.met.lagSeconds.Set(0)
	}
	// pglogrepl's send ignores ctx; bound the write with a deadline instead.
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(10 * time.Second)
	}
	conn.Conn().SetWriteDeadline(dl)
	defer conn.Conn().SetWriteDeadline(time.Time{})
	err := pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: lsn, WALFlushPosition: lsn, WALApplyPosition: lsn,
		ClientTime: time.Now(),
	})
	if err != nil {
		return fmt.Errorf("send standby status at %s: %w", lsn, err)
	}
	r.lastSent, r.lastSentAt = lsn, time.Now()
	r.met.statusSent.Inc()
	return nil
}

// adapter feeds the decoder's output to the Handler and registers commits as pending.
type adapter struct {
	r   *Reader
	h   Handler
	ctx context.Context
}

func (a adapter) event(ev *event.Event) error { return a.h.HandleEvent(a.ctx, ev) }

func (a adapter) message(m event.Message) error {
	if mh, ok := a.h.(MessageHandler); ok {
		return mh.HandleMessage(a.ctx, m)
	}
	return nil
}

func (a adapter) commit(txn event.Txn) error {
	a.r.track.add(pglogrepl.LSN(txn.EndLSN), txn.CommitTime.UnixNano())
	if err := a.h.HandleCommit(a.ctx, txn); err != nil {
		return fmt.Errorf("%w: %w", errHandler, err)
	}
	return nil
}

// readDeadline is the receive loop's current status-tick deadline, set on the
// connection itself. Cancelling the stream's context moves it to the past, which ends a
// read in progress; the loop checks the context after every reset, so a cancellation
// racing with a reset is seen there.
type readDeadline struct {
	conn      net.Conn
	at        time.Time
	stopWatch func() bool
}

func watchReads(ctx context.Context, conn net.Conn) *readDeadline {
	d := &readDeadline{conn: conn}
	d.stopWatch = context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	return d
}

func (d *readDeadline) reset(interval time.Duration) {
	d.at = time.Now().Add(interval)
	d.conn.SetReadDeadline(d.at)
}

func (d *readDeadline) passed() bool { return !time.Now().Before(d.at) }

// stop ends the watch and clears the deadline, for whatever uses the connection next.
func (d *readDeadline) stop() {
	d.stopWatch()
	d.conn.SetReadDeadline(time.Time{})
}
