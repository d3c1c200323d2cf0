package main

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/testwait"
)

// TestInboundCrashLosesNothing sends 200 inbound calls while walhook is SIGKILLed and
// restarted twice: every call answered 2xx must be delivered (distinct call ids counted;
// duplicates allowed). A call that failed because walhook was down is retried by the
// client until it gets a 2xx, as a webhook sender retries.
func TestInboundCrashLosesNothing(t *testing.T) {
	const calls = 200
	env, p := inboundEnv(t, map[string]string{"WALHOOK_INBOUND_RATE": "100000", "WALHOOK_INBOUND_BURST": "100000"})
	r := newReceiver(t, "c4a5e000-0000-4000-8000-0000000c4a5e")
	wh := putInbound(t, p.base, "webhook.crash.call", nil)
	registerWebhook(t, p.base, map[string]any{"url": r.URL(), "events": []string{"webhook.crash.*"}, "signature": r.secret})
	waitInboundSubscribed(t, p, wh.UUID, r)

	var base atomic.Pointer[string]
	base.Store(&p.base)
	var (
		mu       sync.Mutex
		answered []string // call ids answered 2xx
		failures int      // attempts that failed (walhook down or killed mid-call)
		sent     atomic.Int64
	)
	done := make(chan error, 1)
	go func() {
		for i := range calls {
			body := fmt.Appendf(nil, `{"n": %d, "pad": "%0900d"}`, i, i)
			for attempt := 0; ; attempt++ {
				if attempt > 2000 {
					done <- fmt.Errorf("call %d: no 2xx after %d attempts", i, attempt)
					return
				}
				status, ans, _, _, err := tryCall(*base.Load(), "/api/v3/webhook.receive", wh.UUID, "application/json", body, nil)
				if err == nil && status == http.StatusOK {
					mu.Lock()
					answered = append(answered, ans.ID)
					mu.Unlock()
					break
				}
				mu.Lock()
				failures++
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
			sent.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
		done <- nil
	}()
	for _, at := range []int64{60, 140} {
		testwait.Until(t, time.Minute, fmt.Sprintf("%d calls answered", at), func() (bool, string, error) {
			select {
			case err := <-done:
				return false, "", errors.Join(err, errors.New("the client finished before the kill"))
			default:
			}
			return sent.Load() >= at, fmt.Sprintf("%d answered", sent.Load()), nil
		})
		p.signal(syscall.SIGKILL)
		<-p.exited
		t.Logf("SIGKILL after %d calls answered", sent.Load())
		p = startWalhook(t, env)
		base.Store(&p.base)
		p.waitReady(t)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	ids := append([]string(nil), answered...)
	mu.Unlock()
	waitCalls(t, r, p, ids...)
	got, _ := inboundItems(t, r)
	_, dups := r.stats()
	t.Logf("%d calls answered 2xx, all delivered; %d distinct calls delivered (probes included), %d duplicate items, %d failed attempts retried",
		len(ids), len(got), dups, failures)
	if failures == 0 {
		t.Errorf("no call failed: the kills did not interrupt the client")
	}
	r.checkNoProblems(t)
}
