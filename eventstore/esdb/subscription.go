package esdb

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/kazna-ledger/kazna/eventstore"
)

// SubscribeAll follows $all with a server-side filter; the server does the catch-up and the hand-off to live.
func (s *Store) SubscribeAll(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := filter.Validate(); err != nil {
		return nil, err
	}
	opts := kurrentdb.SubscribeToAllOptions{Filter: serverFilter(filter)}
	switch from {
	case eventstore.StartPosition:
		opts.From = kurrentdb.Start{}
	case eventstore.EndPosition:
		opts.From = kurrentdb.End{}
	default:
		opts.From = kurrentdb.Position{Commit: from.Commit, Prepare: from.Prepare}
	}
	inner, err := s.client.SubscribeToAll(ctx, opts)
	if err != nil {
		return nil, mapError("subscribe to", "$all", err)
	}
	sub := &subscription{inner: inner, filter: filter, messages: make(chan *kurrentdb.SubscriptionEvent), done: make(chan struct{})}
	go sub.pump()
	return sub, nil
}

// serverFilter asks the server for the events Kazna wants and never for its own ($-prefixed) events.
func serverFilter(f eventstore.Filter) *kurrentdb.SubscriptionFilter {
	switch {
	case len(f.StreamPrefixes) > 0:
		return &kurrentdb.SubscriptionFilter{Type: kurrentdb.StreamFilterType, Prefixes: f.StreamPrefixes}
	case len(f.EventTypePrefixes) > 0:
		return &kurrentdb.SubscriptionFilter{Type: kurrentdb.EventFilterType, Prefixes: f.EventTypePrefixes}
	}
	return kurrentdb.ExcludeSystemEventsFilter()
}

// subscription turns the client's blocking Recv into a Next that honours its context, through one pump
// goroutine that hands over one server message at a time (no buffering, so nothing is read ahead and lost).
type subscription struct {
	inner    *kurrentdb.Subscription
	filter   eventstore.Filter
	messages chan *kurrentdb.SubscriptionEvent
	done     chan struct{}
	once     sync.Once
	err      error // set by the pump before it closes messages
}

func (s *subscription) pump() {
	defer close(s.messages)
	for {
		ev := s.inner.Recv()
		if ev.SubscriptionDropped != nil {
			select {
			case <-s.done:
				s.err = eventstore.ErrClosed
			default:
				s.err = fmt.Errorf("esdb: subscription to $all dropped: %w", ev.SubscriptionDropped.Error)
			}
			return
		}
		select {
		case s.messages <- ev:
		case <-s.done:
			s.err = eventstore.ErrClosed
			return
		}
	}
}

// Next returns the next message; see eventstore.Subscription.
func (s *subscription) Next(ctx context.Context) (eventstore.Message, error) {
	for {
		var ev *kurrentdb.SubscriptionEvent
		var ok bool
		select {
		case <-ctx.Done():
			return eventstore.Message{}, ctx.Err()
		case ev, ok = <-s.messages:
		}
		if !ok {
			if errors.Is(s.err, context.Canceled) || ctx.Err() != nil {
				return eventstore.Message{}, errors.Join(context.Canceled, s.err)
			}
			return eventstore.Message{}, s.err
		}
		switch {
		case ev.EventAppeared != nil:
			e := recordedOf(ev.EventAppeared)
			if isSystem(e.Stream, e.Type) || !s.filter.Matches(e.Stream, e.Type) {
				continue // the server filter should have left it out; never hand it on
			}
			return eventstore.Message{Kind: eventstore.EventAppeared, Event: &e, Position: e.Position}, nil
		case ev.CheckPointReached != nil:
			return eventstore.Message{Kind: eventstore.Checkpoint, Position: eventstore.Position{Commit: ev.CheckPointReached.Commit, Prepare: ev.CheckPointReached.Prepare}}, nil
		case ev.CaughtUp != nil:
			m := eventstore.Message{Kind: eventstore.CaughtUp}
			if p := ev.CaughtUp.Position; p != nil {
				m.Position = eventstore.Position{Commit: p.Commit, Prepare: p.Prepare}
			}
			return m, nil
		case ev.FellBehind != nil:
			continue
		default:
			// Servers older than KurrentDB send CaughtUp without a timestamp, which this client turns into an
			// event with no field set.
			return eventstore.Message{Kind: eventstore.CaughtUp}, nil
		}
	}
}

// Close ends the subscription; a Next waiting on it returns eventstore.ErrClosed.
func (s *subscription) Close() error {
	s.once.Do(func() {
		close(s.done)
		s.inner.Close()
	})
	return nil
}
