package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/branch"
	"github.com/kazna-ledger/kazna/domain/callback"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/customer"
	"github.com/kazna-ledger/kazna/domain/emission"
	"github.com/kazna-ledger/kazna/domain/employee"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/domain/rbac"
	"github.com/kazna-ledger/kazna/eventstore"
)

// Entity is a kind of record whose history an auditor reads: each has one stream per GUID.
type Entity string

const (
	EntityAccount      Entity = "account"
	EntityCustomer     Entity = "customer"
	EntityPayment      Entity = "payment"
	EntityEmployee     Entity = "employee"
	EntityBranch       Entity = "branch"
	EntityCounterparty Entity = "counterparty"
	// EntityEmission is a counterparty's issue and burn requests (one stream per bank: the GUID is the bank's).
	EntityEmission Entity = "emission"
	// EntityRoles is a counterparty's roles and their permissions (one stream per bank).
	EntityRoles Entity = "rbac"
	// EntityCallbacks is the delivery log of a payment's callbacks (the GUID is the payment's).
	EntityCallbacks Entity = "callbacks"
)

// Entities lists the entities in the order the API documents them.
func Entities() []Entity {
	return []Entity{EntityAccount, EntityCustomer, EntityPayment, EntityEmployee, EntityBranch, EntityCounterparty,
		EntityEmission, EntityRoles, EntityCallbacks}
}

var (
	// ErrUnknownEntity is an entity kind Entities does not list.
	ErrUnknownEntity = errors.New("audit: unknown entity")
	// ErrNoHistory is an entity without events, or (for a bank's auditor) one of another bank: the two are
	// not told apart, so that an auditor cannot learn which GUIDs other banks use.
	ErrNoHistory = errors.New("audit: no such entity")
)

// Stream is the stream of entity guid.
func (e Entity) Stream(guid uuid.UUID) (string, error) {
	switch e {
	case EntityAccount:
		return account.Stream(guid), nil
	case EntityCustomer:
		return customer.Stream(guid), nil
	case EntityPayment:
		return payment.Stream(guid), nil
	case EntityEmployee:
		return employee.Stream(guid), nil
	case EntityBranch:
		return branch.Stream(guid), nil
	case EntityCounterparty:
		return counterparty.Stream(guid), nil
	case EntityEmission:
		return emission.Stream(guid), nil
	case EntityRoles:
		return rbac.Stream(guid), nil
	case EntityCallbacks:
		return callback.LogStream(guid), nil
	}
	return "", fmt.Errorf("%w %q", ErrUnknownEntity, string(e))
}

// Owners are the counterparties an entity belongs to: the bank itself for its own streams, the bank its first
// event names for accounts, customers, employees and branches, and every bank a payment touches (the
// creator's, the sender's and the receiver's) for a payment and its callbacks. ErrNoHistory is an entity
// without events.
func Owners(ctx context.Context, store LogReader, e Entity, guid uuid.UUID) ([]string, error) {
	switch e {
	case EntityCounterparty, EntityEmission, EntityRoles:
		stream, _ := e.Stream(guid)
		if _, err := first(ctx, store, stream); err != nil {
			return nil, err
		}
		return []string{guid.String()}, nil
	case EntityCallbacks:
		stream, _ := e.Stream(guid)
		if _, err := first(ctx, store, stream); err != nil {
			return nil, err
		}
		return Owners(ctx, store, EntityPayment, guid)
	}
	stream, err := e.Stream(guid)
	if err != nil {
		return nil, err
	}
	ev, err := first(ctx, store, stream)
	if err != nil {
		return nil, err
	}
	// Every first event of these streams names its bank in counterparty_guid; a payment's also names the
	// parties' banks.
	var named struct {
		CounterpartyGUID string `json:"counterparty_guid"`
		Sender           struct {
			CounterpartyGUID string `json:"counterparty_guid"`
		} `json:"sender"`
		Receiver struct {
			CounterpartyGUID string `json:"counterparty_guid"`
		} `json:"receiver"`
	}
	if err := json.Unmarshal(ev.Data, &named); err != nil {
		return nil, fmt.Errorf("audit: %s revision 0 (%s): %w", stream, ev.Type, err)
	}
	var owners []string
	for _, g := range []string{named.CounterpartyGUID, named.Sender.CounterpartyGUID, named.Receiver.CounterpartyGUID} {
		if id, err := uuid.Parse(g); err == nil && !slices.Contains(owners, id.String()) {
			owners = append(owners, id.String())
		}
	}
	return owners, nil
}

