package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"

	"github.com/kazna-ledger/kazna/eventstore"
)

// Codec turns a domain event into the type name and JSON the store keeps, and back.
type Codec[E any] interface {
	Encode(event E) (eventType string, data []byte, err error)
	Decode(eventType string, data []byte) (E, error)
}

var (
	// ErrUnknownEventType is a stored event type the codec has no Go type for, or a Go value whose type was
	// never registered.
	ErrUnknownEventType = errors.New("command: unknown event type")
	// ErrRegistry is a registration that cannot be honoured: empty or repeated name, or a type that is not an
	// event of the registry.
	ErrRegistry = errors.New("command: bad event registration")
)

// Registry is a Codec that maps event type names to Go types, so that a domain package declares each event
// once:
//
//	var Events = command.NewRegistry[Event]()
//	err := errors.Join(
//		command.Register[Event, Deposited](Events, "Deposited"),
//		command.Register[Event, Withdrawn](Events, "Withdrawn"),
//	)
//
// Data is plain encoding/json of the event value; unknown JSON fields are ignored when decoding, so that
// adding a field to an event does not break readers of older code.
type Registry[E any] struct {
	// mu makes registering while other goroutines encode harmless; in practice every Register runs at start.
	mu     sync.RWMutex
	byName map[string]func(data []byte) (E, error)
	byType map[reflect.Type]string
}

// NewRegistry returns an empty registry for events of type E (usually a domain's event interface).
func NewRegistry[E any]() *Registry[E] {
	return &Registry[E]{byName: map[string]func([]byte) (E, error){}, byType: map[reflect.Type]string{}}
}

var _ Codec[any] = (*Registry[any])(nil)

// Register maps name to the concrete event type T, which must be usable as an E. Each name and each type
// may be registered once. It is a function, not a method, because Go methods cannot take type parameters.
func Register[E, T any](r *Registry[E], name string) error {
	if r == nil {
		return fmt.Errorf("%w: nil registry", ErrRegistry)
	}
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Interface {
		return fmt.Errorf("%w: %q: %v is an interface, register the concrete event type", ErrRegistry, name, t)
	}
	var zero T
	if _, ok := any(zero).(E); !ok {
		return fmt.Errorf("%w: %q: %v is not a %v", ErrRegistry, name, t, reflect.TypeFor[E]())
	}
	if name == "" || len(name) > eventstore.MaxNameBytes {
		return fmt.Errorf("%w: event type name must be 1 to %d bytes, got %d", ErrRegistry, eventstore.MaxNameBytes, len(name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.byName[name]; dup {
		return fmt.Errorf("%w: event type name %q registered twice", ErrRegistry, name)
	}
	if prev, dup := r.byType[t]; dup {
		return fmt.Errorf("%w: %v already registered as %q", ErrRegistry, t, prev)
	}
	r.byType[t] = name
	r.byName[name] = func(data []byte) (E, error) {
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			var none E
			return none, fmt.Errorf("command: decode %q: %w", name, err)
		}
		e, _ := any(v).(E) // checked at registration
		return e, nil
	}
	return nil
}

// Encode returns the registered name of e's type and e as JSON.
func (r *Registry[E]) Encode(e E) (string, []byte, error) {
	if r == nil {
		return "", nil, fmt.Errorf("%w: nil registry", ErrUnknownEventType)
	}
	v := any(e)
	if v == nil {
		return "", nil, fmt.Errorf("%w: nil event", ErrUnknownEventType)
	}
	r.mu.RLock()
	name, ok := r.byType[reflect.TypeOf(v)]
	r.mu.RUnlock()
	if !ok {
		return "", nil, fmt.Errorf("%w: %T is not registered", ErrUnknownEventType, v)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return "", nil, fmt.Errorf("command: encode %q: %w", name, err)
	}
	return name, data, nil
}

// Decode returns the event a stored type name and JSON stand for.
func (r *Registry[E]) Decode(eventType string, data []byte) (E, error) {
	if r == nil {
		var none E
		return none, fmt.Errorf("%w: %q: nil registry", ErrUnknownEventType, eventType)
	}
	r.mu.RLock()
	decode, ok := r.byName[eventType]
	r.mu.RUnlock()
	if !ok {
		var none E
		return none, fmt.Errorf("%w: %q", ErrUnknownEventType, eventType)
	}
	return decode(data)
}

// Types returns the registered event type names in order, for example to build a projection's filter.
func (r *Registry[E]) Types() []string {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
