package api

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/customer"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// testIssuer is the platform's issuer in the customer tests (a valid Stellar account ID).
const testIssuer = "GDQQY7WXGK5JZJQHLY7GMNZOCJ2QVG3ZNHDT4WYCNJU6ZG53RVXZPN2E"

var testAsset = money.Asset{Code: "UAH", StellarCode: "eUAH", Decimals: 2}

// fakeCustomers is an in-memory CustomerService. It records what each call got (the last query, input, patch
// and write options) so tests can check the handlers' parsing, and it applies only the filters the isolation
// tests need (bank, branch scope, GUIDs). err, when set, is what every write answers instead.
type fakeCustomers struct {
	mu        sync.Mutex
	customers []projections.Customer
	accounts  []projections.Account
	commit    uint64

	err error
	// Recorded calls.
	writes        int
	lastWrite     app.Write
	registered    app.CustomerInput
	patch         app.CustomerPatch
	patched       string
	openedIBAN    string
	entity        app.EntityInput
	blockReason   string
	segment       string
	customerQuery projections.CustomerQuery
	accountQuery  projections.AccountQuery
	segmentNames  []string
}

func newFakeCustomers() *fakeCustomers { return &fakeCustomers{} }

// write records a write call and answers the injected error, if any, and the next log position.
func (f *fakeCustomers) write(w app.Write) (eventstore.Position, error) {
	f.writes++
	f.lastWrite = w
	if f.err != nil {
		return eventstore.Position{}, f.err
	}
	f.commit++
	return eventstore.Position{Commit: f.commit, Prepare: f.commit}, nil
}

func (f *fakeCustomers) addAccount(a projections.Account) projections.Account {
	now := time.Date(2026, 5, 1, 10, 0, 0, 123456789, time.UTC)
	if a.GUID == "" {
		a.GUID = uuid.NewString()
	}
	if a.Address == "" {
		a.Address = testIssuer
	}
	a.AssetCode, a.AssetIssuer, a.Opened = testAsset.StellarCode, testIssuer, true
	a.CreatedAt, a.UpdatedAt = now, now
	f.accounts = append(f.accounts, a)
	return a
}

// addCustomer adds a customer of bank in branch with one account; it returns both.
func (f *fakeCustomers) addCustomer(bank, branch, login string) (projections.Customer, projections.Account) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := projections.Customer{GUID: uuid.NewString(), CounterpartyGUID: bank, ExternalID: "ext-" + login,
		Profile:   customer.Profile{Login: login, BranchGUID: branch, Status: "active"},
		CreatedAt: time.Date(2023, 7, 14, 11, 31, 14, 137931000, time.UTC), UpdatedAt: time.Date(2023, 7, 14, 12, 27, 15, 486653000, time.UTC)}
	a := f.addAccount(projections.Account{CounterpartyGUID: bank, Kind: account.KindCustomer,
		Owner: account.Owner{CustomerGUID: c.GUID, IBAN: "UA213223130000026007233566001"}, CustomerLogin: login, CustomerExternalID: c.ExternalID})
	c.Accounts = []string{a.GUID}
	f.customers = append(f.customers, c)
	return c, a
}

func (f *fakeCustomers) find(cp, guid string) int {
	return slices.IndexFunc(f.customers, func(c projections.Customer) bool { return c.CounterpartyGUID == cp && c.GUID == guid })
}

