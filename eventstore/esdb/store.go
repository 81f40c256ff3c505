package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/kazna-ledger/kazna/eventstore"
)

// maxAppendAttempts bounds the re-reads after another writer moved the stream between our read of its tail and
// our append, for writers that expect Any or StreamExists (an exact expectation is answered at once).
const maxAppendAttempts = 10

// Store is an eventstore.Store on a KurrentDB or EventStoreDB server or cluster.
type Store struct {
	client *kurrentdb.Client
	closed atomic.Bool
}

var _ eventstore.Store = (*Store)(nil)

// IsURL reports whether s names a KurrentDB/EventStoreDB server rather than an embedded store.
func IsURL(s string) bool {
	for _, scheme := range []string{"esdb://", "esdb+discover://", "kurrentdb://", "kurrentdb+discover://", "kdb://", "kdb+discover://", "kurrent://", "kurrent+discover://"} {
		if strings.HasPrefix(s, scheme) {
			return true
		}
	}
	return false
}

// Open connects to the server named by a connection string such as "kurrentdb://127.0.0.1:2113?tls=false" or
// "esdb+discover://node1:2113,node2:2113". The client connects lazily: a server that is down shows up on the
// first read or append.
func Open(url string) (*Store, error) {
	if !IsURL(url) {
		return nil, fmt.Errorf("esdb: %q is not a KurrentDB/EventStoreDB connection string (esdb://, kurrentdb://, ...)", redact(url))
	}
	cfg, err := kurrentdb.ParseConnectionString(url)
	if err != nil {
		return nil, fmt.Errorf("esdb: parse connection string %q: %w", redact(url), err)
	}
	cfg.Logger = kurrentdb.NoopLogging()
	client, err := kurrentdb.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("esdb: new client: %w", err)
	}
	return &Store{client: client}, nil
}

// redact hides the password of a connection string in errors and logs.
func redact(url string) string {
	at := strings.Index(url, "@")
	scheme := strings.Index(url, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return url
	}
	return url[:scheme+3] + "***" + url[at:]
}

// Close closes the connection. Later calls return eventstore.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.client.Close()
}

func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	return nil
}

// Append writes events after checking expected against the stream's tail, which it reads anyway to continue
// the hash chain. The server is then asked for exactly that revision, so a concurrent writer makes the server
// refuse rather than fork the chain.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := s.checkOpen(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := eventstore.ValidateAppend(stream, expected, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	now := time.Now().UTC().Round(0)
	events = append([]eventstore.EventData(nil), events...)
	for i := range events {
		if events[i].Metadata.Time.IsZero() {
			events[i].Metadata.Time = now
		}
	}
	for attempt := 1; ; attempt++ {
		res, retry, err := s.appendOnce(ctx, stream, expected, events)
		if !retry || attempt == maxAppendAttempts {
			return res, err
		}
	}
}

// appendOnce makes one attempt; retry is true when another writer moved the stream in between and the
// writer's expectation may still hold.
func (s *Store) appendOnce(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (res eventstore.AppendResult, retry bool, err error) {
	tailCount := 1
	switch expected.(type) {
	case eventstore.Any, eventstore.StreamExists:
		tailCount = max(1, len(events)) // a retry of these lands at the tail: look for it there
	}
	tail, err := s.readStream(ctx, stream, kurrentdb.Backwards, kurrentdb.End{}, uint64(tailCount))
	if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
		return res, false, fmt.Errorf("esdb: append to %q: read its tail: %w", stream, err)
	}
	state := eventstore.StreamState{}
	var prev eventstore.Hash
	if len(tail) > 0 {
		state = eventstore.StreamState{Exists: true, LastRevision: tail[0].Revision}
		prev = tail[0].Hash
	}
	if len(events) > 0 && matchesTail(tail, events) {
		return resultOf(tail[0]), false, nil
	}
	if err := eventstore.CheckExpected(stream, expected, state); err != nil {
		if r, ok := s.findRetry(ctx, stream, expected, events); ok {
			return r, false, nil
		}
		return res, false, err
	}
	if len(events) == 0 {
		return eventstore.AppendResult{NextExpectedRevision: state.LastRevision}, false, nil
	}
	proposed := make([]kurrentdb.EventData, len(events))
	next := uint64(0)
	if state.Exists {
		next = state.LastRevision + 1
	}
	for i, e := range events {
		rev := next + uint64(i)
		h := eventstore.ChainHash(prev, stream, rev, e)
		meta, err := json.Marshal(metadataOf(e.Metadata, prev, h))
		if err != nil {
			return res, false, fmt.Errorf("esdb: append to %q: encode metadata: %w", stream, err)
		}
		proposed[i] = kurrentdb.EventData{EventID: e.ID, EventType: e.Type, ContentType: kurrentdb.ContentTypeJson, Data: e.Data, Metadata: meta}
		prev = h
	}
	var want kurrentdb.StreamState = kurrentdb.NoStream{}
	if state.Exists {
		want = kurrentdb.Revision(state.LastRevision)
	}
	wr, err := s.client.AppendToStream(ctx, stream, kurrentdb.AppendToStreamOptions{StreamState: want}, proposed...)
	if err != nil {
		if code(err) == kurrentdb.ErrorCodeWrongExpectedVersion {
			return res, true, &eventstore.RevisionConflict{Stream: stream, Expected: expected, Actual: state}
		}
		return res, false, mapError("append to", stream, err)
	}
	return eventstore.AppendResult{NextExpectedRevision: wr.NextExpectedVersion, Position: eventstore.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition}}, false, nil
}

