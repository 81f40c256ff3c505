package localnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Listen serves the network's HTTP API on addr, which must be a loopback address such as "127.0.0.1:8000"
// ("127.0.0.1:0" picks a free port). It returns the base URL to give horizonclient and a function that stops
// the server gracefully; the network itself stays open until Close. A development network has no business
// on other interfaces, so any other host is refused.
func (n *Network) Listen(addr string) (baseURL string, shutdown func(context.Context) error, err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", nil, fmt.Errorf("localnet: listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", nil, fmt.Errorf("localnet: listen address %q is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("localnet: listen: %w", err)
	}
	srv := &http.Server{
		Handler:           n.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A submission may wait for its ledger, at most max(30s, 3 × CloseInterval).
		WriteTimeout: max(30*time.Second, 3*n.interval) + 30*time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("localnet: HTTP server stopped", "err", err)
		}
	}()
	return "http://" + ln.Addr().String(), srv.Shutdown, nil
}
