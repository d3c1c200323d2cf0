package main

// Helpers of the end-to-end tests (e2e_test.go): they build the real walhook binary, run
// it as a child process with a controlled environment, register webhooks through its HTTP
// API, and receive its deliveries on httptest.Servers that check every signature
// independently of walhook's own code.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/internal/testlog"
	"github.com/walhook/walhook/internal/testwait"
	"github.com/walhook/walhook/schema/sample"
)

const (
	// e2eToken is the API token the tests' walhook processes accept.
	e2eToken = "e2e-token"
	// webhooksPath is the webhook API's collection (any space id will do).
	webhooksPath = "/api/v100/rest/spaces/e2e/entities/Webhooks"
)

// e2eBinary is the walhook binary, built once per test binary into the test cluster's
// directory, which pgtest.Main removes when the tests end.
var e2eBinary struct {
	once sync.Once
	path string
	err  error
}

// walhookBinary builds the walhook binary from this package's source on first use and
// returns its path.
func walhookBinary(tb testing.TB) string {
	tb.Helper()
	dir := pgtest.Cluster(tb).Dir()
	e2eBinary.once.Do(func() {
		path := filepath.Join(dir, "walhook-e2e")
		out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
		if err != nil {
			e2eBinary.err = fmt.Errorf("go build walhook: %v\n%s", err, out)
			return
		}
		e2eBinary.path = path
	})
	if e2eBinary.err != nil {
		tb.Fatal(e2eBinary.err)
	}
	return e2eBinary.path
}

var slotSeq atomic.Int64

// e2eEnv returns the WALHOOK_* variables of a test's walhook processes: fast timers so
// the tests do not wait on production defaults, JSON logs, loopback targets allowed.
func e2eEnv(dsn string) map[string]string {
	return map[string]string{
		"WALHOOK_DATABASE_URL":          dsn,
		"WALHOOK_API_TOKENS":            e2eToken,
		"WALHOOK_ALLOW_PRIVATE_TARGETS": "true",
		"WALHOOK_SLOT":                  fmt.Sprintf("e2e_%d_%d", os.Getpid(), slotSeq.Add(1)),
		"WALHOOK_STANDBY_INTERVAL":      "200ms",
		"WALHOOK_RECONNECT_BACKOFF":     "100ms",
		"WALHOOK_QUEUE_POLL_INTERVAL":   "100ms",
		"WALHOOK_RETRY_MIN_BACKOFF":     "50ms",
		"WALHOOK_LOG_FORMAT":            "json",
	}
}

// processEnv is this process's environment without its WALHOOK_* variables, plus vars.
func processEnv(vars map[string]string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "WALHOOK_") })
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// runWalhook runs "walhook args…" to completion and returns its exit code and stderr.
func runWalhook(tb testing.TB, vars map[string]string, args ...string) (code int, stderr string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errBuf bytes.Buffer
	cmd := exec.CommandContext(ctx, walhookBinary(tb), args...)
	cmd.Env = processEnv(vars)
	cmd.Stdout = io.Discard
	cmd.Stderr = &errBuf
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		tb.Fatalf("walhook %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errBuf.String())
	}
	if ctx.Err() != nil {
		tb.Fatalf("walhook %s: still running after 2 minutes\nstderr:\n%s", strings.Join(args, " "), errBuf.String())
	}
	return cmd.ProcessState.ExitCode(), errBuf.String()
}

// setupWalhook runs "walhook setup" and fails the test unless it succeeds.
func setupWalhook(tb testing.TB, vars map[string]string) {
	tb.Helper()
	if code, stderr := runWalhook(tb, vars, "setup"); code != 0 {
		tb.Fatalf("walhook setup: exit code %d\nstderr:\n%s", code, stderr)
	}
}

// walhookProc is one "walhook run" child process.
type walhookProc struct {
	name   string
	base   string // http://host:port of its listener
	cmd    *exec.Cmd
	stderr *testlog.Buffer
	exited chan struct{} // closed when the process has exited and its output is read
}

var procSeq atomic.Int64

