package branch

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/text"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
)

// MaxNameRunes bounds a branch name.
const MaxNameRunes = 200

var (
	ErrNotFound      = errors.New("branch: not found")
	ErrAlreadyExists = errors.New("branch: already exists")
	// ErrNameTaken is another branch's name in the counterparty; the app layer returns it when the claim
	// on NameStream is refused.
	ErrNameTaken = errors.New("branch: name already taken")
	// ErrDeleted is a change to a soft-deleted branch other than Restore.
	ErrDeleted        = errors.New("branch: deleted")
	ErrUnknownCommand = errors.New("branch: unknown command")
)

// ErrInvalid is a command field that breaks a rule.
type ErrInvalid struct {
	Field  string
	Reason string
}

func (e *ErrInvalid) Error() string { return fmt.Sprintf("branch: invalid %s: %s", e.Field, e.Reason) }

// InvalidField lets the API map the invalid-field errors of every domain package with one interface.
func (e *ErrInvalid) InvalidField() (field, reason string) { return e.Field, e.Reason }

// Stream is the stream of the branch with this GUID.
func Stream(guid uuid.UUID) string { return "branch-" + guid.String() }

// NameStream is the reservation stream of a branch name within a counterparty.
func NameStream(counterpartyGUID uuid.UUID, name string) string {
	return uniqueness.Stream("branch-name-"+counterpartyGUID.String()+"-", name)
}

// State is a branch.
type State struct {
	Exists           bool
	GUID             string
	CounterpartyGUID string
	Name             string
	Deleted          bool
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Commands.
type (
	Create struct {
		GUID             uuid.UUID `json:"guid"`
		CounterpartyGUID uuid.UUID `json:"counterparty_guid"`
		Name             string    `json:"name"`
		At               time.Time `json:"at"`
	}
	// Rename needs the new name's claim first; release the old one after.
	Rename struct {
		Name string    `json:"name"`
		At   time.Time `json:"at"`
	}
	Delete struct {
		At time.Time `json:"at"`
	}
	Restore struct {
		At time.Time `json:"at"`
	}
)

// Event is an event of a branch stream; every type name starts with "Branch".
type Event interface{ isBranchEvent() }

type (
	BranchCreated struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		Name             string    `json:"name"`
		At               time.Time `json:"at"`
	}
	BranchRenamed struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		Name             string    `json:"name"`
		At               time.Time `json:"at"`
	}
	BranchDeleted struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		At               time.Time `json:"at"`
	}
	BranchRestored struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		At               time.Time `json:"at"`
	}
)

func (BranchCreated) isBranchEvent()  {}
func (BranchRenamed) isBranchEvent()  {}
func (BranchDeleted) isBranchEvent()  {}
func (BranchRestored) isBranchEvent() {}

// Evolve folds one event into the state.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case BranchCreated:
		s = State{Exists: true, GUID: e.GUID, CounterpartyGUID: e.CounterpartyGUID, Name: e.Name, CreatedAt: e.At, UpdatedAt: e.At}
	case BranchRenamed:
		s.Name, s.UpdatedAt = e.Name, e.At
	case BranchDeleted:
		s.Deleted, s.UpdatedAt = true, e.At
	case BranchRestored:
		s.Deleted, s.UpdatedAt = false, e.At
	}
	return s
}

// Decide decides a command in a state.
func Decide(s State, cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case Create:
		if c.GUID == uuid.Nil {
			return nil, &ErrInvalid{Field: "guid", Reason: "required (a non-zero GUID)"}
		}
		if c.CounterpartyGUID == uuid.Nil {
			return nil, &ErrInvalid{Field: "counterparty_guid", Reason: "required (a non-zero GUID)"}
		}
		if s.Exists {
			return nil, ErrAlreadyExists
		}
		name, err := checkName(c.Name)
		if err != nil {
			return nil, err
		}
		return []Event{BranchCreated{GUID: c.GUID.String(), CounterpartyGUID: c.CounterpartyGUID.String(), Name: name, At: c.At}}, nil
	case Rename:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if s.Deleted {
			return nil, ErrDeleted
		}
		name, err := checkName(c.Name)
		if err != nil {
			return nil, err
		}
		if name == s.Name {
			return nil, nil
		}
		return []Event{BranchRenamed{GUID: s.GUID, CounterpartyGUID: s.CounterpartyGUID, Name: name, At: c.At}}, nil
	case Delete:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if s.Deleted {
			return nil, nil
		}
		return []Event{BranchDeleted{GUID: s.GUID, CounterpartyGUID: s.CounterpartyGUID, At: c.At}}, nil
	case Restore:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if !s.Deleted {
			return nil, nil
		}
		return []Event{BranchRestored{GUID: s.GUID, CounterpartyGUID: s.CounterpartyGUID, At: c.At}}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func checkName(s string) (string, error) {
	clean, err := text.Clean(s, text.Rule{MaxRunes: MaxNameRunes, Required: true})
	if err != nil {
		return "", &ErrInvalid{Field: "name", Reason: err.Error()}
	}
	return clean, nil
}

// Decider is the branch aggregate.
var Decider = command.Decider[State, any, Event]{Evolve: Evolve, Decide: Decide}

// Events is the codec of branch streams.
var Events = newEvents()

func newEvents() *command.Registry[Event] {
	r := command.NewRegistry[Event]()
	// Fixed names of distinct concrete types: these cannot fail, and a test checks every type round-trips.
	_ = errors.Join(
		command.Register[Event, BranchCreated](r, "BranchCreated"),
		command.Register[Event, BranchRenamed](r, "BranchRenamed"),
		command.Register[Event, BranchDeleted](r, "BranchDeleted"),
		command.Register[Event, BranchRestored](r, "BranchRestored"),
	)
	return r
}

// EventTypePrefixes select this package's events in a projection filter.
var EventTypePrefixes = []string{"Branch"}
