package api

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"
)

// Check tells whether one dependency can serve (the event store, the Stellar network). It returns nil when
// ready, and an error that explains why not otherwise.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// readyTimeout bounds one readiness probe, so that a hung dependency makes the node unready rather than
// hanging the probe.
const readyTimeout = 2 * time.Second

// Health answers /healthz (the process is alive) and /readyz (every dependency answers and the node is not
// draining). Draining starts at shutdown, so load balancers stop sending requests before the listener closes.
type Health struct {
	checks   []Check
	draining atomic.Bool
}

// NewHealth returns the health endpoints for the given dependency checks.
func NewHealth(checks ...Check) *Health { return &Health{checks: checks} }

// Drain marks the node as shutting down: /readyz answers 503 from now on.
func (h *Health) Drain() { h.draining.Store(true) }

func (h *Health) live(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *Health) ready(w http.ResponseWriter, r *http.Request) {
	if h.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	status, code := "ready", http.StatusOK
	results := map[string]string{}
	for _, c := range h.checks {
		if err := c.Run(ctx); err != nil {
			results[c.Name] = err.Error()
			status, code = "unready", http.StatusServiceUnavailable
			continue
		}
		results[c.Name] = "ok"
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": results})
}