// startWalhook starts "walhook run" with vars on a free loopback port. The process is
// killed when the test ends, and its stderr is logged if the test failed.
func startWalhook(tb testing.TB, vars map[string]string) *walhookProc {
	tb.Helper()
	vars = maps.Clone(vars)
	addr := freeAddr(tb)
	vars["WALHOOK_LISTEN_ADDR"] = addr
	p := &walhookProc{
		name:   fmt.Sprintf("walhook run #%d", procSeq.Add(1)),
		base:   "http://" + addr,
		stderr: &testlog.Buffer{},
		exited: make(chan struct{}),
	}
	p.cmd = exec.Command(walhookBinary(tb), "run")
	p.cmd.Env = processEnv(vars)
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		p.cmd.Wait() // the exit status is read from cmd.ProcessState
		close(p.exited)
	}()
	tb.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			tb.Errorf("%s: not reaped 30s after SIGKILL", p.name)
		}
		if tb.Failed() {
			tb.Logf("%s (%s) stderr:\n%s", p.name, p.status(), tail(p.stderr.String(), 64<<10))
		}
	})
	return p
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// tail returns the last n bytes of s, from a line start.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "[…]\n" + s
}

func (p *walhookProc) signal(sig syscall.Signal) {
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Signal(sig) // it may exit meanwhile: then there is nothing to signal
	}
}

// hasExited reports whether the process has exited.
func (p *walhookProc) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// status describes the process's state, for failure messages.
func (p *walhookProc) status() string {
	if !p.hasExited() {
		return "running"
	}
	return p.cmd.ProcessState.String()
}

// checkRunning returns an error holding the process's stderr if it has exited.
func (p *walhookProc) checkRunning() error {
	if !p.hasExited() {
		return nil
	}
	return fmt.Errorf("%s exited (%s); stderr:\n%s", p.name, p.status(), tail(p.stderr.String(), 16<<10))
}

// waitReady waits until the process answers /readyz with 200.
func (p *walhookProc) waitReady(tb testing.TB) {
	tb.Helper()
	client := &http.Client{Timeout: time.Second}
	testwait.Until(tb, time.Minute, p.name+" ready", func() (bool, string, error) {
		if err := p.checkRunning(); err != nil {
			return false, "", err
		}
		resp, err := client.Get(p.base + "/readyz")
		if err != nil {
			return false, err.Error(), nil
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, "GET /readyz: " + resp.Status, nil
	})
}

// kill sends SIGKILL and waits until the process is gone.
func (p *walhookProc) kill(tb testing.TB) {
	tb.Helper()
	p.signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		tb.Fatalf("%s: not reaped 30s after SIGKILL", p.name)
	}
}

// terminate sends SIGTERM and returns the exit code, failing the test if the process has
// not exited within timeout.
func (p *walhookProc) terminate(tb testing.TB, timeout time.Duration) int {
	tb.Helper()
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		tb.Fatalf("%s: still running %s after SIGTERM", p.name, timeout)
		return -1
	}
}

