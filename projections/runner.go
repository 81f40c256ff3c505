package projections

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kazna-ledger/kazna/eventstore"
)

// Projection is a read model fed by the Runner.
//
// Locking rule: the Runner calls a projection's Apply from one goroutine at a time, one event at a time, in
// log order, and holds no lock of its own while it does. With Options.Lanes > 1, different projections may
// be applying at the same time on different goroutines, so Apply must not read another projection's state. Readers (HTTP handlers) read concurrently, so each projection guards its
// own state, typically with a sync.RWMutex taken for writing in Apply and for reading in its query methods.
// Apply must not block on the Runner (WaitFor, WaitCaughtUp): the Runner is waiting for Apply.
type Projection interface {
	// Name identifies the projection in logs and errors; unique within a Runner.
	Name() string
	// Filter selects the events Apply receives; the zero Filter is every event.
	Filter() eventstore.Filter
	// Apply folds one event into the read model. An error stops the Runner: a read model that skipped an
	// event would answer wrongly from then on, which is worse than not answering.
	Apply(event eventstore.RecordedEvent) error
}

// Subscriber is what the Runner needs of the event store; every eventstore.Store has it.
type Subscriber interface {
	SubscribeAll(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error)
}

// Defaults of Options.
const (
	DefaultMaxWait     = 2 * time.Second
	DefaultMaxWaiters  = 10_000
	DefaultRetryMin    = 100 * time.Millisecond
	DefaultRetryMax    = 5 * time.Second
	DefaultMaxFailures = 10
)

// Options tune a Runner; the zero value takes the defaults.
type Options struct {
	// Logger receives subscription drops and resumptions; nil means slog.Default().
	Logger *slog.Logger
	// From is the position to follow the log after, for a Runner whose projections were restored from a
	// snapshot taken at that position. Zero means the start of the log.
	From eventstore.Position
	// MaxWait bounds every WaitFor, whatever the caller's context.
	MaxWait time.Duration
	// MaxWaiters bounds the WaitFor calls blocked at once; more are refused with ErrTooManyWaiters.
	MaxWaiters int
	// RetryMin and RetryMax bound the pause before resubscribing after a drop; it doubles from RetryMin up
	// to RetryMax while subscriptions keep failing.
	RetryMin, RetryMax time.Duration
	// MaxFailures bounds the subscriptions in a row that fail before delivering anything; then Run gives up.
	MaxFailures int
	// Lanes is how many goroutines apply a large batch of events (a catch-up's) side by side, each to its own
	// share of the projections (see lanes.go); 0 or 1 applies everything on the Runner's goroutine. Only for
	// projections that do not read each other's state in Apply, as read models do not.
	Lanes int
}

var (
	// ErrInvalid is a Runner that cannot be built from what was given.
	ErrInvalid = errors.New("projections: invalid runner")
	// ErrWaitTimeout is a WaitFor that ran out of MaxWait before the read models reached the position: the
	// caller may answer from read models that do not yet show its write.
	ErrWaitTimeout = errors.New("projections: read models did not reach the position in time")
	// ErrTooManyWaiters is a WaitFor refused because MaxWaiters calls are already waiting.
	ErrTooManyWaiters = errors.New("projections: too many waiters")
	// ErrStopped is a Runner whose Run has returned: its read models will not move any more.
	ErrStopped = errors.New("projections: runner stopped")
	// ErrAlreadyRun is a second call of Run.
	ErrAlreadyRun = errors.New("projections: Run called twice")
)