func first(ctx context.Context, store LogReader, stream string) (eventstore.RecordedEvent, error) {
	evs, err := store.ReadStream(ctx, stream, eventstore.Forwards, 0, 1)
	if errors.Is(err, eventstore.ErrStreamNotFound) || err == nil && len(evs) == 0 {
		return eventstore.RecordedEvent{}, ErrNoHistory
	}
	if err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("audit: read %s: %w", stream, err)
	}
	return evs[0], nil
}

// Bounds of a page of history.
const (
	DefaultEventsLimit = 50
	MaxEventsLimit     = 1000
)

// EventsPage is a page of one stream's events, oldest first. NextAfter is the cursor of the next page (the
// revision of this page's last event) when there are more events.
type EventsPage struct {
	Stream    string
	Events    []Event
	NextAfter uint64
	More      bool
}

// Event is an event as an auditor sees it: what happened (type, data), who did it (actor, on behalf of
// counterparty), when, and why (the request, correlation and causation IDs), with its place in its stream
// and the log and the links of its stream's hash chain.
type Event struct {
	eventstore.RecordedEvent
	// Data is the event's JSON with secrets (sealed keys and seeds, password hashes, token hashes) replaced
	// by "[redacted]"; Redacted names the fields replaced. The hash is over the original data.
	Redacted []string
}

// sensitiveFields are the JSON fields of events that hold secrets, sealed or hashed: an auditor needs to know
// that they changed, not their bytes.
var sensitiveFields = []string{"sealed_seed", "sealed_key", "sealed_secret", "password_hash", "token_sha256"}

// ReadEvents returns up to limit events of stream after revision after (from its first event when hasAfter
// is false). A stream without events is ErrNoHistory.
func ReadEvents(ctx context.Context, store LogReader, stream string, after uint64, hasAfter bool, limit int) (EventsPage, error) {
	if limit <= 0 {
		limit = DefaultEventsLimit
	}
	limit = min(limit, MaxEventsLimit)
	page := EventsPage{Stream: stream, Events: []Event{}}
	from := uint64(0)
	if hasAfter {
		if after == eventstore.StreamEnd {
			return page, nil
		}
		from = after + 1
	}
	// One more than asked tells whether another page follows.
	evs, err := store.ReadStream(ctx, stream, eventstore.Forwards, from, limit+1)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return page, ErrNoHistory
	}
	if err != nil {
		return page, fmt.Errorf("audit: read %s: %w", stream, err)
	}
	if len(evs) > limit {
		evs, page.More = evs[:limit], true
	}
	for _, e := range evs {
		page.Events = append(page.Events, redact(e))
	}
	if page.More {
		page.NextAfter = evs[len(evs)-1].Revision
	}
	return page, nil
}

// redact replaces the values of sensitiveFields at any depth of the event's JSON.
func redact(e eventstore.RecordedEvent) Event {
	out := Event{RecordedEvent: e}
	if !json.Valid(e.Data) {
		// Not JSON (never written by Kazna): shown as a JSON string, so that the answer stays JSON.
		s, _ := json.Marshal(string(e.Data))
		out.Data = s
		return out
	}
	touched := false
	for _, f := range sensitiveFields {
		if bytes.Contains(e.Data, []byte(`"`+f+`"`)) {
			touched = true
			break
		}
	}
	if !touched {
		return out
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	dec.UseNumber() // amounts stay exact
	if err := dec.Decode(&v); err != nil {
		return out
	}
	v = redactValue(v, "", &out.Redacted)
	if b, err := json.Marshal(v); err == nil {
		out.Data = b
	}
	return out
}

func redactValue(v any, path string, redacted *[]string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if slices.Contains(sensitiveFields, strings.ToLower(k)) {
				x[k] = "[redacted]"
				*redacted = append(*redacted, p)
				continue
			}
			x[k] = redactValue(val, p, redacted)
		}
	case []any:
		for i, val := range x {
			x[i] = redactValue(val, fmt.Sprintf("%s[%d]", path, i), redacted)
		}
	}
	slices.Sort(*redacted)
	return v
}
