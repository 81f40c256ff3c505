package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// ReplayOptions tune Replay.
type ReplayOptions struct {
	// Cut is where history stops; the zero Cut replays the whole log.
	Cut Cut
	// Runners is how many Runners share the read models out, each reading the log for its own (default 1).
	// Read models are independent of each other, so on an idle machine with cores to spare they rebuild side
	// by side; on a busy one the extra reads and goroutines cost more than they give (docs/BENCHMARKS.md).
	Runners int
	// Lanes is how many goroutines of each Runner apply its read models side by side, all reading the one log
	// (projections.Options.Lanes); 0 means the machine's share: GOMAXPROCS divided among the Runners. It is
	// the cheap way to use a second core: the log is read once.
	Lanes int
	// Logger receives the Runners' logs; nil means slog.Default().
	Logger *slog.Logger
	// Progress, if set, is called about every ProgressEvery (default 2 s) while events are read, from a
	// goroutine that reads them, and once at the end.
	Progress      func(ReplayProgress)
	ProgressEvery time.Duration
}

// ReplayProgress is how far a replay has read. With several Runners it is the first Runner's view.
type ReplayProgress struct {
	// Read counts the events of the log that the read models select (the store passes over the others), and
	// Kept those of them within the cut, handed to the read models.
	Read     uint64
	Kept     uint64
	Position eventstore.Position
	Elapsed  time.Duration
}

// ReplayReport is what a finished replay did.
type ReplayReport struct {
	// Read and Kept are ReplayProgress's, for the Runner that kept the most.
	Read, Kept uint64
	// Last is the position of the last event within the cut that a read model selected, and LastTime its
	// metadata time (zero when no event is within it).
	Last     eventstore.Position
	LastTime time.Time
	Duration time.Duration
}