// matchesTail reports whether the stream already ends with exactly these events (tail is newest first).
func matchesTail(tail []eventstore.RecordedEvent, events []eventstore.EventData) bool {
	if len(tail) < len(events) {
		return false
	}
	for i := range events {
		if tail[len(events)-1-i].ID != events[i].ID {
			return false
		}
	}
	return true
}

// findRetry recognises a retry after a lost reply: the events already sit in the stream exactly where the
// writer expected to put them.
func (s *Store) findRetry(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (eventstore.AppendResult, bool) {
	var at uint64
	switch e := expected.(type) {
	case eventstore.NoStream:
		at = 0
	case eventstore.Exact:
		at = uint64(e) + 1
	default:
		return eventstore.AppendResult{}, false
	}
	if len(events) == 0 {
		return eventstore.AppendResult{}, false
	}
	got, err := s.readStream(ctx, stream, kurrentdb.Forwards, kurrentdb.Revision(at), uint64(len(events)))
	if err != nil || len(got) != len(events) {
		return eventstore.AppendResult{}, false
	}
	for i := range events {
		if got[i].ID != events[i].ID {
			return eventstore.AppendResult{}, false
		}
	}
	return resultOf(got[len(got)-1]), true
}

func resultOf(last eventstore.RecordedEvent) eventstore.AppendResult {
	return eventstore.AppendResult{NextExpectedRevision: last.Revision, Position: last.Position}
}

// ReadStream reads a stream; see eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, count int) ([]eventstore.RecordedEvent, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateStream(stream); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateRead(dir, count); err != nil {
		return nil, err
	}
	var pos kurrentdb.StreamPosition = kurrentdb.Revision(from)
	d := kurrentdb.Forwards
	if dir == eventstore.Backwards {
		d = kurrentdb.Backwards
		if from == eventstore.StreamEnd {
			pos = kurrentdb.End{}
		}
	}
	return s.readStream(ctx, stream, d, pos, uint64(count))
}

func (s *Store) readStream(ctx context.Context, stream string, dir kurrentdb.Direction, from kurrentdb.StreamPosition, count uint64) ([]eventstore.RecordedEvent, error) {
	rs, err := s.client.ReadStream(ctx, stream, kurrentdb.ReadStreamOptions{Direction: dir, From: from}, count)
	if err != nil {
		return nil, mapError("read", stream, err)
	}
	defer rs.Close()
	var out []eventstore.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, mapError("read", stream, err)
		}
		out = append(out, recordedOf(ev))
	}
}

// allReadRounds bounds how many server reads one ReadAll makes to fill a page past the server's own events.
const allReadRounds = 100

