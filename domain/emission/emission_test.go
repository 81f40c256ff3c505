package emission_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/emission"
)

var (
	t0      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	bank    = uuid.MustParse("0b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01")
	account = uuid.MustParse("5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d")
	issuer  = "GDQQY7WXGK5JZJQHLY7GMNZOCJ2QVG3ZNHDT4WYCNJU6ZG53RVXZPN2E"
)

func ptr(v int64) *int64 { return &v }

func guid(n int) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte{byte(n)})
}

// request is a valid request n of direction for amount, with reserve (nil: none reported).
func request(n int, d emission.Direction, amount int64, reserve *int64) emission.Request {
	return emission.Request{GUID: guid(n), CounterpartyGUID: bank, Direction: d, Amount: amount, Reserve: reserve,
		EmissionAccountGUID: account, AssetCode: "eUAH", AssetIssuer: issuer, By: "operator@a", At: t0.Add(time.Duration(n) * time.Minute)}
}

// given folds the events that commands produce, each decided on the state before it: the history of a test.
func given(t *testing.T, cmds ...any) emission.State {
	t.Helper()
	var s emission.State
	for i, c := range cmds {
		evs, err := emission.Decide(s, c)
		if err != nil {
			t.Fatalf("given command %d (%T): %v", i, c, err)
		}
		for _, e := range evs {
			s = emission.Evolve(s, e)
		}
	}
	return s
}

func when(t *testing.T, s emission.State, cmd any) ([]emission.Event, emission.State, error) {
	t.Helper()
	evs, err := emission.Decide(s.Clone(), cmd)
	after := s.Clone()
	for _, e := range evs {
		after = emission.Evolve(after, e)
	}
	return evs, after, err
}

func confirm(n int) emission.Confirm {
	return emission.Confirm{GUID: guid(n), By: "admin", At: t0.Add(time.Duration(n)*time.Minute + time.Second)}
}

func cancel(n int) emission.Cancel {
	return emission.Cancel{GUID: guid(n), By: "admin", At: t0.Add(time.Duration(n)*time.Minute + time.Second)}
}

func fail(n int) emission.Fail {
	return emission.Fail{GUID: guid(n), Reason: "insufficient funds", At: t0.Add(time.Duration(n)*time.Minute + 2*time.Second)}
}

func TestRequestIsOpenUntilConfirmed(t *testing.T) {
	evs, s, err := when(t, emission.State{}, request(1, emission.Issue, 10000, ptr(10000)))
	if err != nil {
		t.Fatal(err)
	}
	want := emission.EmissionRequested{GUID: guid(1).String(), CounterpartyGUID: bank.String(), Direction: emission.Issue, Amount: 10000,
		Reserve: ptr(10000), ReserveBalance: 10000, EmissionAccountGUID: account.String(), AssetCode: "eUAH", AssetIssuer: issuer,
		By: "operator@a", At: t0.Add(time.Minute)}
	if len(evs) != 1 || !reflect.DeepEqual(evs[0], want) {
		t.Fatalf("events %#v", evs)
	}
	if s.Open != guid(1).String() || s.Issued != 0 || s.Reserve != 10000 || !s.ReserveKnown || s.Requests[guid(1).String()].Status != emission.StatusCreated {
		t.Fatalf("state %+v", s)
	}

	evs, s, err = when(t, s, confirm(1))
	if err != nil {
		t.Fatal(err)
	}
	conf, ok := evs[0].(emission.EmissionConfirmed)
	if len(evs) != 1 || !ok || conf.PaymentGUID != emission.PaymentGUID(guid(1)).String() || conf.Auto || conf.By != "admin" {
		t.Fatalf("events %#v", evs)
	}
	if s.Open != "" || s.Issued != 10000 || s.Outstanding() != 10000 || s.Requests[guid(1).String()].Status != emission.StatusConfirmed {
		t.Fatalf("state %+v", s)
	}
	// The same confirmation again is a retry.
	if evs, _, err := when(t, s, confirm(1)); err != nil || len(evs) != 0 {
		t.Fatalf("confirm again: %v %v", evs, err)
	}
	// A confirmed request cannot be cancelled.
	if _, _, err := when(t, s, cancel(1)); !errors.Is(err, emission.ErrNotOpen) {
		t.Fatalf("cancel a confirmed request: %v", err)
	}
}