// metric returns the value of one series (name and labels, as exposed) of the process's
// /metrics, or an error if the process or the series cannot be read.
func (p *walhookProc) metric(series string) (float64, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(p.base + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("%s: GET /metrics: %w", p.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: GET /metrics: %s %v", p.name, resp.Status, err)
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s: /metrics has no series %s", p.name, series)
}

// registerWebhook creates a webhook through the API at base and returns its id.
func registerWebhook(tb testing.TB, base string, webhook map[string]any) string {
	tb.Helper()
	body, err := json.Marshal(webhook)
	if err != nil {
		tb.Fatal(err)
	}
	status, msg := postJSON(tb, base+webhooksPath, string(body))
	if status != http.StatusOK {
		tb.Fatalf("POST %s %s: %d: %s", webhooksPath, body, status, msg)
	}
	var env struct {
		Success bool
		Data    struct{ ID string }
	}
	if err := json.Unmarshal([]byte(msg), &env); err != nil || !env.Success || env.Data.ID == "" {
		tb.Fatalf("POST %s: unexpected answer %s (%v)", webhooksPath, msg, err)
	}
	return env.Data.ID
}

// crmConn connects to the test database; the connection is closed when the test ends.
func crmConn(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("connect to %s: %v", dsn, err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// itemHead is the part of a delivery item the receiver indexes.
type itemHead struct {
	ID       string `json:"id"`
	Event    string `json:"event"`
	Entity   string `json:"entity"`
	EntityID string `json:"entity_id"`
}

// delivery is one accepted request as the receiver got it.
type delivery struct {
	header     http.Header
	body       []byte
	webhookID  string
	deliveryID string
	items      []json.RawMessage
}

// seenEvent is one event id as the receiver has seen it.
type seenEvent struct {
	head   itemHead
	raw    json.RawMessage // the item's bytes in its first delivery
	copies int             // deliveries that carried it
}

// receiver is a webhook endpoint on an httptest.Server. It checks every request's
// WebHook-Signature (HMAC-SHA256 of the body, keyed with secret, computed here and not
// by walhook's code) and the delivery headers, answering 401 to a bad signature; it
// records what it accepts, indexes items by event id, and keeps the first copy of each
// item's bytes to compare with every later copy. Problems are collected, not reported
// from the handler's goroutine.
type receiver struct {
	srv    *httptest.Server
	secret string

	mu         sync.Mutex
	held       chan struct{} // non-nil while hold is in force: requests wait for it to close
	waiting    int           // requests waiting for held to close
	failing    bool          // answer 503 at once, recording nothing
	deliveries []delivery
	seen       map[string]*seenEvent
	order      []string                   // event ids in order of first receipt
	byEntity   map[string]map[string]bool // event name + " " + entity id → event ids
	perEvent   map[string]int             // event name → distinct event ids
	duplicates int                        // copies beyond the first, over all ids
	problems   []string
}

// newReceiver starts a receiver; it is closed when the test ends.
func newReceiver(tb testing.TB, secret string) *receiver {
	tb.Helper()
	r := &receiver{
		secret:   secret,
		seen:     map[string]*seenEvent{},
		byEntity: map[string]map[string]bool{},
		perEvent: map[string]int{},
	}
	r.srv = httptest.NewServer(r)
	tb.Cleanup(r.srv.Close)
	tb.Cleanup(r.release) // before Close, which waits for held requests
	return r
}

// hold makes the receiver keep every request that arrives from now on waiting, until
// release, and then answer it 503 without recording it: the sender cannot deliver
// anything meanwhile.
func (r *receiver) hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held == nil {
		r.held = make(chan struct{})
	}
}

// release ends hold.
func (r *receiver) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held != nil {
		close(r.held)
		r.held = nil
	}
}

// failFast makes the receiver answer every request 503 at once without recording it (on),
// or stop doing so (off).
func (r *receiver) failFast(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = on
}

// heldNow returns how many requests are waiting in hold.
func (r *receiver) heldNow() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waiting
}

// URL is the receiver's webhook URL.
func (r *receiver) URL() string { return r.srv.URL + "/hook" }

func (r *receiver) problemf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.problems) < 100 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	held, failing := r.held, r.failing
	if held != nil && !failing {
		r.waiting++
	}
	r.mu.Unlock()
	if failing {
		http.Error(w, "failing", http.StatusServiceUnavailable)
		return
	}
	if held != nil {
		// A request its client gave up on no longer counts as waiting.
		select {
		case <-held:
		case <-req.Context().Done():
		}
		r.mu.Lock()
		r.waiting--
		r.mu.Unlock()
		http.Error(w, "held", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		// The sender was killed mid-request: nothing was delivered.
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	if got := req.Header.Get("WebHook-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
		r.problemf("delivery %s: WebHook-Signature %q, want %q", req.Header.Get("Webhook-Id"), got, want)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var d struct {
		WebhookID  *string           `json:"webhook_id"`
		DeliveryID *string           `json:"delivery_id"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &d); err != nil || d.WebhookID == nil || d.DeliveryID == nil || d.Items == nil {
		r.problemf("body lacks webhook_id, delivery_id or items (%v): %.300s", err, body)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	r.checkHeaders(req.Header, *d.DeliveryID)
	heads := make([]itemHead, len(d.Items))
	for i, it := range d.Items {
		if err := json.Unmarshal(it, &heads[i]); err != nil || heads[i].ID == "" {
			r.problemf("delivery %s: item %d without an id (%v): %.300s", *d.DeliveryID, i, err, it)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deliveries = append(r.deliveries, delivery{
		header: req.Header.Clone(), body: body, webhookID: *d.WebhookID, deliveryID: *d.DeliveryID, items: d.Items,
	})
	for i, it := range d.Items {
		h := heads[i]
		if s := r.seen[h.ID]; s != nil {
			s.copies++
			r.duplicates++
			if !bytes.Equal(s.raw, it) && len(r.problems) < 100 {
				r.problems = append(r.problems, fmt.Sprintf("event %s delivered again with other bytes:\nfirst: %s\nlater: %s", h.ID, s.raw, it))
			}
			continue
		}
		r.seen[h.ID] = &seenEvent{head: h, raw: it, copies: 1}
		r.order = append(r.order, h.ID)
		r.perEvent[h.Event]++
		key := h.Event + " " + h.EntityID
		if r.byEntity[key] == nil {
			r.byEntity[key] = map[string]bool{}
		}
		r.byEntity[key][h.ID] = true
	}
}

// checkHeaders records what is wrong with a delivery's headers (DESIGN.md §5).
func (r *receiver) checkHeaders(h http.Header, deliveryID string) {
	if ct := h.Get("Content-Type"); ct != "application/json" {
		r.problemf("delivery %s: Content-Type %q", deliveryID, ct)
	}
	if ua := h.Get("User-Agent"); !strings.HasPrefix(ua, "walhook/") || len(ua) == len("walhook/") {
		r.problemf("delivery %s: User-Agent %q, want walhook/<version>", deliveryID, ua)
	}
	if id := h.Get("Webhook-Id"); id != deliveryID {
		r.problemf("delivery %s: Webhook-Id %q, want the delivery id", deliveryID, id)
	}
	if ts, err := strconv.ParseInt(h.Get("Webhook-Timestamp"), 10, 64); err != nil || ts <= 0 {
		r.problemf("delivery %s: Webhook-Timestamp %q is not Unix seconds", deliveryID, h.Get("Webhook-Timestamp"))
	}
}

// countEvent returns how many distinct ids of event the receiver has seen.
func (r *receiver) countEvent(event string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.perEvent[event]
}

// distinctIDs returns how many distinct event ids the receiver has seen.
func (r *receiver) distinctIDs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// events returns the items seen, one per event id, in order of first receipt.
func (r *receiver) events() []seenEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]seenEvent, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, *r.seen[id])
	}
	return out
}

// entityIDs returns, for each entity id that raised event, the event ids seen for it.
func (r *receiver) entityIDs(event string) map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]string{}
	for key, ids := range r.byEntity {
		name, entityID, _ := strings.Cut(key, " ")
		if name == event {
			out[entityID] = slices.Sorted(maps.Keys(ids))
		}
	}
	return out
}

// stats returns the deliveries accepted and the duplicate item copies among them.
func (r *receiver) stats() (deliveries, duplicates int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.deliveries), r.duplicates
}

// deliveryList returns the deliveries accepted so far.
func (r *receiver) deliveryList() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.deliveries)
}

// checkNoProblems fails the test with every problem the receiver recorded.
func (r *receiver) checkNoProblems(tb testing.TB) {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		tb.Errorf("receiver %s: %s", r.srv.URL, p)
	}
}

// setupE2E creates a database holding the sample CRM, the e2eEnv variables for it plus
// vars, and runs "walhook setup" with them; the slot is dropped when the test ends.
func setupE2E(tb testing.TB, vars map[string]string) (dsn string, env map[string]string) {
	tb.Helper()
	dsn = pgtest.NewDatabase(tb, sample.CRMSQL)
	env = e2eEnv(dsn)
	maps.Copy(env, vars)
	tb.Cleanup(func() { dropSlot(tb, dsn, env["WALHOOK_SLOT"]) })
	setupWalhook(tb, env)
	return dsn, env
}