// Replay rebuilds the read models from the log as of opts.Cut: Runners follow a cut of the log until each
// has applied everything within the cut, then stop. The read models are then exactly what a node would have
// shown after applying those events, and may be queried. A store that cannot be read, or a read model that
// fails on an event, stops the replay with that error at once (a Runner alone would retry).
func Replay(ctx context.Context, store projections.Subscriber, opts ReplayOptions, models ...projections.Projection) (ReplayReport, error) {
	if len(models) == 0 {
		return ReplayReport{}, errors.New("replay: no read model")
	}
	every := opts.ProgressEvery
	if every <= 0 {
		every = 2 * time.Second
	}
	n := min(max(opts.Runners, 1), len(models))
	lanes := opts.Lanes
	if lanes <= 0 {
		lanes = max(1, runtime.GOMAXPROCS(0)/n)
	}
	start := time.Now()
	failed := make(chan error, 1)
	subs := make([]*cutSubscriber, n)
	runners := make([]*projections.Runner, n)
	for i := range n {
		var group []projections.Projection
		for j := i; j < len(models); j += n {
			group = append(group, models[j])
		}
		subs[i] = &cutSubscriber{inner: store, cut: opts.Cut, failed: failed, start: start, every: every}
		if i == 0 {
			subs[i].progress = opts.Progress
		}
		r, err := projections.NewRunner(subs[i], projections.Options{Logger: opts.Logger, Lanes: lanes}, group...)
		if err != nil {
			return ReplayReport{}, fmt.Errorf("replay: build the read models: %w", err)
		}
		runners[i] = r
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	runErrs := make([]error, n)
	stopped := make(chan struct{}, n)
	ready := make(chan error, n)
	for i, r := range runners {
		wg.Go(func() {
			runErrs[i] = r.Run(runCtx)
			stopped <- struct{}{}
		})
		wg.Go(func() { ready <- r.WaitCaughtUp(runCtx) })
	}
	var runErr error
	for caughtUp := 0; caughtUp < n && runErr == nil; {
		select {
		case err := <-ready:
			runErr = err
			caughtUp++
		case err := <-failed:
			runErr = fmt.Errorf("replay: read the log: %w", err)
		case <-stopped:
			// A Runner returns before its read models caught up only on a failure: its error is in runErrs.
			runErr = errRunnerStopped
		case <-ctx.Done():
			runErr = ctx.Err()
		}
	}
	stop()
	wg.Wait()
	if runErr == nil || runErr == errRunnerStopped {
		for _, err := range runErrs {
			if err != nil && !errors.Is(err, context.Canceled) {
				runErr = err
				break
			}
		}
	}
	var rep ReplayReport
	for _, s := range subs {
		r := s.report()
		if r.Kept >= rep.Kept {
			rep.Read, rep.Kept = r.Read, r.Kept
		}
		if rep.Last.Less(r.Last) {
			rep.Last, rep.LastTime = r.Last, r.LastTime
		}
	}
	rep.Duration = time.Since(start)
	if opts.Progress != nil {
		opts.Progress(ReplayProgress{Read: rep.Read, Kept: rep.Kept, Position: rep.Last, Elapsed: rep.Duration})
	}
	if runErr != nil {
		return rep, fmt.Errorf("replay to %s: %w", opts.Cut, runErr)
	}
	return rep, nil
}

var errRunnerStopped = errors.New("replay: a read model stopped")

// cutSubscriber hands the Runner the log up to the cut, then a CaughtUp, then nothing more.
type cutSubscriber struct {
	inner    projections.Subscriber
	cut      Cut
	failed   chan error // the first error of the log under the cut (capacity 1)
	start    time.Time
	every    time.Duration
	progress func(ReplayProgress)

	// Written only by the goroutine that reads the subscription, and read by Replay once the Runner (and so
	// that goroutine) has stopped.
	read, kept uint64
	last       eventstore.Position
	lastTime   time.Time
}

func (s *cutSubscriber) SubscribeAll(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error) {
	sub, err := s.inner.SubscribeAll(ctx, from, filter)
	if err != nil {
		s.fail(err)
		return nil, err
	}
	return &cutSubscription{s: s, inner: sub, reported: time.Now()}, nil
}

func (s *cutSubscriber) fail(err error) {
	select {
	case s.failed <- err:
	default:
	}
}

func (s *cutSubscriber) report() ReplayReport {
	return ReplayReport{Read: s.read, Kept: s.kept, Last: s.last, LastTime: s.lastTime, Duration: time.Since(s.start)}
}

type cutSubscription struct {
	s         *cutSubscriber
	inner     eventstore.Subscription
	done      bool // the cut is reached: CaughtUp was sent
	reported  time.Time
	sinceLook int
}

// progressLook is how many events pass between looks at the clock for a progress report.
const progressLook = 4096

func (c *cutSubscription) Next(ctx context.Context) (eventstore.Message, error) {
	for {
		if c.done {
			// Past the cut the log is, for this replay, quiet: wait like a live subscription with nothing new.
			<-ctx.Done()
			return eventstore.Message{}, ctx.Err()
		}
		m, err := c.inner.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.s.fail(err)
			}
			return m, err
		}
		switch m.Kind {
		case eventstore.EventAppeared:
			e := m.Event
			if c.s.cut.past(e) {
				c.done = true
				return eventstore.Message{Kind: eventstore.CaughtUp, Position: c.s.last}, nil
			}
			c.s.read++
			c.tick(e.Position)
			if !c.s.cut.Includes(e) {
				continue
			}
			c.s.kept++
			c.s.last, c.s.lastTime = e.Position, e.Metadata.Time
			return m, nil
		case eventstore.CaughtUp:
			c.done = true
			// Report the last kept event, not the end of the log: after a time cut the read models stand there.
			return eventstore.Message{Kind: eventstore.CaughtUp, Position: c.s.last}, nil
		default:
			// A checkpoint past events no read model selects may lie beyond a position cut; it carries nothing
			// the replay needs.
			continue
		}
	}
}

func (c *cutSubscription) tick(pos eventstore.Position) {
	if c.s.progress == nil {
		return
	}
	if c.sinceLook++; c.sinceLook < progressLook {
		return
	}
	c.sinceLook = 0
	if time.Since(c.reported) < c.s.every {
		return
	}
	c.reported = time.Now()
	c.s.progress(ReplayProgress{Read: c.s.read, Kept: c.s.kept, Position: pos, Elapsed: time.Since(c.s.start)})
}

func (c *cutSubscription) Close() error { return c.inner.Close() }