func TestPaymentGUIDIsDerived(t *testing.T) {
	if emission.PaymentGUID(guid(1)) != uuid.NewSHA1(guid(1), []byte("payment")) || emission.PaymentGUID(guid(1)) == emission.PaymentGUID(guid(2)) {
		t.Fatal("payment GUID")
	}
	if emission.BalanceGUID(bank.String()) != emission.BalanceGUID(strings.ToUpper(bank.String())) || emission.BalanceGUID(bank.String()) == emission.BalanceGUID(uuid.NewString()) {
		t.Fatal("balance GUID")
	}
	if emission.Stream(bank) != "emission-"+bank.String() {
		t.Fatal(emission.Stream(bank))
	}
}

func TestOneOpenRequestAtATime(t *testing.T) {
	s := given(t, request(1, emission.Issue, 100, ptr(1000)))
	_, _, err := when(t, s, request(2, emission.Burn, 50, nil))
	var open *emission.OpenRequestError
	if !errors.Is(err, emission.ErrOpenRequest) || !errors.As(err, &open) || open.GUID != guid(1).String() || open.Direction != emission.Issue {
		t.Fatalf("second request: %v", err)
	}
	// The open request itself again is a retry, even from another sender or later.
	retry := request(1, emission.Issue, 100, ptr(1000))
	retry.By, retry.At = "system@a", t0.Add(time.Hour)
	if evs, _, err := when(t, s, retry); err != nil || len(evs) != 0 {
		t.Fatalf("retry: %v %v", evs, err)
	}
	// The same GUID with other content is another request.
	for name, c := range map[string]emission.Request{
		"amount":    request(1, emission.Issue, 101, ptr(1000)),
		"direction": request(1, emission.Burn, 100, ptr(1000)),
		"reserve":   request(1, emission.Issue, 100, nil),
	} {
		if _, _, err := when(t, s, c); !errors.Is(err, emission.ErrAlreadyExists) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Once it is closed (either way), the next one may open.
	for name, close := range map[string]any{"confirmed": confirm(1), "cancelled": cancel(1)} {
		closed := given(t, request(1, emission.Issue, 100, ptr(1000)), close)
		if _, s, err := when(t, closed, request(2, emission.Issue, 50, nil)); err != nil || s.Open != guid(2).String() {
			t.Errorf("after %s: %v %+v", name, err, s)
		}
	}
}

func TestCancel(t *testing.T) {
	s := given(t, request(1, emission.Issue, 100, ptr(1000)))
	evs, s, err := when(t, s, cancel(1))
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v %v", evs, err)
	}
	if c := evs[0].(emission.EmissionCancelled); c.GUID != guid(1).String() || c.CounterpartyGUID != bank.String() || c.By != "admin" {
		t.Fatalf("%#v", c)
	}
	if s.Open != "" || s.Issued != 0 || s.Requests[guid(1).String()].Status != emission.StatusCancelled || s.Requests[guid(1).String()].UpdatedBy != "admin" {
		t.Fatalf("%+v", s)
	}
	if evs, _, err := when(t, s, cancel(1)); err != nil || len(evs) != 0 {
		t.Fatalf("cancel again: %v %v", evs, err)
	}
	var notOpen *emission.NotOpenError
	if _, _, err := when(t, s, confirm(1)); !errors.As(err, &notOpen) || notOpen.Status != emission.StatusCancelled {
		t.Fatalf("confirm a cancelled request: %v", err)
	}
	// The reserve it reported stays the last one reported.
	if s.Reserve != 1000 || !s.ReserveKnown {
		t.Fatalf("reserve %+v", s)
	}
}

