package eventstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits shared by every adapter, so that an event accepted by the embedded store is also accepted by KurrentDB.
const (
	// MaxNameBytes bounds stream names and event types: they are identifiers, not payloads.
	MaxNameBytes = 255
	// MaxEventDataBytes bounds one event's JSON data. An event is a fact, not a document; together with its
	// metadata it must also fit in KurrentDB's default 1 MiB append.
	MaxEventDataBytes = 512 << 10
	// MaxMetadataBytes bounds one event's encoded metadata.
	MaxMetadataBytes = 16 << 10
	// MaxAppendBytes bounds one append as a store writes it, KurrentDB's default maximum append size: every
	// event's data, type and metadata plus EventOverheadBytes for what the store adds to it.
	MaxAppendBytes = 1 << 20
	// EventOverheadBytes is what a store adds to each event of an append: IDs, the hash-chain link, positions
	// and the server's framing. Counting it makes an append that one store accepts fit every other store.
	EventOverheadBytes = 384
	// MaxAppendEvents bounds the number of events of one append.
	MaxAppendEvents = 10_000
	// MaxReadCount bounds the number of events one read returns.
	MaxReadCount = 10_000
)

// ValidateStream checks a stream name. Names starting with '$' are the server's own (KurrentDB system
// streams) and are refused.
func ValidateStream(stream string) error {
	if err := validateName(stream); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidStream, err)
	}
	if strings.HasPrefix(stream, "$") {
		return fmt.Errorf("%w: %q: names starting with '$' are reserved for the store", ErrInvalidStream, stream)
	}
	return nil
}

func validateName(s string) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	if len(s) > MaxNameBytes {
		return fmt.Errorf("%d bytes, over the limit of %d", len(s), MaxNameBytes)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%q has a space or control character", s)
		}
	}
	return nil
}

// ValidateAppend checks everything about an append that does not depend on the stream's contents, so that
// bad input is refused before anything is written.
func ValidateAppend(stream string, expected ExpectedRevision, events []EventData) error {
	if err := ValidateStream(stream); err != nil {
		return err
	}
	if expected == nil {
		return fmt.Errorf("%w: none given", ErrInvalidExpectedRevision)
	}
	switch e := expected.(type) {
	case Any, NoStream, StreamExists:
	case Exact:
		if uint64(e) == StreamEnd {
			return fmt.Errorf("%w: %d is not a revision", ErrInvalidExpectedRevision, uint64(e))
		}
	default:
		return fmt.Errorf("%w: %T", ErrInvalidExpectedRevision, expected)
	}
	if len(events) > MaxAppendEvents {
		return fmt.Errorf("%w: %d events in one append, over the limit of %d", ErrInvalidEvent, len(events), MaxAppendEvents)
	}
	total := 0
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i, e := range events {
		if e.ID == uuid.Nil {
			return fmt.Errorf("%w: event %d has no ID (the writer chooses it, so that a retry is recognised)", ErrInvalidEvent, i)
		}
		if _, dup := seen[e.ID]; dup {
			return fmt.Errorf("%w: event ID %s appears twice in one append", ErrInvalidEvent, e.ID)
		}
		seen[e.ID] = struct{}{}
		if err := validateName(e.Type); err != nil {
			return fmt.Errorf("%w: event %d type: %v", ErrInvalidEvent, i, err)
		}
		if len(e.Data) > MaxEventDataBytes {
			return &TooLarge{What: "event data", Size: len(e.Data), Limit: MaxEventDataBytes}
		}
		if len(e.Data) == 0 || !json.Valid(e.Data) {
			return fmt.Errorf("%w: event %d (%s) data is not valid JSON", ErrInvalidEvent, i, e.Type)
		}
		if m := metadataSize(e.Metadata); m > MaxMetadataBytes {
			return &TooLarge{What: "event metadata", Size: m, Limit: MaxMetadataBytes}
		}
		total += len(e.Data) + len(e.Type) + metadataSize(e.Metadata) + EventOverheadBytes
	}
	if total > MaxAppendBytes {
		return &TooLarge{What: "append", Size: total, Limit: MaxAppendBytes}
	}
	return nil
}

func metadataSize(m Metadata) int {
	return len(m.Actor) + len(m.Counterparty) + len(m.CorrelationID) + len(m.CausationID) + len(m.RequestID) + 8
}

// ValidateRead checks the arguments of a read.
func ValidateRead(dir Direction, count int) error {
	if dir != Forwards && dir != Backwards {
		return fmt.Errorf("%w: unknown direction %d", ErrInvalidRead, dir)
	}
	if count <= 0 || count > MaxReadCount {
		return fmt.Errorf("%w: count %d, want 1 to %d", ErrInvalidRead, count, MaxReadCount)
	}
	return nil
}