func (f *fakeCustomers) RegisterCustomer(_ context.Context, cp uuid.UUID, in app.CustomerInput, w app.Write) (app.OpenedCustomer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registered = in
	pos, err := f.write(w)
	if err != nil {
		return app.OpenedCustomer{}, err
	}
	for _, c := range f.customers {
		if c.CounterpartyGUID == cp.String() && strings.EqualFold(c.Profile.Login, in.Profile.Login) {
			return app.OpenedCustomer{}, customer.ErrLoginTaken
		}
	}
	c := projections.Customer{GUID: uuid.NewString(), CounterpartyGUID: cp.String(), Profile: in.Profile, Disabled: in.Disabled}
	a := f.addAccount(projections.Account{CounterpartyGUID: cp.String(), Kind: account.KindCustomer,
		Owner: account.Owner{CustomerGUID: c.GUID, IBAN: in.IBAN}})
	c.Accounts = []string{a.GUID}
	f.customers = append(f.customers, c)
	return app.OpenedCustomer{CustomerGUID: c.GUID, Account: a, Position: pos}, nil
}

func (f *fakeCustomers) UpdateCustomer(_ context.Context, cp, guid uuid.UUID, patch app.CustomerPatch, w app.Write) (app.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.patch, f.patched = patch, guid.String()
	pos, err := f.write(w)
	if err != nil {
		return app.Written{}, err
	}
	i := f.find(cp.String(), guid.String())
	if i < 0 {
		return app.Written{}, customer.ErrNotFound
	}
	if patch.Branch != nil {
		f.customers[i].Profile.BranchGUID = *patch.Branch
	}
	if patch.Disabled != nil {
		f.customers[i].Disabled = *patch.Disabled
	}
	return app.Written{GUID: guid.String(), Position: pos}, nil
}

func (f *fakeCustomers) OpenCustomerAccount(_ context.Context, cp, customerGUID uuid.UUID, iban string, w app.Write) (app.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.openedIBAN = iban
	pos, err := f.write(w)
	if err != nil {
		return app.Written{}, err
	}
	i := f.find(cp.String(), customerGUID.String())
	if i < 0 {
		return app.Written{}, customer.ErrNotFound
	}
	if f.customers[i].Disabled {
		return app.Written{}, customer.ErrDisabled
	}
	a := f.addAccount(projections.Account{CounterpartyGUID: cp.String(), Kind: account.KindCustomer,
		Owner: account.Owner{CustomerGUID: customerGUID.String(), IBAN: iban}})
	f.customers[i].Accounts = append(f.customers[i].Accounts, a.GUID)
	return app.Written{GUID: a.GUID, Position: pos}, nil
}

func (f *fakeCustomers) OpenEntity(_ context.Context, cp uuid.UUID, in app.EntityInput, w app.Write) (app.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entity = in
	pos, err := f.write(w)
	if err != nil {
		return app.Written{}, err
	}
	a := f.addAccount(projections.Account{CounterpartyGUID: cp.String(), Kind: in.Kind,
		Owner: account.Owner{BranchGUID: in.BranchGUID, IBAN: in.IBAN, KeyKeeperLogin: in.KeyKeeperLogin}})
	return app.Written{GUID: a.GUID, Position: pos}, nil
}

func (f *fakeCustomers) changeAccount(cp, guid string, change func(*projections.Account)) error {
	i := slices.IndexFunc(f.accounts, func(a projections.Account) bool { return a.CounterpartyGUID == cp && a.GUID == guid })
	if i < 0 {
		return account.ErrNotFound
	}
	change(&f.accounts[i])
	return nil
}

func (f *fakeCustomers) BlockAccount(_ context.Context, cp, accountGUID uuid.UUID, reason string, w app.Write) (app.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blockReason = reason
	pos, err := f.write(w)
	if err != nil {
		return app.Written{}, err
	}
	return app.Written{GUID: accountGUID.String(), Position: pos},
		f.changeAccount(cp.String(), accountGUID.String(), func(a *projections.Account) { a.Blocked = true })
}

func (f *fakeCustomers) UnblockAccount(_ context.Context, cp, accountGUID uuid.UUID, w app.Write) (app.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pos, err := f.write(w)
	if err != nil {
		return app.Written{}, err
	}
	return app.Written{GUID: accountGUID.String(), Position: pos},
		f.changeAccount(cp.String(), accountGUID.String(), func(a *projections.Account) { a.Blocked = false })
}