// ApplyError is a projection that failed on an event; Run returns it and stops.
type ApplyError struct {
	Projection string
	Position   eventstore.Position
	Stream     string
	Revision   uint64
	Err        error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("projections: %s failed on %s@%d (position %v): %v", e.Projection, e.Stream, e.Revision, e.Position, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Runner follows $all and keeps its projections up to date. It is safe for concurrent use; Run must be called
// once.
type Runner struct {
	store       Subscriber
	projections []Projection
	filters     []eventstore.Filter // projections[i].Filter(), read once
	filter      eventstore.Filter   // what the subscription asks the store for
	opts        Options
	log         *slog.Logger

	// byType caches, per event type, which projections select it when every filter selects by event type
	// (or selects everything), so that each event costs one map lookup instead of a prefix scan per
	// projection. Only the goroutine that applies events uses it; nil when some filter selects by stream.
	byType map[string][]bool

	lanes *lanes // nil: one lane

	ran  atomic.Bool
	done chan struct{} // closed when Run returns

	// mu guards what follows. It is held only to read or change these fields, never while calling the store,
	// a projection or the logger.
	mu       sync.Mutex
	applied  eventstore.Position // every event up to here has been applied (or was not selected)
	caughtUp bool
	ready    chan struct{} // closed while caughtUp; replaced when the subscription drops
	waiters  waiterHeap
	stopErr  error // why Run returned, once it has
}

// NewRunner returns a Runner of projections on store. It does not subscribe until Run.
func NewRunner(store Subscriber, opts Options, projections ...Projection) (*Runner, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: no store", ErrInvalid)
	}
	if len(projections) == 0 {
		return nil, fmt.Errorf("%w: no projection", ErrInvalid)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.MaxWaiters == 0 {
		opts.MaxWaiters = DefaultMaxWaiters
	}
	if opts.RetryMin == 0 {
		opts.RetryMin = DefaultRetryMin
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = max(DefaultRetryMax, opts.RetryMin)
	}
	if opts.MaxFailures == 0 {
		opts.MaxFailures = DefaultMaxFailures
	}
	if opts.MaxWait < 0 || opts.Lanes < 0 || opts.MaxWaiters < 0 || opts.RetryMin < 0 || opts.RetryMax < opts.RetryMin || opts.MaxFailures < 0 {
		return nil, fmt.Errorf("%w: negative or inverted bound in %+v", ErrInvalid, opts)
	}
	r := &Runner{store: store, opts: opts, log: opts.Logger, done: make(chan struct{}), ready: make(chan struct{}), applied: opts.From}
	names := map[string]bool{}
	for i, p := range projections {
		if p == nil {
			return nil, fmt.Errorf("%w: projection %d is nil", ErrInvalid, i)
		}
		name := p.Name()
		if name == "" || names[name] {
			return nil, fmt.Errorf("%w: projection %d: name %q is empty or taken", ErrInvalid, i, name)
		}
		names[name] = true
		f := p.Filter()
		if err := f.Validate(); err != nil {
			return nil, fmt.Errorf("%w: projection %s: %v", ErrInvalid, name, err)
		}
		r.projections = append(r.projections, p)
		r.filters = append(r.filters, f)
	}
	r.filter = union(r.filters)
	r.byType = map[string][]bool{}
	for _, f := range r.filters {
		if len(f.StreamPrefixes) > 0 {
			r.byType = nil
		}
	}
	r.lanes = newLanes(r, opts.Lanes)
	return r, nil
}

// maxCachedTypes bounds Runner.byType; a log with more event types than this is matched without the cache.
const maxCachedTypes = 4096

// union is one filter that selects every event any of fs selects. A store filters by stream prefix or by
// type prefix, not both, so a mix becomes the empty filter and each projection's own filter does the rest.
func union(fs []eventstore.Filter) eventstore.Filter {
	var streams, types []string
	seen := map[string]bool{}
	for _, f := range fs {
		if f.IsEmpty() {
			return eventstore.Filter{}
		}
		for _, p := range f.StreamPrefixes {
			if !seen["s"+p] {
				seen["s"+p] = true
				streams = append(streams, p)
			}
		}
		for _, p := range f.EventTypePrefixes {
			if !seen["t"+p] {
				seen["t"+p] = true
				types = append(types, p)
			}
		}
	}
	if len(streams) > 0 && len(types) > 0 {
		return eventstore.Filter{}
	}
	return eventstore.Filter{StreamPrefixes: streams, EventTypePrefixes: types}
}

// Checkpoint is the position the read models have reached: every selected event up to it is applied. A
// snapshot of the projections taken together with it can be restored with Options.From.
func (r *Runner) Checkpoint() eventstore.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied
}

// CaughtUp reports whether the current subscription has delivered everything written before it started,
// so that the read models are current; it turns false while a dropped subscription is being resumed.
func (r *Runner) CaughtUp() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.caughtUp
}