// TestReserveRule: guide §9. Issue: reserve ≥ issued − burned + X. Burn: reserve ≥ issued − burned − Y and
// Y ≤ issued − burned. The totals count confirmed requests only.
func TestReserveRule(t *testing.T) {
	// Issued 1000, burned 200: 800 in circulation; the last reserve reported is 1000.
	history := []any{request(1, emission.Issue, 1000, ptr(1000)), confirm(1), request(2, emission.Burn, 200, nil), confirm(2)}
	cases := []struct {
		name    string
		cmd     emission.Request
		wantErr error
		needed  int64
	}{
		{"issue up to the reserve", request(3, emission.Issue, 200, nil), nil, 0},
		{"issue one over the reserve", request(3, emission.Issue, 201, nil), emission.ErrReserve, 1001},
		{"issue with a larger reserve", request(3, emission.Issue, 700, ptr(1500)), nil, 0},
		{"issue with a smaller reserve", request(3, emission.Issue, 1, ptr(800)), emission.ErrReserve, 801},
		{"issue with a zero reserve", request(3, emission.Issue, 1, ptr(0)), emission.ErrReserve, 801},
		{"burn all", request(3, emission.Burn, 800, nil), nil, 0},
		{"burn more than circulates", request(3, emission.Burn, 801, ptr(5000)), emission.ErrBurnExceeds, 0},
		{"burn that restores coverage", request(3, emission.Burn, 300, ptr(500)), nil, 0},
		{"burn that does not restore coverage", request(3, emission.Burn, 299, ptr(500)), emission.ErrReserve, 501},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := given(t, history...)
			if s.Issued != 1000 || s.Burned != 200 || s.Outstanding() != 800 {
				t.Fatalf("given %+v", s)
			}
			evs, after, err := when(t, s, c.cmd)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err %v, want %v", err, c.wantErr)
			}
			if c.wantErr == nil {
				if len(evs) != 1 || after.Open != c.cmd.GUID.String() {
					t.Fatalf("%v %+v", evs, after)
				}
				return
			}
			if len(evs) != 0 {
				t.Fatalf("a refusal produced %v", evs)
			}
			var re *emission.ReserveError
			if errors.As(err, &re) && (re.Needed() != c.needed || re.Issued != 1000 || re.Burned != 200 || !re.ReserveKnown) {
				t.Fatalf("figures %+v (needed %d)", re, re.Needed())
			}
			var be *emission.BurnExceedsError
			if errors.As(err, &be) && (be.Requested != 801 || be.Issued-be.Burned != 800) {
				t.Fatalf("figures %+v", be)
			}
			if !strings.Contains(err.Error(), "1000") {
				t.Fatalf("message without the figures: %v", err)
			}
		})
	}
}

func TestNoReserveReportedCountsAsZero(t *testing.T) {
	_, _, err := when(t, emission.State{}, request(1, emission.Issue, 1, nil))
	var re *emission.ReserveError
	if !errors.As(err, &re) || re.ReserveKnown || re.Reserve != 0 || re.Needed() != 1 {
		t.Fatalf("%v", err)
	}
	// Nothing in circulation: nothing to burn.
	if _, _, err := when(t, emission.State{}, request(1, emission.Burn, 1, ptr(100))); !errors.Is(err, emission.ErrBurnExceeds) {
		t.Fatalf("burn of nothing: %v", err)
	}
}

func TestAutoConfirmIsOneDecision(t *testing.T) {
	c := request(1, emission.Issue, 500, ptr(500))
	c.AutoConfirm = true
	evs, s, err := when(t, emission.State{}, c)
	if err != nil || len(evs) != 2 {
		t.Fatalf("%v %v", evs, err)
	}
	if conf := evs[1].(emission.EmissionConfirmed); !conf.Auto || conf.By != "operator@a" || conf.At != c.At {
		t.Fatalf("%#v", conf)
	}
	if s.Open != "" || s.Issued != 500 {
		t.Fatalf("%+v", s)
	}
	// A refused auto request writes neither event.
	c2 := request(2, emission.Issue, 1, nil)
	c2.AutoConfirm = true
	if evs, _, err := when(t, s, c2); !errors.Is(err, emission.ErrReserve) || len(evs) != 0 {
		t.Fatalf("%v %v", evs, err)
	}
	// A retry of the auto request is a no-op.
	if evs, _, err := when(t, s, c); err != nil || len(evs) != 0 {
		t.Fatalf("%v %v", evs, err)
	}
}

