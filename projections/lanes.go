package projections

import (
	"errors"
	"time"

	"github.com/kazna-ledger/kazna/eventstore"
)

// Lanes: while a Runner catches up (a start, a replay), the reader hands it thousands of events at a time,
// and the read models, which share nothing, can fold them side by side. With Options.Lanes > 1 a large
// batch is shared out: each lane (a goroutine; the Runner's own is lane 0) applies the whole batch, in log
// order, to its own projections, one projection after the other; the Runner waits for every lane, then moves
// the checkpoint as the one-by-one loop would have. So each projection still sees every event it selects
// once, in order, from one goroutine at a time; only different projections now run at the same time. Small
// batches (a live Runner, one write at a time) are applied one by one on the Runner's goroutine as before.
// When a projection fails, the Runner stops at that event as before (the checkpoint stays before it); the
// projections of other lanes may have applied events past it. A stopped Runner's read models are not to be
// trusted either way (Stopped reports it, and readiness with it).
//
// Projections go to lanes by what they cost: each batch times every projection, and the lanes are dealt
// again now and then, most expensive first, each to the lane with the least work so far (in a rebuild the
// payments model is most of the work, so it gets a lane to itself on two cores).

// minLaneBatch is the smallest batch worth sharing out: below it, waking the lanes costs more than it gives.
const minLaneBatch = 256

// laneRedealEvery is how many shared batches pass between two deals of the projections to the lanes.
const laneRedealEvery = 16

type lanes struct {
	r *Runner
	n int

	// Dealt by the Runner's goroutine between batches; read by the lanes during one.
	of [][]int // lane → indexes of its projections, in the Runner's order

	// The batch being shared out, written before the lanes are woken and read-only until they are done.
	events []*eventstore.RecordedEvent
	sels   [][]bool // per event, the projections that select it (Runner.byType's); nil: ask the filters

	// Written by the lane that runs the projection or the lane, read after the batch.
	spent   []time.Duration // per projection, in this batch
	results []laneFailure   // per lane

	cost    []float64 // per projection, smoothed nanoseconds per batch
	batches int

	work []chan struct{} // per lane but 0: a batch is ready
	done chan struct{}   // a lane finished the batch
}

// laneFailure is the first event (index in the batch) a lane's projection failed on, and which projection.
type laneFailure struct {
	at   int // -1: none
	proj int
	err  error
}

func (f laneFailure) before(at, proj int) bool {
	return f.at >= 0 && (f.at < at || f.at == at && f.proj < proj)
}

func newLanes(r *Runner, n int) *lanes {
	n = min(n, len(r.projections))
	if n < 2 {
		return nil
	}
	l := &lanes{r: r, n: n, of: make([][]int, n), spent: make([]time.Duration, len(r.projections)),
		results: make([]laneFailure, n), cost: make([]float64, len(r.projections))}
	// Until the projections have been timed, deal them round-robin.
	for i := range r.projections {
		l.of[i%n] = append(l.of[i%n], i)
	}
	return l
}

// start runs the lanes but the Runner's own; the returned func stops them.
func (l *lanes) start() (stop func()) {
	l.work = make([]chan struct{}, l.n)
	l.done = make(chan struct{}, l.n)
	finished := make(chan struct{}, l.n)
	for lane := 1; lane < l.n; lane++ {
		ch := make(chan struct{})
		l.work[lane] = ch
		go func() {
			defer func() { finished <- struct{}{} }()
			for range ch {
				l.results[lane] = l.run(lane)
				l.done <- struct{}{}
			}
		}()
	}
	return func() {
		for lane := 1; lane < l.n; lane++ {
			close(l.work[lane])
		}
		for lane := 1; lane < l.n; lane++ {
			<-finished
		}
	}
}

// apply shares out l.events and returns the earliest failure (at -1 for none).
func (l *lanes) apply() laneFailure {
	for lane := 1; lane < l.n; lane++ {
		l.work[lane] <- struct{}{}
	}
	first := l.run(0)
	for lane := 1; lane < l.n; lane++ {
		<-l.done
	}
	for _, f := range l.results[1:] {
		if f.at >= 0 && (first.at < 0 || f.before(first.at, first.proj)) {
			first = f
		}
	}
	l.learn()
	return first
}

