package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// healthcheckOptions are "walhook healthcheck"'s flags.
type healthcheckOptions struct {
	liveness bool
	timeout  time.Duration
}

// healthcheckFlags declares healthcheck's flags on fs.
func healthcheckFlags(fs *flag.FlagSet) *healthcheckOptions {
	var o healthcheckOptions
	fs.BoolVar(&o.liveness, "liveness", false, "check /healthz (the HTTP server answers) instead of /readyz (the database answers too)")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Second, "give up after this long")
	return &o
}

// cmdHealthcheck is "walhook healthcheck": for images without a shell or curl
// (distroless), it GETs /readyz (or /healthz) of the walhook on WALHOOK_LISTEN_ADDR and
// exits 0 on 200, 1 otherwise, with one line saying why.
func cmdHealthcheck(ctx context.Context, args []string) error {
	return healthcheck(ctx, args, envconfig.OsLookuper(), os.Stdout)
}

// healthcheck is cmdHealthcheck with its environment and output passed in.
func healthcheck(ctx context.Context, args []string, env envconfig.Lookuper, stdout io.Writer) error {
	fs := newFlagSet("healthcheck")
	o := healthcheckFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.timeout <= 0 {
		return usagef("-timeout %s is not positive", o.timeout)
	}
	cfg, err := loadConfig(ctx, env)
	if err != nil {
		return err
	}
	path := "/readyz"
	if o.liveness {
		path = "/healthz"
	}
	url := "http://" + dialAddr(cfg.ListenAddr) + path
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	// A bare transport: no HTTP_PROXY from the environment (the target is this machine),
	// no redirects followed, no connection kept.
	resp, err := (&http.Transport{DisableKeepAlives: true}).RoundTrip(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "ok: GET %s: %s\n", url, resp.Status)
	return nil
}

// dialAddr turns a listen address into one to connect to: an empty or unspecified host
// (":8080", "0.0.0.0:8080", "[::]:8080") means this machine's loopback.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen // loadConfig has validated it
	}
	switch ip := net.ParseIP(host); {
	case host == "" || ip != nil && ip.To4() != nil && ip.IsUnspecified():
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