func TestFailCorrectsTheTotals(t *testing.T) {
	s := given(t, request(1, emission.Issue, 1000, ptr(1000)), confirm(1), request(2, emission.Burn, 300, nil), confirm(2))
	evs, after, err := when(t, s, fail(2))
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v %v", evs, err)
	}
	if f := evs[0].(emission.EmissionFailed); f.Reason != "insufficient funds" || f.CounterpartyGUID != bank.String() {
		t.Fatalf("%#v", f)
	}
	if after.Burned != 0 || after.Issued != 1000 || after.Requests[guid(2).String()].Status != emission.StatusFailed {
		t.Fatalf("%+v", after)
	}
	if evs, _, err := when(t, after, fail(2)); err != nil || len(evs) != 0 {
		t.Fatalf("fail again: %v %v", evs, err)
	}
	_, after, _ = when(t, after, fail(1))
	if after.Issued != 0 || after.Outstanding() != 0 {
		t.Fatalf("%+v", after)
	}
	// Only a confirmed request has a payment that can fail.
	open := given(t, request(1, emission.Issue, 10, ptr(10)))
	if _, _, err := when(t, open, fail(1)); !errors.Is(err, emission.ErrNotConfirmed) {
		t.Fatalf("fail an open request: %v", err)
	}
	cancelled := given(t, request(1, emission.Issue, 10, ptr(10)), cancel(1))
	if _, _, err := when(t, cancelled, fail(1)); !errors.Is(err, emission.ErrNotConfirmed) {
		t.Fatalf("fail a cancelled request: %v", err)
	}
	// A failed request can be neither confirmed nor cancelled.
	failed := given(t, request(1, emission.Issue, 10, ptr(10)), confirm(1), fail(1))
	for _, c := range []any{confirm(1), cancel(1)} {
		if _, _, err := when(t, failed, c); !errors.Is(err, emission.ErrNotOpen) {
			t.Fatalf("%T on a failed request: %v", c, err)
		}
	}
	for _, reason := range []string{"", "  ", "bad\x00reason", strings.Repeat("x", emission.MaxReasonRunes+1)} {
		f := fail(1)
		f.Reason = reason
		var inv *emission.ErrInvalid
		if _, _, err := when(t, s, f); !errors.As(err, &inv) || inv.Field != "reason" {
			t.Errorf("reason %q: %v", reason, err)
		}
	}
}

// TestConfirmChecksTheRuleAgain: a failed burn puts its amount back in circulation, so an issue requested
// before the failure may no longer be covered when it is confirmed.
func TestConfirmChecksTheRuleAgain(t *testing.T) {
	s := given(t, request(1, emission.Issue, 100, ptr(100)), confirm(1), request(2, emission.Burn, 50, nil), confirm(2),
		request(3, emission.Issue, 50, nil), fail(2))
	_, _, err := when(t, s, confirm(3))
	var re *emission.ReserveError
	if !errors.As(err, &re) || re.Needed() != 150 || re.Reserve != 100 {
		t.Fatalf("%v", err)
	}
	// The platform may still cancel it.
	if _, after, err := when(t, s, cancel(3)); err != nil || after.Open != "" {
		t.Fatalf("%v %+v", err, after)
	}
}

func TestNotFound(t *testing.T) {
	s := given(t, request(1, emission.Issue, 10, ptr(10)))
	for _, c := range []any{confirm(9), cancel(9), fail(9)} {
		if _, _, err := when(t, s, c); !errors.Is(err, emission.ErrNotFound) {
			t.Errorf("%T: %v", c, err)
		}
	}
	if _, _, err := when(t, s, struct{}{}); !errors.Is(err, emission.ErrUnknownCommand) {
		t.Errorf("unknown command: %v", err)
	}
}

func TestRequestValidation(t *testing.T) {
	mod := func(f func(*emission.Request)) emission.Request {
		c := request(1, emission.Issue, 10, ptr(10))
		f(&c)
		return c
	}
	cases := map[string]struct {
		cmd   emission.Request
		field string
	}{
		"no guid":           {mod(func(c *emission.Request) { c.GUID = uuid.Nil }), "guid"},
		"no counterparty":   {mod(func(c *emission.Request) { c.CounterpartyGUID = uuid.Nil }), "counterparty_guid"},
		"bad direction":     {mod(func(c *emission.Request) { c.Direction = "mint" }), "direction"},
		"zero amount":       {mod(func(c *emission.Request) { c.Amount = 0 }), "amount"},
		"negative amount":   {mod(func(c *emission.Request) { c.Amount = -5 }), "amount"},
		"negative reserve":  {mod(func(c *emission.Request) { c.Reserve = ptr(-1) }), "reserve_balance"},
		"no account":        {mod(func(c *emission.Request) { c.EmissionAccountGUID = uuid.Nil }), "emission_account_guid"},
		"no asset code":     {mod(func(c *emission.Request) { c.AssetCode = " " }), "asset_code"},
		"no asset issuer":   {mod(func(c *emission.Request) { c.AssetIssuer = "" }), "asset_issuer"},
		"long asset code":   {mod(func(c *emission.Request) { c.AssetCode = strings.Repeat("A", emission.MaxAssetBytes+1) }), "asset_code"},
		"long by":           {mod(func(c *emission.Request) { c.By = strings.Repeat("a", emission.MaxByBytes+1) }), "by"},
		"issuer not UTF-8":  {mod(func(c *emission.Request) { c.AssetIssuer = "\xff" }), "asset_issuer"},
		"other counterpart": {mod(func(c *emission.Request) { c.GUID, c.CounterpartyGUID = guid(5), uuid.New() }), "counterparty_guid"},
	}
	s := given(t, request(2, emission.Issue, 10, ptr(10)), cancel(2))
	for name, c := range cases {
		var inv *emission.ErrInvalid
		if _, _, err := when(t, s, c.cmd); !errors.As(err, &inv) || inv.Field != c.field {
			t.Errorf("%s: %v", name, err)
		} else if f, _ := inv.InvalidField(); f != c.field {
			t.Errorf("%s: InvalidField %q", name, f)
		}
	}
}