// run applies the batch to the projections of one lane. A projection that fails stops there; the lane's
// other projections stop before that event too, since the Runner will stop at it.
func (l *lanes) run(lane int) laneFailure {
	fail := laneFailure{at: -1}
	for _, pi := range l.of[lane] {
		start := time.Now()
		p, f := l.r.projections[pi], l.r.filters[pi]
		for k, ev := range l.events {
			if fail.before(k, pi) {
				break
			}
			if sel := l.sels[k]; sel != nil && !sel[pi] || sel == nil && !f.Matches(ev.Stream, ev.Type) {
				continue
			}
			if err := applyOne(p, *ev); err != nil {
				fail = laneFailure{at: k, proj: pi, err: err}
				break
			}
		}
		l.spent[pi] = time.Since(start)
	}
	return fail
}

// learn folds the batch's times into the costs, and deals the projections again now and then: the most
// expensive first, each to the lane with the least cost so far.
func (l *lanes) learn() {
	for i, d := range l.spent {
		l.cost[i] = 0.75*l.cost[i] + 0.25*float64(d)
	}
	if l.batches++; l.batches%laneRedealEvery != 1 {
		return
	}
	order := make([]int, len(l.cost))
	for i := range order {
		order[i] = i
	}
	// Insertion sort by cost, highest first: a handful of projections.
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && l.cost[order[j]] > l.cost[order[j-1]]; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	load := make([]float64, l.n)
	of := make([][]int, l.n)
	for _, pi := range order {
		lane := 0
		for k := 1; k < l.n; k++ {
			if load[k] < load[lane] {
				lane = k
			}
		}
		load[lane] += l.cost[pi]
		of[lane] = append(of[lane], pi)
	}
	for lane := range of {
		// The Runner's order within a lane, so that a failure is found where the one-by-one loop finds it.
		for i := 1; i < len(of[lane]); i++ {
			for j := i; j > 0 && of[lane][j] < of[lane][j-1]; j-- {
				of[lane][j], of[lane][j-1] = of[lane][j-1], of[lane][j]
			}
		}
	}
	l.of = of
}

// applyShared applies a batch through the lanes and moves the checkpoint as the one-by-one loop (applyBatch)
// would: to the last event or checkpoint of the batch, or, when an event fails, to just before it.
func (r *Runner) applyShared(batch []eventstore.Message, applied eventstore.Position) (eventstore.Position, error) {
	l := r.lanes
	l.events, l.sels = l.events[:0], l.sels[:0]
	// First what to apply: the events after the checkpoint, up to a malformed message.
	at := applied
collect:
	for _, msg := range batch {
		switch msg.Kind {
		case eventstore.EventAppeared:
			if msg.Event == nil {
				break collect // the second pass reports it
			}
			if at.Less(msg.Event.Position) {
				at = msg.Event.Position
				l.events = append(l.events, msg.Event)
				l.sels = append(l.sels, r.selection(msg.Event))
			}
		case eventstore.Checkpoint, eventstore.CaughtUp:
			if at.Less(msg.Position) {
				at = msg.Position
			}
		}
	}
	fail := laneFailure{at: -1}
	if len(l.events) > 0 {
		fail = l.apply()
	}
	clear(l.events) // let the applied events go
	// Then the checkpoint, message by message.
	k, caughtUp := 0, false
	for _, msg := range batch {
		switch msg.Kind {
		case eventstore.EventAppeared:
			if msg.Event == nil {
				r.advance(applied, caughtUp)
				return applied, errNoEvent
			}
			if !applied.Less(msg.Event.Position) {
				r.log.Warn("projections: skipped an event at or before the checkpoint", "position", msg.Event.Position.String(), "checkpoint", applied.String())
				continue
			}
			if k == fail.at {
				r.advance(applied, caughtUp)
				ev := msg.Event
				return applied, &ApplyError{Projection: r.projections[fail.proj].Name(), Position: ev.Position, Stream: ev.Stream, Revision: ev.Revision, Err: fail.err}
			}
			k++
			applied = msg.Event.Position
		case eventstore.Checkpoint, eventstore.CaughtUp:
			if applied.Less(msg.Position) {
				applied = msg.Position
			}
			caughtUp = caughtUp || msg.Kind == eventstore.CaughtUp
		}
	}
	r.advance(applied, caughtUp)
	return applied, nil
}

var errNoEvent = errors.New("projections: subscription sent an event message without an event")
