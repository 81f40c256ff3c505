package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/eventstore"
)

// LogReader is what Verify and the auditor's reads need of the event store; every eventstore.Store has it.
type LogReader interface {
	ReadAll(ctx context.Context, dir eventstore.Direction, from eventstore.Position, count int) ([]eventstore.RecordedEvent, error)
	ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, count int) ([]eventstore.RecordedEvent, error)
}

// Finding is the first event at which the log is not what was written: a broken hash chain (a changed,
// missing or reordered event of a stream), a gap or a step back in the log's positions, or a record that
// cannot be read. Verify returns it as its error.
type Finding struct {
	Stream   string // empty when the fault is not in one stream (a gap in the log)
	Revision uint64
	// HasEvent says whether Stream, Revision, EventID and Type name an event (they do not for a log that
	// cannot be read past Position).
	HasEvent bool
	EventID  uuid.UUID
	Type     string
	Position eventstore.Position
	Reason   string
}

func (f *Finding) Error() string {
	if !f.HasEvent {
		return fmt.Sprintf("log position %s: %s", f.Position, f.Reason)
	}
	return fmt.Sprintf("stream %q revision %d (log position %s, event %s %s): %s", f.Stream, f.Revision, f.Position, f.Type, f.EventID, f.Reason)
}

// VerifyOptions tune Verify; the zero value checks the chains and the order of the log.
type VerifyOptions struct {
	// DensePositions says that the store numbers the log 1, 2, 3… (the embedded store), so that a missing
	// event shows as a gap. KurrentDB's positions are byte offsets: there only their order is checked, and
	// a missing event shows in its stream's chain.
	DensePositions bool
	// StreamTails reads, after the log, each stream's last event through the stream index and checks that it
	// is the last event the log holds for that stream: an index that lost or gained events is found.
	StreamTails bool
	// PageSize is how many events one read of the log returns (default 4,096, at most MaxReadCount).
	PageSize int
	// Progress, if set, is called about every ProgressEvery (default 2 s) and once at the end.
	Progress      func(VerifyProgress)
	ProgressEvery time.Duration
}

// VerifyProgress is how far a verification has gone.
type VerifyProgress struct {
	Events   uint64
	Streams  int
	Position eventstore.Position
	Elapsed  time.Duration
}

// VerifyReport is what a clean verification saw.
type VerifyReport struct {
	Events   uint64
	Streams  int
	Last     eventstore.Position // the last event's position; zero for an empty log
	Duration time.Duration
}

const defaultPageSize = 4096

// streamLink is where a stream's chain stands after the events of it seen so far.
type streamLink struct {
	next uint64
	last eventstore.Hash
	pos  eventstore.Position
}

// Verify reads the whole log forwards and checks every event: its position follows the previous one (with
// DensePositions, by exactly one), its revision follows its stream's previous event, its PrevHash is that
// event's Hash, and its Hash is the hash of its own contents. The first fault is returned as a *Finding;
// any other error (ctx, a store that cannot be reached) is returned as it is.
func Verify(ctx context.Context, store LogReader, opts VerifyOptions) (VerifyReport, error) {
	page := opts.PageSize
	if page <= 0 {
		page = defaultPageSize
	}
	page = min(page, eventstore.MaxReadCount)
	every := opts.ProgressEvery
	if every <= 0 {
		every = 2 * time.Second
	}
	start := time.Now()
	lastReport := start
	streams := map[string]*streamLink{}
	var rep VerifyReport
	progress := func() {
		if opts.Progress != nil {
			opts.Progress(VerifyProgress{Events: rep.Events, Streams: len(streams), Position: rep.Last, Elapsed: time.Since(start)})
		}
	}
	from := eventstore.StartPosition
	for {
		events, err := store.ReadAll(ctx, eventstore.Forwards, from, page)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, eventstore.ErrClosed) {
				return rep, err
			}
			if page > 1 {
				// A page fails as a whole: read on one event at a time to name the first that cannot be read.
				page = 1
				continue
			}
			next := from
			if opts.DensePositions {
				next = eventstore.Position{Commit: from.Commit + 1, Prepare: from.Commit + 1}
			}
			return rep, &Finding{Position: next, Reason: fmt.Sprintf("the log cannot be read after position %s: %v", from, err)}
		}
		if len(events) == 0 {
			break
		}
		for i := range events {
			e := &events[i]
			if f := checkPlace(e, rep.Last, rep.Events == 0, opts.DensePositions); f != nil {
				return rep, f
			}
			link := streams[e.Stream]
			if link == nil {
				link = &streamLink{}
				streams[strings.Clone(e.Stream)] = link
			}
			if f := checkLink(e, link); f != nil {
				return rep, f
			}
			link.next, link.last, link.pos = e.Revision+1, e.Hash, e.Position
			rep.Events++
			rep.Last = e.Position
		}
		from = events[len(events)-1].Position
		if time.Since(lastReport) >= every {
			lastReport = time.Now()
			progress()
		}
	}
	if opts.StreamTails {
		if err := checkTails(ctx, store, streams); err != nil {
			return rep, err
		}
	}
	rep.Streams, rep.Duration = len(streams), time.Since(start)
	progress()
	return rep, nil
}