func TestTotalsStayInRange(t *testing.T) {
	s := given(t, request(1, emission.Issue, math.MaxInt64, ptr(math.MaxInt64)), confirm(1))
	var inv *emission.ErrInvalid
	if _, _, err := when(t, s, request(2, emission.Issue, 1, nil)); !errors.As(err, &inv) || inv.Field != "amount" {
		t.Fatalf("issue past the range: %v", err)
	}
	// Burning all of it, then issuing again, keeps the issued total growing: refused at the edge.
	s = given(t, request(1, emission.Issue, math.MaxInt64, ptr(math.MaxInt64)), confirm(1), request(2, emission.Burn, math.MaxInt64, nil), confirm(2))
	if s.Outstanding() != 0 {
		t.Fatalf("%+v", s)
	}
	if _, _, err := when(t, s, request(3, emission.Issue, 1, nil)); !errors.As(err, &inv) {
		t.Fatalf("issued total past the range: %v", err)
	}
}

func TestEvolveIgnoresEventsOutOfOrder(t *testing.T) {
	s := given(t, request(1, emission.Issue, 10, ptr(10)), confirm(1))
	// A second confirmation or a cancellation of a confirmed request changes nothing (Decide never writes
	// one; a reader of an odd log must not count twice).
	for _, e := range []emission.Event{
		emission.EmissionConfirmed{GUID: guid(1).String(), At: t0},
		emission.EmissionCancelled{GUID: guid(1).String(), At: t0},
		emission.EmissionConfirmed{GUID: guid(9).String(), At: t0},
	} {
		if after := emission.Evolve(s.Clone(), e); after.Issued != 10 || after.Requests[guid(1).String()].Status != emission.StatusConfirmed {
			t.Errorf("%T: %+v", e, after)
		}
	}
}

func TestCloneIsIndependent(t *testing.T) {
	s := given(t, request(1, emission.Issue, 10, ptr(10)))
	kept := s.Clone()
	evs, err := emission.Decide(s, confirm(1))
	if err != nil {
		t.Fatal(err)
	}
	_ = emission.Evolve(s, evs[0])
	if kept.Requests[guid(1).String()].Status != emission.StatusCreated || kept.Open == "" {
		t.Fatalf("the clone changed: %+v", kept)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	events := []emission.Event{
		emission.EmissionRequested{GUID: guid(1).String(), CounterpartyGUID: bank.String(), Direction: emission.Burn, Amount: 5, Reserve: ptr(7),
			ReserveBalance: 7, EmissionAccountGUID: account.String(), AssetCode: "eUAH", AssetIssuer: issuer, By: "x", At: t0},
		emission.EmissionConfirmed{GUID: guid(1).String(), CounterpartyGUID: bank.String(), PaymentGUID: guid(2).String(), Auto: true, By: "y", At: t0},
		emission.EmissionCancelled{GUID: guid(1).String(), CounterpartyGUID: bank.String(), By: "z", At: t0},
		emission.EmissionFailed{GUID: guid(1).String(), CounterpartyGUID: bank.String(), Reason: "r", At: t0},
	}
	for _, e := range events {
		typ, data, err := emission.Events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(typ, emission.EventTypePrefixes[0]) {
			t.Errorf("%s does not start with the prefix", typ)
		}
		back, err := emission.Events.Decode(typ, data)
		if err != nil || !reflect.DeepEqual(back, e) {
			t.Fatalf("%s: %#v %v", typ, back, err)
		}
	}
	if got := emission.Events.Types(); !reflect.DeepEqual(got, []string{"EmissionCancelled", "EmissionConfirmed", "EmissionFailed", "EmissionRequested"}) {
		t.Fatalf("types %v", got)
	}
}
