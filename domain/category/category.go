package category

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/text"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
)

// Bounds of a category's text. A name is a short code ("01"); a description is a sentence or two.
const (
	MaxNameRunes        = 20
	MaxDescriptionRunes = 500
)

var (
	ErrNotFound      = errors.New("category: not found")
	ErrAlreadyExists = errors.New("category: already exists")
	// ErrNameTaken is the name of another live category; the app layer returns it when the claim on
	// NameStream is refused.
	ErrNameTaken = errors.New("category: name already taken")
	// ErrDeleted is a change to a deleted category: a delete is final.
	ErrDeleted        = errors.New("category: deleted")
	ErrUnknownCommand = errors.New("category: unknown command")
)

// ErrInvalid is a command field that breaks a rule.
type ErrInvalid struct {
	Field  string
	Reason string
}

func (e *ErrInvalid) Error() string {
	return fmt.Sprintf("category: invalid %s: %s", e.Field, e.Reason)
}

// InvalidField lets the API map the invalid-field errors of every domain package with one interface.
func (e *ErrInvalid) InvalidField() (field, reason string) { return e.Field, e.Reason }

// Stream is the stream of the category with this GUID.
func Stream(guid uuid.UUID) string { return "category-" + guid.String() }

// NameStream is the reservation stream of a category name. Names are platform-wide: categories are shared
// by every bank.
func NameStream(name string) string { return uniqueness.Stream("category-name-", name) }

// State is a category.
type State struct {
	Exists      bool
	GUID        string
	Name        string
	Description string
	Deleted     bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DeletedAt   time.Time
}

// Commands.
type (
	Define struct {
		GUID        uuid.UUID `json:"guid"`
		Name        string    `json:"name"`
		Description string    `json:"description"`
		At          time.Time `json:"at"`
	}
	// Change sets both fields (the app layer fills the one a request leaves out). A new name needs its
	// claim first; release the old one after.
	Change struct {
		Name        string    `json:"name"`
		Description string    `json:"description"`
		At          time.Time `json:"at"`
	}
	// Delete is soft and final; the name's claim may be released after it.
	Delete struct {
		At time.Time `json:"at"`
	}
)

// Event is an event of a category stream; every type name starts with "Category".
type Event interface{ isCategoryEvent() }

type (
	CategoryDefined struct {
		GUID        string    `json:"guid"`
		Name        string    `json:"name"`
		Description string    `json:"description"`
		At          time.Time `json:"at"`
	}
	CategoryChanged struct {
		GUID        string    `json:"guid"`
		Name        string    `json:"name"`
		Description string    `json:"description"`
		At          time.Time `json:"at"`
	}
	// CategoryDeleted carries the name the category had, whose claim the deletion frees.
	CategoryDeleted struct {
		GUID string    `json:"guid"`
		Name string    `json:"name"`
		At   time.Time `json:"at"`
	}
)

func (CategoryDefined) isCategoryEvent() {}
func (CategoryChanged) isCategoryEvent() {}
func (CategoryDeleted) isCategoryEvent() {}

// Evolve folds one event into the state.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case CategoryDefined:
		s = State{Exists: true, GUID: e.GUID, Name: e.Name, Description: e.Description, CreatedAt: e.At, UpdatedAt: e.At}
	case CategoryChanged:
		s.Name, s.Description, s.UpdatedAt = e.Name, e.Description, e.At
	case CategoryDeleted:
		s.Deleted, s.DeletedAt, s.UpdatedAt = true, e.At, e.At
	}
	return s
}

// Decide decides a command in a state.
func Decide(s State, cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case Define:
		if c.GUID == uuid.Nil {
			return nil, &ErrInvalid{Field: "guid", Reason: "required (a non-zero GUID)"}
		}
		if s.Exists {
			return nil, ErrAlreadyExists
		}
		name, desc, err := checkFields(c.Name, c.Description)
		if err != nil {
			return nil, err
		}
		return []Event{CategoryDefined{GUID: c.GUID.String(), Name: name, Description: desc, At: c.At}}, nil
	case Change:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if s.Deleted {
			return nil, ErrDeleted
		}
		name, desc, err := checkFields(c.Name, c.Description)
		if err != nil {
			return nil, err
		}
		if name == s.Name && desc == s.Description {
			return nil, nil
		}
		return []Event{CategoryChanged{GUID: s.GUID, Name: name, Description: desc, At: c.At}}, nil
	case Delete:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if s.Deleted {
			return nil, nil
		}
		return []Event{CategoryDeleted{GUID: s.GUID, Name: s.Name, At: c.At}}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

// checkFields returns the name and description trimmed, or why one is refused. A name is a code that
// people type and read back, so every character must be printable (ASCII space included, no other space).
func checkFields(name, description string) (string, string, error) {
	n, err := text.Clean(name, text.Rule{MaxRunes: MaxNameRunes, Required: true})
	if err != nil {
		return "", "", &ErrInvalid{Field: "name", Reason: err.Error()}
	}
	if strings.ContainsFunc(n, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return "", "", &ErrInvalid{Field: "name", Reason: "contains a character that is not printable"}
	}
	d, err := text.Clean(description, text.Rule{MaxRunes: MaxDescriptionRunes, Multiline: true})
	if err != nil {
		return "", "", &ErrInvalid{Field: "description", Reason: err.Error()}
	}
	return n, d, nil
}

// Decider is the category aggregate.
var Decider = command.Decider[State, any, Event]{Evolve: Evolve, Decide: Decide}

// Events is the codec of category streams.
var Events = newEvents()

func newEvents() *command.Registry[Event] {
	r := command.NewRegistry[Event]()
	// Fixed names of distinct concrete types: these cannot fail, and a test checks every type round-trips.
	_ = errors.Join(
		command.Register[Event, CategoryDefined](r, "CategoryDefined"),
		command.Register[Event, CategoryChanged](r, "CategoryChanged"),
		command.Register[Event, CategoryDeleted](r, "CategoryDeleted"),
	)
	return r
}

// EventTypePrefixes select this package's events in a projection filter.
var EventTypePrefixes = []string{"Category"}