func eventFinding(e *eventstore.RecordedEvent, format string, args ...any) *Finding {
	return &Finding{Stream: e.Stream, Revision: e.Revision, HasEvent: true, EventID: e.ID, Type: e.Type, Position: e.Position,
		Reason: fmt.Sprintf(format, args...)}
}

// checkPlace checks e's position against the previous event's.
func checkPlace(e *eventstore.RecordedEvent, prev eventstore.Position, first, dense bool) *Finding {
	if dense {
		want := prev.Commit + 1
		if e.Position.Commit != e.Position.Prepare || e.Position.Commit != want {
			if first {
				return eventFinding(e, "the log starts at position %s, not 1: the events before it are missing", e.Position)
			}
			return eventFinding(e, "the log jumps from position %s to %s: %d event(s) missing before this one", prev, e.Position,
				int64(e.Position.Commit)-int64(want))
		}
		return nil
	}
	if !first && !prev.Less(e.Position) {
		return eventFinding(e, "position %s does not follow the previous event's %s: the log is out of order", e.Position, prev)
	}
	return nil
}

// checkLink checks e against its stream's chain so far.
func checkLink(e *eventstore.RecordedEvent, link *streamLink) *Finding {
	if e.Revision != link.next {
		if e.Revision > link.next && link.next == 0 {
			return eventFinding(e, "the log holds no earlier event of the stream: revisions 0 to %d are missing", e.Revision-1)
		}
		if e.Revision > link.next {
			return eventFinding(e, "the stream's previous event in the log is revision %d: revision %d is missing", link.next-1, link.next)
		}
		return eventFinding(e, "revision %d appears again: the stream already has it (at position %s or before)", e.Revision, link.pos)
	}
	if e.PrevHash != link.last {
		return eventFinding(e, "its previous hash %s is not the hash %s of the stream's event before it", e.PrevHash, link.last)
	}
	want := eventstore.ChainHash(e.PrevHash, e.Stream, e.Revision, eventstore.EventData{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata})
	if e.Hash != want {
		return eventFinding(e, "its stored hash %s is not the hash of its contents (%s): the event was changed after it was written", e.Hash, want)
	}
	return nil
}

// checkTails compares each stream's last event, as the stream index gives it, with the log's.
func checkTails(ctx context.Context, store LogReader, streams map[string]*streamLink) error {
	names := make([]string, 0, len(streams))
	for name := range streams {
		names = append(names, name)
	}
	slices.Sort(names) // the same first finding on every run
	for _, name := range names {
		link := streams[name]
		last, err := store.ReadStream(ctx, name, eventstore.Backwards, eventstore.StreamEnd, 1)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			return &Finding{Stream: name, Revision: link.next - 1, HasEvent: true, Position: link.pos,
				Reason: fmt.Sprintf("the stream cannot be read through its index: %v", err)}
		}
		if len(last) != 1 || last[0].Revision != link.next-1 || last[0].Hash != link.last || last[0].Position != link.pos {
			got := "nothing"
			if len(last) == 1 {
				got = fmt.Sprintf("revision %d at position %s", last[0].Revision, last[0].Position)
			}
			return &Finding{Stream: name, Revision: link.next - 1, HasEvent: true, Position: link.pos,
				Reason: fmt.Sprintf("the log's last event of the stream is revision %d at position %s, but the stream index ends at %s", link.next-1, link.pos, got)}
		}
	}
	return nil
}
