package payment

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/account"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func party(kind Kind, cp string) Party {
	return Party{AccountGUID: uuid.NewString(), Kind: kind, CounterpartyGUID: cp, Address: "G" + uuid.NewString()}
}

func draft(from, to Party) Create {
	return Create{GUID: uuid.New(), CounterpartyGUID: uuid.MustParse(from.CounterpartyGUID), Sender: from, Receiver: to,
		Amount: 10_00, AssetCode: "eUAH", AssetIssuer: "GISSUER", Purpose: "rent", At: t0}
}

func run(t *testing.T, s State, cmd any) State {
	t.Helper()
	evs, err := Decide(s, cmd)
	if err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
	for _, e := range evs {
		s = Evolve(s, e)
	}
	return s
}

func TestLifecycle(t *testing.T) {
	a, b := uuid.NewString(), uuid.NewString()
	c := draft(party(KindCustomer, a), party(KindCustomer, b))
	s := run(t, State{}, c)
	if s.Status != StatusCreated {
		t.Fatal(s.Status)
	}
	// The same draft again (a retry received later) is a no-op; other content is refused.
	later := c
	later.At = t0.Add(time.Minute)
	if evs, err := Decide(s, later); err != nil || len(evs) != 0 {
		t.Fatalf("retried create: %v %v", evs, err)
	}
	other := c
	other.Amount++
	if _, err := Decide(s, other); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("other draft: %v", err)
	}
	// A transfer to another bank needs bank_guid naming the receiver's.
	for _, bank := range []string{"", a, uuid.NewString()} {
		if _, err := Decide(s, Confirm{BankGUID: bank, At: t0}); !errors.Is(err, ErrBankGUID) {
			t.Errorf("bank %q: %v", bank, err)
		}
	}
	s = run(t, s, Confirm{BankGUID: b, At: t0})
	if s.Status != StatusPending || s.BankGUID != b {
		t.Fatalf("%+v", s)
	}
	if evs, _ := Decide(s, Confirm{BankGUID: b, At: t0}); len(evs) != 0 {
		t.Fatal("second confirm wrote")
	}
	if _, err := Decide(s, Cancel{At: t0}); !errors.Is(err, ErrNotCancellable) {
		t.Fatalf("cancel a pending payment: %v", err)
	}
	if _, err := Decide(s, Settle{At: t0}); err == nil {
		t.Fatal("settle without a hash")
	}
	s = run(t, s, Settle{Hash: "abc", Ledger: 7, At: t0})
	if s.Status != StatusConfirmed || s.Hash != "abc" {
		t.Fatalf("%+v", s)
	}
	if evs, err := Decide(s, Settle{Hash: "abc", At: t0}); err != nil || len(evs) != 0 {
		t.Fatalf("settle again: %v %v", evs, err)
	}
	if _, err := Decide(s, Settle{Hash: "other", At: t0}); !errors.Is(err, ErrNotPending) {
		t.Fatalf("settle by another transaction: %v", err)
	}
	if _, err := Decide(s, Fail{Reason: "late", At: t0}); !errors.Is(err, ErrNotPending) {
		t.Fatalf("fail a settled payment: %v", err)
	}
}

func TestCancelAndFail(t *testing.T) {
	a := uuid.NewString()
	s := run(t, State{}, draft(party(KindProcessing, a), party(KindCustomer, a)))
	c := run(t, s, Cancel{By: "emp", At: t0})
	if c.Status != StatusCancelled {
		t.Fatal(c.Status)
	}
	if _, err := Decide(c, Confirm{At: t0}); !errors.Is(err, ErrNotConfirmable) {
		t.Fatalf("confirm cancelled: %v", err)
	}
	p := run(t, s, Confirm{At: t0})
	if _, err := Decide(p, Fail{Reason: " ", At: t0}); err == nil {
		t.Fatal("fail without a reason")
	}
	f := run(t, p, Fail{Reason: "op_underfunded", At: t0})
	if f.Status != StatusFailed || f.Reason != "op_underfunded" {
		t.Fatalf("%+v", f)
	}
	if _, err := Decide(State{}, Confirm{At: t0}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("confirm nothing: %v", err)
	}
}

