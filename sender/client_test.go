package sender

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// TestClientSendsBodiesWithoutACopyBuffer posts 64 KiB bodies through the delivery client
// to a loopback server and counts the bytes allocated per request, client and server
// together: under the body's size, and under the 32 KiB buffer that net.TCPConn's
// ReadFrom allocated for every request body before copyConn (39 KiB per request then).
func TestClientSendsBodiesWithoutACopyBuffer(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled buffers at random")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := newClient(10*time.Second, true, false)
	body := bytes.Repeat([]byte("x"), 64<<10)
	post := func() {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readResponse(res.Body)
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	for range 10 { // the connection and the pools warm
		post()
	}
	const n = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		post()
	}
	runtime.ReadMemStats(&after)
	perRequest := (after.TotalAlloc - before.TotalAlloc) / n
	t.Logf("%d bytes allocated per request", perRequest)
	if perRequest >= 24<<10 {
		t.Errorf("%d bytes allocated per 64 KiB request, want under 24 KiB: a copy buffer per request", perRequest)
	}
}
