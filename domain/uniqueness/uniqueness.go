package uniqueness

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kazna-ledger/kazna/command"
)

// Bounds. A value is a name or a login, not a document; an owner is a GUID or a short composite key.
const (
	MaxValueBytes = 1024
	MaxOwnerBytes = 256
)

// Commands.
type (
	// Claim reserves the value for Owner. Value is kept only for people reading the log: the stream name
	// already identifies the normalised value.
	Claim struct {
		Owner string    `json:"owner"`
		Value string    `json:"value"`
		At    time.Time `json:"at"`
	}
	// Release frees the value so that another owner may claim it. Only the holder may release it.
	Release struct {
		Owner string    `json:"owner"`
		At    time.Time `json:"at"`
	}
)

// Event is an event of a reservation stream.
type Event interface{ isClaimEvent() }

// Events, in the past tense. Their type names start with "Unique" so that no projection filter on an
// aggregate's own prefix ("Counterparty", "Employee", "Branch", "Role") picks them up.
type (
	ValueClaimed struct {
		Owner string    `json:"owner"`
		Value string    `json:"value"`
		At    time.Time `json:"at"`
	}
	ValueReleased struct {
		Owner string    `json:"owner"`
		At    time.Time `json:"at"`
	}
)

func (ValueClaimed) isClaimEvent()  {}
func (ValueReleased) isClaimEvent() {}

// State is who holds the value; an empty Owner means nobody (never claimed, or released).
type State struct {
	Owner string
}

var (
	// ErrTaken matches a *Taken.
	ErrTaken = errors.New("uniqueness: value already claimed")
	// ErrNotHolder is a Release by someone who does not hold the value.
	ErrNotHolder = errors.New("uniqueness: not the holder of the claim")
	// ErrInvalid is a claim with no owner or an oversized one.
	ErrInvalid = errors.New("uniqueness: invalid claim")
	// ErrUnknownCommand is a command this decider does not know.
	ErrUnknownCommand = errors.New("uniqueness: unknown command")
)

// Taken is a claim refused because another owner holds the value.
type Taken struct {
	Owner string // the holder
}

func (e *Taken) Error() string {
	return fmt.Sprintf("uniqueness: value already claimed by %.64q", e.Owner)
}
func (e *Taken) Unwrap() error { return ErrTaken }

// Evolve folds one event.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case ValueClaimed:
		s.Owner = e.Owner
	case ValueReleased:
		s.Owner = ""
	}
	return s
}

// Decide claims or releases.
func Decide(s State, cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case Claim:
		if err := checkOwner(c.Owner); err != nil {
			return nil, err
		}
		if len(c.Value) > MaxValueBytes {
			return nil, fmt.Errorf("%w: value over %d bytes", ErrInvalid, MaxValueBytes)
		}
		switch s.Owner {
		case c.Owner:
			return nil, nil // already ours: a retry
		case "":
			return []Event{ValueClaimed{Owner: c.Owner, Value: c.Value, At: c.At}}, nil
		}
		return nil, &Taken{Owner: s.Owner}
	case Release:
		if err := checkOwner(c.Owner); err != nil {
			return nil, err
		}
		switch s.Owner {
		case "":
			return nil, nil // released already (or never claimed): a retry
		case c.Owner:
			return []Event{ValueReleased{Owner: c.Owner, At: c.At}}, nil
		}
		return nil, fmt.Errorf("%w: held by %.64q", ErrNotHolder, s.Owner)
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func checkOwner(owner string) error {
	if owner == "" || len(owner) > MaxOwnerBytes {
		return fmt.Errorf("%w: owner must be 1 to %d bytes", ErrInvalid, MaxOwnerBytes)
	}
	return nil
}

// Decider is the reservation stream's decider.
var Decider = command.Decider[State, any, Event]{Evolve: Evolve, Decide: Decide}

// Events is the codec of reservation streams.
var Events = newEvents()

func newEvents() *command.Registry[Event] {
	r := command.NewRegistry[Event]()
	// Both registrations are of distinct, concrete types with fixed names, so they cannot fail; a failure
	// would leave the registry incomplete, and every Handle with it would refuse the unknown type.
	_ = errors.Join(
		command.Register[Event, ValueClaimed](r, "UniqueValueClaimed"),
		command.Register[Event, ValueReleased](r, "UniqueValueReleased"),
	)
	return r
}

// Normalise is the form in which two values are the same value: surrounding space trimmed, inner runs of
// space made one space, letters lower-cased. "Acme  Bank" and "acme bank" are one name.
func Normalise(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ToLower(strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " "))
}

// Key is the stream-name-safe key of a value made of parts (for example a counterparty GUID and a login):
// the hex SHA-256 of the normalised parts. A hash, because a stream name is at most 255 bytes and may hold
// no space, while a name may be 200 characters of any script. Parts are length-prefixed so that ("ab","c")
// and ("a","bc") differ.
func Key(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		n := Normalise(p)
		fmt.Fprintf(h, "%d:%s;", utf8.RuneCountInString(n), n)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Stream is the reservation stream of a value under prefix, for example
// Stream("counterparty-name-", "Acme Bank") = "counterparty-name-<sha256 hex>".
func Stream(prefix string, parts ...string) string { return prefix + Key(parts...) }