// Stopped reports why Run returned, or nil while it runs (or before it started). A stopped Runner's read
// models no longer move: readiness checks should report it.
func (r *Runner) Stopped() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopErr
}

// Run follows the log until ctx is done (it returns nil) or a projection fails (it returns the *ApplyError)
// or the store stays unreachable for MaxFailures subscriptions in a row (it returns the last error). A
// subscription that drops is resumed after the last applied position, so no event is applied twice.
func (r *Runner) Run(ctx context.Context) (err error) {
	if r.ran.Swap(true) {
		return ErrAlreadyRun
	}
	defer func() {
		cause := err
		if cause == nil {
			cause = context.Cause(ctx)
		}
		r.stop(cause)
	}()
	failures := 0
	pause := r.opts.RetryMin
	for {
		progressed, err := r.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if applyErr := (*ApplyError)(nil); errors.As(err, &applyErr) {
			r.log.Error("projections: a projection failed; read models stopped", "err", err)
			return err
		}
		if progressed {
			failures, pause = 0, r.opts.RetryMin
		}
		if failures++; failures > r.opts.MaxFailures {
			return fmt.Errorf("projections: gave up after %d failed subscriptions: %w", failures, err)
		}
		from := r.setDropped()
		r.log.Warn("projections: subscription dropped; resuming", "after", from.String(), "in", pause, "failures", failures, "err", err)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		pause = min(2*pause, r.opts.RetryMax)
	}
}

// follow runs one subscription until it fails; progressed reports that it delivered at least one message.
//
// A reader goroutine takes messages from the subscription ahead of this loop (at most maxReadAhead), so
// that reading the log and applying events run on two cores: in a rebuild from the embedded store, reading
// and decoding the records is about a third of the work. Messages are applied in the order read, and a
// subscription error is seen after the messages read before it, so nothing changes for the projections.
func (r *Runner) follow(ctx context.Context) (progressed bool, err error) {
	from := r.Checkpoint()
	sub, err := r.store.SubscribeAll(ctx, from, r.filter)
	if err != nil {
		return false, err
	}
	ahead := newReadAhead()
	readCtx, stopReading := context.WithCancel(ctx)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		ahead.fill(readCtx, sub)
	}()
	defer func() {
		stopReading()
		sub.Close()
		<-readerDone
	}()
	if r.lanes != nil {
		stopLanes := r.lanes.start()
		defer stopLanes()
	}
	applied := from // only this goroutine moves r.applied, so this copy is always equal to it
	var batch []eventstore.Message
	for {
		var readErr error
		batch, readErr = ahead.take(ctx, batch)
		if len(batch) > 0 {
			progressed = true
		}
		var err error
		if r.lanes != nil && len(batch) >= minLaneBatch {
			applied, err = r.applyShared(batch, applied)
		} else {
			applied, err = r.applyBatch(batch, applied)
		}
		if err != nil {
			return progressed, err
		}
		if readErr != nil {
			return progressed, readErr
		}
	}
}