// ReadAll reads the global log after from (exclusive), leaving out the server's own events ($-streams and
// $-types); see eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, dir eventstore.Direction, from eventstore.Position, count int) ([]eventstore.RecordedEvent, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateRead(dir, count); err != nil {
		return nil, err
	}
	out := make([]eventstore.RecordedEvent, 0, min(count, 1024))
	cursor := from
	for round := 0; round < allReadRounds && len(out) < count; round++ {
		var pos kurrentdb.AllPosition
		d := kurrentdb.Forwards
		switch {
		case dir == eventstore.Forwards && from == eventstore.StartPosition && round == 0:
			pos = kurrentdb.Start{}
		case dir == eventstore.Backwards && cursor == eventstore.EndPosition:
			pos, d = kurrentdb.End{}, kurrentdb.Backwards
		default:
			pos = kurrentdb.Position{Commit: cursor.Commit, Prepare: cursor.Prepare}
			if dir == eventstore.Backwards {
				d = kurrentdb.Backwards
			}
		}
		// One more than asked, because the server's read from a position includes the event at it.
		want := uint64(count-len(out)) + 1
		rs, err := s.client.ReadAll(ctx, kurrentdb.ReadAllOptions{Direction: d, From: pos}, want)
		if err != nil {
			return nil, mapError("read", "$all", err)
		}
		n := 0
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rs.Close()
				return nil, mapError("read", "$all", err)
			}
			n++
			e := recordedOf(ev)
			cursor = e.Position
			beyond := (dir == eventstore.Forwards && from.Less(e.Position)) || (dir == eventstore.Backwards && e.Position.Less(from))
			if beyond && !isSystem(e.Stream, e.Type) && len(out) < count {
				out = append(out, e)
			}
		}
		rs.Close()
		if uint64(n) < want {
			break // the log ended
		}
	}
	return out, nil
}

func isSystem(stream, eventType string) bool {
	return strings.HasPrefix(stream, "$") || strings.HasPrefix(eventType, "$")
}

// metadata is how Kazna's event metadata and hash-chain link are kept in a KurrentDB event's user metadata.
// $correlationId and $causationId are KurrentDB's own names, so its system projections can follow them.
type metadata struct {
	Actor           string    `json:"actor,omitempty"`
	Counterparty    string    `json:"counterparty,omitempty"`
	CorrelationID   string    `json:"correlation_id,omitempty"`
	CausationID     string    `json:"causation_id,omitempty"`
	RequestID       string    `json:"request_id,omitempty"`
	Time            time.Time `json:"time"`
	PrevHash        string    `json:"prev_hash"`
	Hash            string    `json:"hash"`
	KurrentCorrID   string    `json:"$correlationId,omitempty"`
	KurrentCausalID string    `json:"$causationId,omitempty"`
}

func metadataOf(m eventstore.Metadata, prev, h eventstore.Hash) metadata {
	return metadata{Actor: m.Actor, Counterparty: m.Counterparty, CorrelationID: m.CorrelationID, CausationID: m.CausationID,
		RequestID: m.RequestID, Time: m.Time, PrevHash: prev.String(), Hash: h.String(),
		KurrentCorrID: m.CorrelationID, KurrentCausalID: m.CausationID}
}

// recordedOf converts a server event. An event written by another tool, without Kazna's metadata, comes back
// with zero hashes, which chain verification then reports.
func recordedOf(ev *kurrentdb.ResolvedEvent) eventstore.RecordedEvent {
	e := ev.OriginalEvent()
	out := eventstore.RecordedEvent{ID: e.EventID, Type: e.EventType, Data: e.Data, Stream: e.StreamID, Revision: e.EventNumber,
		Position: eventstore.Position{Commit: e.Position.Commit, Prepare: e.Position.Prepare}}
	var m metadata
	if len(e.UserMetadata) > 0 && json.Unmarshal(e.UserMetadata, &m) == nil {
		out.Metadata = eventstore.Metadata{Actor: m.Actor, Counterparty: m.Counterparty, CorrelationID: m.CorrelationID,
			CausationID: m.CausationID, RequestID: m.RequestID, Time: m.Time}
		_ = out.PrevHash.UnmarshalText([]byte(m.PrevHash))
		_ = out.Hash.UnmarshalText([]byte(m.Hash))
	}
	return out
}

func code(err error) kurrentdb.ErrorCode {
	var e *kurrentdb.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return kurrentdb.ErrorCodeUnknown
}

func mapError(op, stream string, err error) error {
	switch code(err) {
	case kurrentdb.ErrorCodeResourceNotFound:
		return fmt.Errorf("esdb: %s %q: %w", op, stream, eventstore.ErrStreamNotFound)
	case kurrentdb.ErrorCodeStreamDeleted, kurrentdb.ErrorCodeStreamTombstoned:
		return fmt.Errorf("esdb: %s %q: the stream was deleted on the server: %w", op, stream, eventstore.ErrStreamNotFound)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("esdb: %s %q: %w", op, stream, err)
}
