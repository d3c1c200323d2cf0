package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The receiver runs in a process of its own so that walhook's peak RSS and CPU time, read
// from the bench process, do not include the receiver's. ServeReceiver is that process's
// body; StartReceiver starts it and talks to it over loopback HTTP:
//
//	POST /hook/…       deliveries (any path under /hook/)
//	GET  /stats        ReceiverStats as JSON
//	GET  /wait?n=N&timeout=D  like /stats, once N distinct items arrived or D passed
//	POST /reset        forget everything received
//
// The process exits when its standard input closes, so it never outlives the bench.

// readyLine is the first line ServeReceiver writes to stdout.
type readyLine struct {
	Addr string `json:"addr"`
}

// ServeReceiver serves a Receiver checking secret on a free loopback port, announces the
// address on stdout as one JSON line ({"addr": "127.0.0.1:port"}), and serves until ctx
// ends or stdin reaches EOF.
func ServeReceiver(ctx context.Context, secret string, stdin io.Reader, stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for deliveries: %w", err)
	}
	r := NewReceiver(secret)
	mux := http.NewServeMux()
	mux.Handle("POST /hook/", r)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, r.Stats()) })
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) { r.Reset(); w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /wait", func(w http.ResponseWriter, req *http.Request) {
		n, err1 := strconv.Atoi(req.URL.Query().Get("n"))
		d, err2 := time.ParseDuration(req.URL.Query().Get("timeout"))
		if err := errors.Join(err1, err2); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Wait(n, time.Now().Add(d))
		writeJSON(w, r.Stats())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, stdin)
		cancel()
	}()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := json.NewEncoder(stdout).Encode(readyLine{Addr: ln.Addr().String()}); err != nil {
		return fmt.Errorf("announce the receiver's address: %w", err)
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve deliveries: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// RemoteReceiver is a receiver process started by StartReceiver.
type RemoteReceiver struct {
	base   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	client *http.Client
}

// StartReceiver runs argv (a command that calls ServeReceiver) and returns once it
// announced its address. Its stderr goes to this process's stderr.
func StartReceiver(ctx context.Context, argv []string) (*RemoteReceiver, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	if os.Getenv("GOMAXPROCS") == "" {
		// One P: the receiver's work is small per request (a webhook's deliveries come
		// one at a time; 1,000 webhooks' concurrent ones fit one core too), and a second
		// P mostly spun looking for work on the cores walhook and the WAL sender share
		// with it (the receiver's CPU per 1,000,000-row insert 2.05 → 1.56 s).
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start the receiver: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start the receiver: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the receiver %q: %w", argv[0], err)
	}
	rr := &RemoteReceiver{cmd: cmd, stdin: stdin, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-line:
		var rl readyLine
		if !ok || json.Unmarshal([]byte(l), &rl) != nil || rl.Addr == "" {
			rr.Close()
			return nil, fmt.Errorf("start the receiver %q: it did not announce its address (got %q)", argv[0], l)
		}
		rr.base = "http://" + rl.Addr
	case <-time.After(30 * time.Second):
		rr.Close()
		return nil, fmt.Errorf("start the receiver %q: no address after 30s", argv[0])
	case <-ctx.Done():
		rr.Close()
		return nil, ctx.Err()
	}
	return rr, nil
}

// URL returns the delivery URL for name (a path segment: workload and webhook number).
func (rr *RemoteReceiver) URL(name string) string { return rr.base + "/hook/" + name }

// PID is the receiver process's id.
func (rr *RemoteReceiver) PID() int { return rr.cmd.Process.Pid }

// Reset makes the receiver forget what it received.
func (rr *RemoteReceiver) Reset(ctx context.Context) error {
	return rr.call(ctx, http.MethodPost, "/reset", nil)
}

// Stats returns the receiver's counts now.
func (rr *RemoteReceiver) Stats(ctx context.Context) (ReceiverStats, error) {
	var s ReceiverStats
	return s, rr.call(ctx, http.MethodGet, "/stats", &s)
}

// Wait waits until n distinct items arrived or timeout passed, and returns the counts.
func (rr *RemoteReceiver) Wait(ctx context.Context, n int, timeout time.Duration) (ReceiverStats, error) {
	var s ReceiverStats
	for {
		step := min(timeout, 10*time.Second)
		err := rr.call(ctx, http.MethodGet, fmt.Sprintf("/wait?n=%d&timeout=%s", n, step), &s)
		timeout -= step
		if err != nil || s.Unique >= n || timeout <= 0 {
			return s, err
		}
	}
}

func (rr *RemoteReceiver) call(ctx context.Context, method, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, method, rr.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := rr.client.Do(req)
	if err != nil {
		return fmt.Errorf("receiver %s %s: %w", method, strings.SplitN(path, "?", 2)[0], err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("receiver %s %s: %s: %s", method, path, resp.Status, msg)
	}
	if into == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		return fmt.Errorf("receiver %s %s: decode: %w", method, path, err)
	}
	return nil
}

// Close stops the receiver process (closing its stdin) and waits for it, killing it
// after 5 seconds.
func (rr *RemoteReceiver) Close() error {
	rr.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- rr.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		rr.cmd.Process.Kill()
		return <-done
	}
}