// applyBatch applies a batch one event at a time and moves the checkpoint after each; it returns the new
// checkpoint.
func (r *Runner) applyBatch(batch []eventstore.Message, applied eventstore.Position) (eventstore.Position, error) {
	for _, msg := range batch {
		switch msg.Kind {
		case eventstore.EventAppeared:
			if msg.Event == nil {
				return applied, errNoEvent
			}
			if !applied.Less(msg.Event.Position) {
				// The port promises each event once, in order; applying it again would count it twice.
				r.log.Warn("projections: skipped an event at or before the checkpoint", "position", msg.Event.Position.String(), "checkpoint", applied.String())
				continue
			}
			if err := r.apply(msg.Event); err != nil {
				return applied, err
			}
			applied = msg.Event.Position
			r.advance(applied, false)
		case eventstore.Checkpoint, eventstore.CaughtUp:
			if applied.Less(msg.Position) {
				applied = msg.Position
			}
			r.advance(applied, msg.Kind == eventstore.CaughtUp)
		}
	}
	return applied, nil
}

// maxReadAhead bounds the messages read but not yet applied (for the embedded store, a few pages of the log).
const maxReadAhead = 4096

// readAhead hands messages from the reader goroutine to the applying loop in batches: the applier takes
// everything read while it was busy, so the two meet once per batch rather than once per message.
type readAhead struct {
	mu    sync.Mutex
	queue []eventstore.Message
	err   error // the subscription's, after the queued messages

	read chan struct{} // a message or the error was queued (capacity 1: a wake-up, not a count)
	room chan struct{} // the applier took the queue
}

