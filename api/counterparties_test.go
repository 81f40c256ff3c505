package api

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// fakeCounterparties is an in-memory CounterpartyService whose writes become visible only when WaitFor is
// called, so that a test sees whether the handler waits for the read models.
type fakeCounterparties struct {
	mu       sync.Mutex
	pending  []projections.Counterparty
	visible  []projections.Counterparty
	requests map[string]string // idempotency key → counterparty GUID
}

func newFakeCounterparties() *fakeCounterparties {
	return &fakeCounterparties{requests: map[string]string{}}
}

func (f *fakeCounterparties) RegisterCounterparty(_ context.Context, r app.Request, reg app.CounterpartyRegistration) (app.RegisteredCounterparty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range append(f.visible, f.pending...) {
		if strings.EqualFold(c.Name, reg.Profile.Name) {
			return app.RegisteredCounterparty{}, counterparty.ErrNameTaken
		}
	}
	if reg.AssetCode != "" && reg.AssetCode != "eUAH" {
		return app.RegisteredCounterparty{}, app.ErrUnknownAsset
	}
	g := uuid.NewString()
	f.pending = append(f.pending, projections.Counterparty{GUID: g, Name: reg.Profile.Name, AssetCode: "eUAH"})
	return app.RegisteredCounterparty{GUID: g, EmissionAccountGUID: uuid.NewString(), ProcessingAccountGUID: uuid.NewString(),
		Position: eventstore.Position{Commit: 1}}, nil
}

func (f *fakeCounterparties) UpdateCounterparty(context.Context, app.Request, uuid.UUID, app.ProfilePatch) (eventstore.Position, error) {
	return eventstore.Position{}, counterparty.ErrNotFound
}

func (f *fakeCounterparties) ListCounterparties(_ context.Context, q projections.CounterpartyQuery) ([]projections.Counterparty, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]projections.Counterparty(nil), f.visible...), len(f.visible), nil
}

func (f *fakeCounterparties) Counterparty(_ context.Context, guid string) (projections.Counterparty, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.visible {
		if c.GUID == guid {
			return c, true
		}
	}
	return projections.Counterparty{}, false
}

// WaitFor makes pending writes visible, as the Runner does once it reaches their position.
func (f *fakeCounterparties) WaitFor(context.Context, eventstore.Position) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.visible, f.pending = append(f.visible, f.pending...), nil
	return nil
}

type fakeBankKeys struct{}

func (fakeBankKeys) RegisterBankKey(context.Context, app.Request, uuid.UUID, json.RawMessage) (string, eventstore.Position, error) {
	return uuid.NewString(), eventstore.Position{}, nil
}

func (fakeBankKeys) UpdateBankKey(context.Context, app.Request, uuid.UUID, uuid.UUID, json.RawMessage) (eventstore.Position, error) {
	return eventstore.Position{}, nil
}

func (fakeBankKeys) ListBankKeys(context.Context, string) ([]projections.BankKey, error) {
	return []projections.BankKey{{GUID: uuid.NewString(), KID: "k1", JWK: json.RawMessage(`{"kty":"RSA"}`), CreatedAt: time.Unix(0, 0)}}, nil
}

func (fakeBankKeys) AuthenticateBankJWT(context.Context, string, string) (string, error) {
	return "session", nil
}

func TestCounterpartyCreateThenListSeesIt(t *testing.T) {
	fake := newFakeCounterparties()
	d := testDeps()
	d.Counterparties, d.ReadModels = fake, fake
	h := NewRouter(d)
	w := do(t, h, "POST", "/api/v1/counterparties", "platform-admin", strings.NewReader(`{"name":"Acme Bank","auto_issue":true}`), "Content-Type", "application/json")
	if w.Code != 200 {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	var created createdCounterparty
	if err := json.Unmarshal(w.Body.Bytes(), &created); err != nil || created.GUID == "" || created.EmissionAccountGUID == "" || created.ProcessingAccountGUID == "" {
		t.Fatalf("create answer %s: %v", w.Body, err)
	}
	w = do(t, h, "GET", "/api/v1/counterparties", "platform-admin", nil)
	var list counterpartyList
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || list.Total != 1 || list.Counterparties[0].GUID != created.GUID || list.Counterparties[0].AssetCode != "eUAH" {
		t.Fatalf("list right after create: %d %s", w.Code, w.Body)
	}
	if w := do(t, h, "GET", "/api/v1/counterparties/"+created.GUID, "platform-admin", nil); w.Code != 200 {
		t.Fatalf("get: %d %s", w.Code, w.Body)
	}
	// Errors of the use case map to their statuses.
	errorOf(t, do(t, h, "POST", "/api/v1/counterparties", "platform-admin", strings.NewReader(`{"name":"acme bank"}`), "Content-Type", "application/json"), 409, CodeConflict)
	errorOf(t, do(t, h, "POST", "/api/v1/counterparties", "platform-admin", strings.NewReader(`{"name":"B","asset_code":"USD"}`), "Content-Type", "application/json"), 422, CodeUnprocessable)
	errorOf(t, do(t, h, "POST", "/api/v1/counterparties", "platform-admin", strings.NewReader(`{"holding_name":"B"}`), "Content-Type", "application/json"), 400, CodeMissingField)
	errorOf(t, do(t, h, "PUT", "/api/v1/counterparties/"+uuid.NewString(), "platform-admin", strings.NewReader(`{"name":"C"}`), "Content-Type", "application/json"), 404, CodeNotFound)
	errorOf(t, do(t, h, "POST", "/api/v1/counterparties", "platform-admin", strings.NewReader(`{"name":"D"}`), "Content-Type", "application/json", "Idempotency-Key", "has space"), 400, CodeInvalidField)
}
