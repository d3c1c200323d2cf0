// Command walhook-receiver is the demo receiver of docker-compose.yml: it verifies each
// delivery's WebHook-Signature and prints its items. It is not part of walhook itself.
//
// Environment: RECEIVER_ADDR (default :9000), RECEIVER_SECRET (the webhook's signature
// string; empty accepts unsigned deliveries).
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/walhook/walhook/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := os.Getenv("RECEIVER_ADDR")
	if addr == "" {
		addr = ":9000"
	}
	srv := &http.Server{Addr: addr, Handler: &demo.Receiver{Secret: os.Getenv("RECEIVER_SECRET"), Out: os.Stdout}, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	fmt.Println("walhook-receiver listening on", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "walhook-receiver:", err)
		os.Exit(1)
	}
}