func newReadAhead() *readAhead {
	return &readAhead{read: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// fill reads sub until it fails or ctx ends, waiting while maxReadAhead messages are queued.
func (a *readAhead) fill(ctx context.Context, sub eventstore.Subscription) {
	for {
		msg, err := sub.Next(ctx)
		a.mu.Lock()
		if err != nil {
			a.err = err
			a.mu.Unlock()
			wake(a.read)
			return
		}
		a.queue = append(a.queue, msg)
		n := len(a.queue)
		a.mu.Unlock()
		if n == 1 {
			wake(a.read)
		}
		for n >= maxReadAhead {
			select {
			case <-a.room:
			case <-ctx.Done():
				return
			}
			a.mu.Lock()
			n = len(a.queue)
			a.mu.Unlock()
		}
	}
}

// take waits for messages (or the reader's error) and returns all that are queued; done is the previous
// batch, whose array it reuses.
func (a *readAhead) take(ctx context.Context, done []eventstore.Message) ([]eventstore.Message, error) {
	clear(done) // let the applied events go
	for {
		a.mu.Lock()
		if len(a.queue) > 0 || a.err != nil {
			batch, err := a.queue, a.err
			a.queue = done[:0]
			a.mu.Unlock()
			wake(a.room)
			return batch, err
		}
		a.mu.Unlock()
		select {
		case <-a.read:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// apply hands one event to every projection that selects it. A panicking projection is a failing one: it
// stops the Runner rather than the process.
func (r *Runner) apply(ev *eventstore.RecordedEvent) (err error) {
	selected := r.selection(ev)
	for i, p := range r.projections {
		if selected != nil && !selected[i] || selected == nil && !r.filters[i].Matches(ev.Stream, ev.Type) {
			continue
		}
		if err := applyOne(p, *ev); err != nil {
			return &ApplyError{Projection: p.Name(), Position: ev.Position, Stream: ev.Stream, Revision: ev.Revision, Err: err}
		}
	}
	return nil
}

// selection is which projections select ev, from the cache by event type; nil when it cannot say (a filter
// selects by stream, or the log has more types than the cache keeps), and each filter must be asked.
func (r *Runner) selection(ev *eventstore.RecordedEvent) []bool {
	if r.byType == nil {
		return nil
	}
	selected, cached := r.byType[ev.Type]
	if !cached && len(r.byType) < maxCachedTypes {
		selected = make([]bool, len(r.filters))
		for i, f := range r.filters {
			selected[i] = f.Matches(ev.Stream, ev.Type)
		}
		r.byType[strings.Clone(ev.Type)], cached = selected, true // the type may share memory with a whole page of the log
	}
	if !cached {
		return nil
	}
	return selected
}

func applyOne(p Projection, ev eventstore.RecordedEvent) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return p.Apply(ev)
}

// advance records that the read models reached pos and wakes the waiters it satisfies.
func (r *Runner) advance(pos eventstore.Position, caughtUp bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = pos
	if caughtUp && !r.caughtUp {
		r.caughtUp = true
		close(r.ready)
	}
	for len(r.waiters) > 0 && !pos.Less(r.waiters[0].pos) {
		w := heap.Pop(&r.waiters).(*waiter)
		close(w.reached)
	}
}

// setDropped marks the read models as possibly behind until the next subscription catches up.
func (r *Runner) setDropped() eventstore.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.caughtUp {
		r.caughtUp = false
		r.ready = make(chan struct{})
	}
	return r.applied
}

// stop records why Run returned (never nil: a context's cause at worst) and releases every waiter.
func (r *Runner) stop(err error) {
	r.mu.Lock()
	r.stopErr = err
	if r.caughtUp {
		r.caughtUp = false
		r.ready = make(chan struct{}) // so that WaitCaughtUp now reports the stop
	}
	r.mu.Unlock()
	close(r.done)
}

// WaitFor blocks until the read models have applied everything up to pos (the Position of a write, from
// command.Result), for at most MaxWait or until ctx is done. It returns nil when they have, ErrWaitTimeout
// after MaxWait, ctx's error when ctx ends first, and ErrStopped once Run has returned.
//
// The position may be that of an event no projection selects: the Runner learns that the log moved past it
// from the store's Checkpoint messages. The embedded store sends one whenever a scan reaches the end of the
// log; KurrentDB sends them at its checkpoint interval, so there such a wait may take longer (bounded by
// MaxWait). Prefer the position of the write the reader will look for.
func (r *Runner) WaitFor(ctx context.Context, pos eventstore.Position) error {
	r.mu.Lock()
	if !r.applied.Less(pos) {
		r.mu.Unlock()
		return nil
	}
	if r.stopErr != nil {
		err := r.stopErr
		r.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrStopped, err)
	}
	if len(r.waiters) >= r.opts.MaxWaiters {
		r.mu.Unlock()
		return fmt.Errorf("%w: %d already waiting", ErrTooManyWaiters, r.opts.MaxWaiters)
	}
	w := &waiter{pos: pos, reached: make(chan struct{})}
	heap.Push(&r.waiters, w)
	r.mu.Unlock()

	t := time.NewTimer(r.opts.MaxWait)
	defer t.Stop()
	var err error
	select {
	case <-w.reached:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
		err = ErrWaitTimeout
	case <-r.done:
		err = ErrStopped
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if w.index >= 0 {
		heap.Remove(&r.waiters, w.index)
	} else {
		return nil // reached while we were giving up
	}
	if err == ErrStopped {
		return fmt.Errorf("%w: %w", ErrStopped, r.stopErr)
	}
	return fmt.Errorf("%w: read models at %v, waiting for %v", err, r.applied, pos)
}

// WaitCaughtUp blocks until the read models are current (see CaughtUp), ctx is done, or Run has returned.
// Use it with a deadline at start-up, before serving queries.
func (r *Runner) WaitCaughtUp(ctx context.Context) error {
	r.mu.Lock()
	ready := r.ready
	r.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.done:
		r.mu.Lock()
		defer r.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrStopped, r.stopErr)
	}
}

// waiter is one blocked WaitFor; the heap keeps the lowest position first, so advance wakes exactly the
// waiters it satisfies and no waiter is woken for nothing.
type waiter struct {
	pos     eventstore.Position
	reached chan struct{} // closed by advance
	index   int           // in the heap; -1 once removed
}

type waiterHeap []*waiter

func (h waiterHeap) Len() int           { return len(h) }
func (h waiterHeap) Less(i, j int) bool { return h[i].pos.Less(h[j].pos) }
func (h waiterHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waiterHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waiterHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.index = -1
	return w
}