func TestRoutes(t *testing.T) {
	a, b := uuid.NewString(), uuid.NewString()
	kinds := []Kind{KindEmission, KindProcessing, KindCustomer}
	internal := map[[2]Kind]bool{{KindEmission, KindProcessing}: true, {KindProcessing, KindCustomer}: true,
		{KindCustomer, KindCustomer}: true, {KindProcessing, KindEmission}: true, {KindCustomer, KindProcessing}: true}
	external := map[[2]Kind]bool{{KindProcessing, KindProcessing}: true, {KindCustomer, KindCustomer}: true}
	for _, from := range kinds {
		for _, to := range kinds {
			for _, ext := range []bool{false, true} {
				cpTo, want := a, internal[[2]Kind{from, to}]
				if ext {
					cpTo, want = b, external[[2]Kind{from, to}]
				}
				err := CheckRoute(party(from, a), party(to, cpTo))
				var re *RouteError
				if want != (err == nil) || (err != nil && (!errors.As(err, &re) || re.External != ext)) {
					t.Errorf("%s → %s external=%v: %v", from, to, ext, err)
				}
			}
		}
	}
	// A branch customer pays only its own branch's processing account.
	br := uuid.NewString()
	from := party(KindCustomer, a)
	from.BranchGUID = br
	to := party(KindProcessing, a)
	if err := CheckRoute(from, to); err == nil || !strings.Contains(err.Error(), "branch") {
		t.Errorf("branch customer → bank processing: %v", err)
	}
	to.BranchGUID = br
	if err := CheckRoute(from, to); err != nil {
		t.Errorf("branch customer → own branch processing: %v", err)
	}
}

func TestCreateRefusals(t *testing.T) {
	a := uuid.NewString()
	ok := draft(party(KindProcessing, a), party(KindCustomer, a))
	for name, mut := range map[string]func(c *Create){
		"zero amount":    func(c *Create) { c.Amount = 0 },
		"same account":   func(c *Create) { c.Receiver = c.Sender },
		"foreign sender": func(c *Create) { c.Sender.CounterpartyGUID = uuid.NewString() },
		"root sender":    func(c *Create) { c.Sender.Kind = KindRoot },
		"no asset":       func(c *Create) { c.AssetCode = "" },
		"long purpose":   func(c *Create) { c.Purpose = strings.Repeat("x", MaxPurposeRunes+1) },
		"emission route": func(c *Create) { c.Emission = uuid.NewString() },
	} {
		c := ok
		mut(&c)
		if _, err := Decide(State{}, c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The platform's issue: issuer → emission account, confirmable without bank_guid.
	issue := draft(party(KindEmission, a), party(KindEmission, a))
	issue.Sender = Party{Kind: KindRoot, Address: "GISSUER"}
	issue.Emission = uuid.NewString()
	s := run(t, State{}, issue)
	run(t, s, Confirm{At: t0})
}

func TestEveryEventRoundTrips(t *testing.T) {
	tb := int64(5)
	all := []Event{
		PaymentCreated{GUID: "g", CounterpartyGUID: "c", Sender: Party{Kind: KindCustomer, Address: "A"}, Receiver: Party{Kind: KindRoot},
			Amount: 1, AssetCode: "eUAH", AssetIssuer: "I", TargetBalance: &tb, Purpose: "p", At: t0},
		PaymentConfirmed{GUID: "g", BankGUID: "b", By: "e", At: t0},
		PaymentConfirmed{GUID: "g", By: "e", Limits: &account.SpendLimits{Max: 10_00, OperationSource: "standard",
			Windows: []account.SpendWindow{{Period: "day", Days: 1, Max: 100_00, MaxCount: 3, Source: "kyc"}}}, At: t0},
		PaymentSettled{GUID: "g", Hash: "h", Ledger: 3, At: t0},
		PaymentFailed{GUID: "g", Reason: "r", At: t0},
		PaymentCancelled{GUID: "g", By: "e", At: t0},
		PaymentSignatureRequested{GUID: "g", Attempt: 2, Addresses: []string{"GA", "GB"}, TxHash: "ab", At: t0},
		PaymentSigned{GUID: "g", Attempt: 2, Addresses: []string{"GA"}, At: t0},
		PaymentSignatureRefused{GUID: "g", Attempt: 3, Refusal: RefusalNotFound, HTTPStatus: 404, Reason: "r", Final: true, At: t0},
	}
	types := map[string]bool{}
	for _, e := range all {
		types[reflect.TypeOf(e).Name()] = true
	}
	if len(Events.Types()) != len(types) {
		t.Fatalf("registry has %d types, the test %d", len(Events.Types()), len(types))
	}
	for _, e := range all {
		typ, data, err := Events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Events.Decode(typ, data)
		if err != nil || !reflect.DeepEqual(back, e) || !strings.HasPrefix(typ, EventTypePrefixes[0]) {
			t.Errorf("%s: %+v %v", typ, back, err)
		}
	}
}
