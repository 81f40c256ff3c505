package reconcile

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/reconciliation"
	"github.com/kazna-ledger/kazna/eventstore"
)

// Reports is the read model of reconciliation runs: each run's status, progress, counts and discrepancies
// with their resolutions, folded from the run streams' events by the same decider the runs are written with.
// Feed it to a projections.Runner.
type Reports struct {
	known map[string]bool

	mu   sync.RWMutex
	runs map[string]*reconciliation.RunState
}

// NewReports returns an empty read model.
func NewReports() *Reports {
	return &Reports{known: map[string]bool{}, runs: map[string]*reconciliation.RunState{}}
}

func (p *Reports) Name() string { return "reconciliation-reports" }

func (p *Reports) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypePrefixes: reconciliation.RunEventTypePrefixes}
}

// Apply folds one run event; other "Reconciliation…" types are passed over.
func (p *Reports) Apply(ev eventstore.RecordedEvent) error {
	e, err := reconciliation.RunEvents.Decode(ev.Type, ev.Data)
	if err != nil {
		if errors.Is(err, command.ErrUnknownEventType) {
			return nil
		}
		return fmt.Errorf("reconcile: reports: %w", err)
	}
	guid := runGUID(e)
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.runs[guid]
	if s == nil {
		if _, ok := e.(reconciliation.ReconciliationStarted); !ok {
			return fmt.Errorf("reconcile: reports: %s of run %q, which never started", ev.Type, guid)
		}
		s = &reconciliation.RunState{}
	}
	next := reconciliation.EvolveRun(*s, e)
	p.runs[guid] = &next
	return nil
}

func runGUID(e reconciliation.RunEvent) string {
	switch e := e.(type) {
	case reconciliation.ReconciliationStarted:
		return e.GUID
	case reconciliation.ReconciliationProgressed:
		return e.GUID
	case reconciliation.ReconciliationDiscrepanciesFound:
		return e.GUID
	case reconciliation.ReconciliationCompleted:
		return e.GUID
	case reconciliation.ReconciliationFailed:
		return e.GUID
	case reconciliation.ReconciliationDiscrepancyResolved:
		return e.GUID
	}
	return ""
}

// Report returns one run. The state shares nothing with the read model.
func (p *Reports) Report(guid string) (reconciliation.RunState, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	s := p.runs[strings.ToLower(guid)]
	if s == nil {
		return reconciliation.RunState{}, false
	}
	return copyRun(*s), true
}

func copyRun(s reconciliation.RunState) reconciliation.RunState {
	s.Discrepancies = slices.Clone(s.Discrepancies)
	if s.Resolved != nil {
		r := make(map[int]reconciliation.Resolution, len(s.Resolved))
		for k, v := range s.Resolved {
			r[k] = v
		}
		s.Resolved = r
	}
	return s
}

// RunQuery filters and pages the runs, newest first unless Asc.
type RunQuery struct {
	GUIDs    []string
	Statuses []reconciliation.RunStatus
	Triggers []string
	DayFrom  string // YYYY-MM-DD, inclusive
	DayTo    string
	// WithDiscrepancies keeps the runs that found (true) or did not find (false) discrepancies.
	WithDiscrepancies *bool
	Asc               bool
	Offset, Limit     int
}

// Bounds of run lists.
const (
	DefaultRunLimit = 20
	MaxRunLimit     = 100
)

// Runs lists the runs matching q and how many match in all.
func (p *Reports) Runs(q RunQuery) ([]reconciliation.RunState, int) {
	if q.Limit <= 0 {
		q.Limit = DefaultRunLimit
	}
	q.Limit = min(q.Limit, MaxRunLimit)
	p.mu.RLock()
	var out []reconciliation.RunState
	for _, s := range p.runs {
		if matchRun(s, q) {
			out = append(out, copyRun(*s))
		}
	}
	p.mu.RUnlock()
	slices.SortFunc(out, func(a, b reconciliation.RunState) int {
		c := a.StartedAt.Compare(b.StartedAt)
		if c == 0 {
			c = cmp.Compare(a.GUID, b.GUID)
		}
		if q.Asc {
			return c
		}
		return -c
	})
	total := len(out)
	if q.Offset >= total {
		return []reconciliation.RunState{}, total
	}
	return out[q.Offset:min(total, q.Offset+q.Limit)], total
}

func matchRun(s *reconciliation.RunState, q RunQuery) bool {
	if len(q.GUIDs) > 0 && !slices.ContainsFunc(q.GUIDs, func(g string) bool { return strings.EqualFold(g, s.GUID) }) {
		return false
	}
	if len(q.Statuses) > 0 && !slices.Contains(q.Statuses, s.Status) {
		return false
	}
	if len(q.Triggers) > 0 && !slices.Contains(q.Triggers, s.Trigger) {
		return false
	}
	if (q.DayFrom != "" && s.Day < q.DayFrom) || (q.DayTo != "" && s.Day > q.DayTo) {
		return false
	}
	if q.WithDiscrepancies != nil && (len(s.Discrepancies) > 0) != *q.WithDiscrepancies {
		return false
	}
	return true
}

// Running lists the runs still running and when each last moved.
func (p *Reports) Running() map[string]time.Time {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := map[string]time.Time{}
	for g, s := range p.runs {
		if s.Status == reconciliation.RunRunning {
			out[g] = s.UpdatedAt
		}
	}
	return out
}
