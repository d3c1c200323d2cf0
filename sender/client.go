package sender

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/walhook/walhook/internal/netguard"
)

// errForbiddenTarget is wrapped by the dial error when the resolved address of a webhook
// URL is private and private targets are not allowed.
var errForbiddenTarget = errors.New("target address is private (loopback, private, link-local or metadata)")

// responseLimitBytes is how much of a response body is read for the delivery log;
// drainLimitBytes how much more is read and discarded so that the connection can be
// reused. A longer body closes the connection instead.
const (
	responseLimitBytes = 4 << 10
	drainLimitBytes    = 64 << 10
)

// clients holds the sender's two HTTP clients: one verifying TLS and one not (for
// webhooks with insecure_ssl). Each is shared by every webhook, so connections are kept
// alive and reused per host.
type clients struct {
	verify, insecure *http.Client
}

func newClients(timeout time.Duration, allowPrivate bool) clients {
	return clients{
		verify:   newClient(timeout, allowPrivate, false),
		insecure: newClient(timeout, allowPrivate, true),
	}
}

func (c clients) get(insecureSSL bool) *http.Client {
	if insecureSSL {
		return c.insecure
	}
	return c.verify
}

// newClient returns a delivery client: per-attempt timeout, redirects not followed (a
// 3xx is a failed attempt), no proxy (a proxy would dial on our behalf and bypass the
// guard), TLS verified unless insecure, and the private-target guard in the dialer's
// Control hook, which sees the address after DNS resolution, so DNS rebinding cannot get
// around it.
func newClient(timeout time.Duration, allowPrivate, insecure bool) *http.Client {
	d := &net.Dialer{Timeout: min(timeout, 30*time.Second), KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = guardControl
	}
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return copyConn{c}, nil
	}
	tr := &http.Transport{
		Proxy:             nil,
		DialContext:       dial,
		ForceAttemptHTTP2: true,
		MaxIdleConns:      1024,
		// As many idle connections per host as in all: many webhooks often share one
		// host (a SaaS endpoint, a bus), each with its own loop and attempt in flight.
		// With 64 per host, 1,000 webhooks on one host closed and dialled again most
		// of their connections on every round of chunks (issue 16's fanout).
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   min(timeout, 10*time.Second),
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}, //nolint:gosec // the webhook's insecure_ssl
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// copyConn is a dialled connection whose ReadFrom copies through a pooled buffer. net/http
// writes an HTTP/1.1 request body of known length through an io.LimitReader, which no
// WriterTo serves, and hands it to the connection's ReadFrom once its 4 KiB write buffer
// has been flushed: net.TCPConn's then allocated a buffer of up to 32 KiB for every body
// larger than that (290 MB over the 1M-row bench's 10,000 requests, an eighth of all
// walhook allocated). HTTP/2 writes bodies through pooled buffers of its own; HTTP/1.1
// over TLS goes through tls.Conn, which has no ReadFrom and still allocates. (A
// DialTLSContext returning anything but a *tls.Conn would lose HTTP/2.)
type copyConn struct{ net.Conn }

func (c copyConn) ReadFrom(r io.Reader) (int64, error) {
	b := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(b)
	return io.CopyBuffer(writerOnly{c.Conn}, r, *b)
}

// writerOnly hides its writer's ReadFrom, so that io.CopyBuffer uses the buffer given.
type writerOnly struct{ io.Writer }

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// guardControl refuses to connect to a forbidden address. It fails closed: an address it
// cannot parse is refused too.
func guardControl(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, errForbiddenTarget)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || netguard.Forbidden(ip) {
		return fmt.Errorf("dial %s: %w", address, errForbiddenTarget)
	}
	return nil
}

// readResponse reads up to responseLimitBytes of the body for the delivery log, drains
// up to drainLimitBytes more so the connection can be reused, and closes it.
func readResponse(body io.ReadCloser) []byte {
	defer body.Close()
	b, _ := io.ReadAll(io.LimitReader(body, responseLimitBytes))
	_, _ = io.CopyN(io.Discard, body, drainLimitBytes)
	return b
}

// closeIdle closes the clients' idle connections (on Close).
func (c clients) closeIdle() {
	c.verify.CloseIdleConnections()
	c.insecure.CloseIdleConnections()
}
