package bolt

import (
	"context"
	"fmt"
	"sync"

	bbolt "go.etcd.io/bbolt"

	"github.com/kazna-ledger/kazna/eventstore"
)

// SubscribeAll follows the global log after from; see eventstore.Store. EndPosition means "from the current
// end". The subscription ends when ctx is done, when it is closed, or when the store closes.
//
// A subscription has no goroutine and no queue of its own: Next reads the log from its cursor in bounded
// pages, and only when a read finds nothing does it wait for the next commit, taking the wake-up channel
// before that read. Catch-up and live are the same loop, so the hand-off can neither skip nor repeat an event.
func (s *Store) SubscribeAll(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error) {
	if s.isClosed.Load() {
		return nil, eventstore.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := filter.Validate(); err != nil {
		return nil, err
	}
	cursor := from.Commit
	if from == eventstore.EndPosition {
		cursor = s.last.Load()
	}
	return &subscription{s: s, ctx: ctx, filter: filter, cursor: cursor, done: make(chan struct{})}, nil
}

type subscription struct {
	s      *Store
	ctx    context.Context // the subscribe call's context: the subscription's lifetime
	filter eventstore.Filter
	done   chan struct{}
	once   sync.Once

	mu       sync.Mutex // Next is called from one goroutine at a time; this keeps a careless second one safe
	cursor   uint64     // position of the last event read (delivered or passed over)
	skipped  int        // events passed over since a message last reported a position
	caughtUp bool
	pending  []eventstore.Message
}

func (sub *subscription) Close() error {
	sub.once.Do(func() { close(sub.done) })
	return nil
}

func (sub *subscription) Next(ctx context.Context) (eventstore.Message, error) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for {
		if err := sub.ended(ctx); err != nil {
			return eventstore.Message{}, err
		}
		if len(sub.pending) > 0 {
			m := sub.pending[0]
			sub.pending[0] = eventstore.Message{}
			sub.pending = sub.pending[1:]
			return m, nil
		}
		wake := sub.s.notify.wait()
		read, err := sub.read()
		if err != nil {
			return eventstore.Message{}, err
		}
		if read > 0 {
			continue
		}
		if !sub.caughtUp {
			sub.caughtUp, sub.skipped = true, 0 // CaughtUp reports a place too
			return eventstore.Message{Kind: eventstore.CaughtUp, Position: position(sub.cursor)}, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
		case <-sub.ctx.Done():
		case <-sub.done:
		case <-sub.s.closing:
		}
	}
}

func (sub *subscription) ended(ctx context.Context) error {
	select {
	case <-sub.done:
		return eventstore.ErrClosed
	case <-sub.s.closing:
		return eventstore.ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return sub.ctx.Err()
}

func position(p uint64) eventstore.Position { return eventstore.Position{Commit: p, Prepare: p} }

// read scans the log after the cursor (at most subscriptionScan events, at most subscriptionPage delivered)
// into pending, and returns how many events it scanned.
func (sub *subscription) read() (int, error) {
	if sub.cursor == ^uint64(0) {
		return 0, nil
	}
	type slot struct {
		kind eventstore.MessageKind
		pos  uint64
	}
	var col collector
	var slots []slot
	scanned := 0
	filtered := !sub.filter.IsEmpty()
	interval := sub.s.cfg.checkpointInterval
	// The cursor and the skip count move only if the whole read succeeds, so that a failed read loses nothing.
	cursor, skipped := sub.cursor, sub.skipped
	err := sub.s.view(func(tx *bbolt.Tx) error {
		lc := newLogCursor(tx.Bucket(bucketLog))
		for ok := lc.seek(cursor+1, false); ok; ok = scanned < subscriptionScan && col.len() < subscriptionPage && lc.next() {
			pos, v := lc.pos(), lc.rec()
			scanned++
			cursor = pos
			if filtered {
				stream, typ, err := peekStreamType(v)
				if err != nil {
					return fmt.Errorf("%w at position %d", err, pos)
				}
				if !sub.filter.Matches(string(stream), string(typ)) {
					if skipped++; skipped >= interval {
						skipped = 0
						slots = append(slots, slot{eventstore.Checkpoint, pos})
					}
					continue
				}
			}
			skipped = 0
			if col.pos == nil {
				col.grow(subscriptionPage)
			}
			col.add(pos, v)
			slots = append(slots, slot{eventstore.EventAppeared, pos})
		}
		// At the end of the log, report how far the scan went even when the interval is not reached: a
		// subscriber waiting for the position of a write its filter skips (read-your-writes after a write
		// that ends on another aggregate's event) learns at once that the log has passed it.
		if atEnd := scanned < subscriptionScan && col.len() < subscriptionPage; atEnd && filtered && skipped > 0 {
			skipped = 0
			slots = append(slots, slot{eventstore.Checkpoint, cursor})
		}
		col.seal()
		return lc.Err()
	})
	if err != nil {
		return 0, err
	}
	evs, err := col.events()
	if err != nil {
		return 0, err
	}
	sub.cursor, sub.skipped = cursor, skipped
	for _, sl := range slots {
		m := eventstore.Message{Kind: sl.kind, Position: position(sl.pos)}
		if sl.kind == eventstore.EventAppeared {
			m.Event = &evs[0]
			evs = evs[1:]
		}
		sub.pending = append(sub.pending, m)
	}
	return scanned, nil
}
