package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/reconciliation"
)

// ParseTimeOfDay reads a UTC time of day "HH:MM" as the offset from midnight.
func ParseTimeOfDay(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("reconcile: %q is not a time of day like 00:30 (UTC)", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// busyRetry spaces attempts of a scheduled run while an operator's run holds the node.
const busyRetry = time.Minute

// Schedule runs the reconciliation of the day before every day at the UTC time of day at, until ctx ends.
// A node that starts after today's time runs yesterday's reconciliation at once if nobody has. Every node
// may run the schedule: a scheduled run's GUID is its day's, so only the node whose start is written runs
// it. Runs a stopped process left running (older than the run timeout) are recorded as failed first.
func (r *Reconciler) Schedule(ctx context.Context, at time.Duration, reports *Reports) {
	if reports != nil {
		r.failStale(ctx, reports)
	}
	due := func(now time.Time) time.Time {
		midnight := now.UTC().Truncate(24 * time.Hour)
		return midnight.Add(at)
	}
	next := due(r.cfg.Now())
	if !r.cfg.Now().Before(next) {
		r.scheduled(ctx, next) // missed today's time: catch up (a no-op if another node ran it)
		next = next.Add(24 * time.Hour)
	}
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		r.scheduled(ctx, next)
		next = next.Add(24 * time.Hour)
	}
}

// scheduled starts the run of the day before the one at due, retrying while the node is busy.
func (r *Reconciler) scheduled(ctx context.Context, due time.Time) {
	day := reconciliation.Day(due.Add(-24 * time.Hour))
	for {
		st, err := r.Start(ctx, StartInput{Day: day, Trigger: reconciliation.TriggerSchedule})
		switch {
		case err == nil:
			if st.New {
				r.cfg.Logger.Info("scheduled reconciliation started", "run", st.GUID, "day", day)
			}
			return
		case errors.Is(err, ErrBusy):
			t := time.NewTimer(busyRetry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		default:
			r.cfg.Logger.Error("scheduled reconciliation not started", "day", day, "err", err)
			return
		}
	}
}

// failStale records as failed the runs still running that started longer ago than a run may take.
func (r *Reconciler) failStale(ctx context.Context, reports *Reports) {
	limit := r.cfg.Now().Add(-r.cfg.RunTimeout - time.Minute)
	for guid, updated := range reports.Running() {
		if updated.After(limit) {
			continue
		}
		id, err := uuid.Parse(guid)
		if err != nil {
			continue
		}
		j := &job{r: r, id: id}
		if _, err := j.write(ctx, reconciliation.Fail{Reason: "interrupted: the process running it stopped", At: r.cfg.Now().UTC()}); err != nil &&
			!errors.Is(err, reconciliation.ErrNotRunning) {
			r.cfg.Logger.Warn("reconciliation: could not fail a stale run", "run", guid, "err", err)
		}
	}
}