func (f *fakeCustomers) SetSegment(_ context.Context, cp, accountGUID uuid.UUID, segment string, w app.Write) (app.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.segment = segment
	pos, err := f.write(w)
	if err != nil {
		return app.Written{}, err
	}
	return app.Written{GUID: accountGUID.String(), Position: pos},
		f.changeAccount(cp.String(), accountGUID.String(), func(a *projections.Account) { a.Segment = segment })
}

func (f *fakeCustomers) Customer(_ context.Context, cp, guid string) (projections.Customer, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.find(cp, guid); i >= 0 {
		return f.customers[i], true
	}
	return projections.Customer{}, false
}

func (f *fakeCustomers) ListCustomers(_ context.Context, q projections.CustomerQuery) ([]projections.Customer, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.customerQuery = q
	out := []projections.Customer{}
	for _, c := range f.customers {
		if c.CounterpartyGUID == q.CounterpartyGUID && (q.BranchScope == "" || c.Profile.BranchGUID == q.BranchScope) &&
			(len(q.BranchGUIDs) == 0 || slices.Contains(q.BranchGUIDs, c.Profile.BranchGUID)) && (len(q.GUIDs) == 0 || slices.Contains(q.GUIDs, c.GUID)) {
			out = append(out, c)
		}
	}
	return out, len(out), nil
}

func (f *fakeCustomers) Account(_ context.Context, cp, guid string) (projections.Account, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.accounts {
		if a.CounterpartyGUID == cp && a.GUID == guid {
			return a, true
		}
	}
	return projections.Account{}, false
}

func (f *fakeCustomers) CustomerAccounts(_ context.Context, cp, customerGUID string) ([]projections.Account, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.find(cp, customerGUID) < 0 {
		return nil, false
	}
	var out []projections.Account
	for _, a := range f.accounts {
		if a.CounterpartyGUID == cp && a.Owner.CustomerGUID == customerGUID {
			out = append(out, a)
		}
	}
	return out, true
}

// branchOf is an account's branch as the read model will see it: its own, or its customer's.
func (f *fakeCustomers) branchOf(a projections.Account) string {
	if i := slices.IndexFunc(f.customers, func(c projections.Customer) bool { return c.GUID == a.Owner.CustomerGUID }); i >= 0 {
		return f.customers[i].Profile.BranchGUID
	}
	return a.Owner.BranchGUID
}

func (f *fakeCustomers) ListAccounts(_ context.Context, q projections.AccountQuery) ([]projections.Account, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accountQuery = q
	out := []projections.Account{}
	for _, a := range f.accounts {
		b := f.branchOf(a)
		if a.CounterpartyGUID == q.CounterpartyGUID && (q.BranchScope == "" || b == q.BranchScope) &&
			(len(q.BranchGUIDs) == 0 || slices.Contains(q.BranchGUIDs, b)) && (len(q.GUIDs) == 0 || slices.Contains(q.GUIDs, a.GUID)) {
			out = append(out, a)
		}
	}
	return out, len(out), nil
}

func (f *fakeCustomers) Segments(_ context.Context, cp string, names []string) map[string][]projections.Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.segmentNames = names
	out := map[string][]projections.Account{}
	for _, a := range f.accounts {
		if a.CounterpartyGUID == cp && a.Segment != "" && (len(names) == 0 || slices.Contains(names, a.Segment)) {
			out[a.Segment] = append(out[a.Segment], a)
		}
	}
	return out
}

func (f *fakeCustomers) Asset() (money.Asset, string) { return testAsset, testIssuer }

// recordingWaiter is a ReadWaiter that records the positions a write waited for.
type recordingWaiter struct {
	mu  sync.Mutex
	got []eventstore.Position
}

func (w *recordingWaiter) WaitFor(_ context.Context, pos eventstore.Position) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, pos)
	return nil
}

func (w *recordingWaiter) positions() []eventstore.Position {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.got)
}
