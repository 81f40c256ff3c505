package projections_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/emission"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

var emT0 = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)

// emissionFeed applies the events that commands on one bank's emission stream produce, as the Runner would.
type emissionFeed struct {
	t     *testing.T
	p     *projections.Emission
	state map[string]emission.State
}

func (f *emissionFeed) do(bank uuid.UUID, cmd any) {
	f.t.Helper()
	s := f.state[bank.String()]
	evs, err := emission.Decide(s, cmd)
	if err != nil {
		f.t.Fatalf("%T: %v", cmd, err)
	}
	for _, e := range evs {
		s = emission.Evolve(s, e)
		typ, data, err := emission.Events.Encode(e)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := f.p.Apply(eventstore.RecordedEvent{Type: typ, Data: data}); err != nil {
			f.t.Fatal(err)
		}
	}
	f.state[bank.String()] = s
}

func emReq(n int, bank uuid.UUID, d emission.Direction, amount int64, reserve *int64, by string) emission.Request {
	return emission.Request{GUID: emGUID(n), CounterpartyGUID: bank, Direction: d, Amount: amount, Reserve: reserve,
		EmissionAccountGUID: uuid.NewSHA1(bank, []byte("emission")), AssetCode: "eUAH", AssetIssuer: "GISSUER", By: by,
		At: emT0.Add(time.Duration(n) * time.Hour)}
}

func emGUID(n int) uuid.UUID { return uuid.NewSHA1(uuid.NameSpaceDNS, []byte{byte(n)}) }

func reserve(v int64) *int64 { return &v }

// emissionFixture: bank A issues 1000 (confirmed, auto), burns 200 (confirmed by the admin), asks 300 more
// (cancelled), issues 100 (confirmed, then its payment fails) and has a burn of 50 open; bank B issues 70 (open).
func emissionFixture(t *testing.T) (*projections.Emission, uuid.UUID, uuid.UUID) {
	f := &emissionFeed{t: t, p: projections.NewEmission(), state: map[string]emission.State{}}
	a, b := uuid.MustParse("0b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01"), uuid.MustParse("7f3d2c1b-9e8a-4b6c-8d5e-2a1f0e9d8c02")
	auto := emReq(1, a, emission.Issue, 1000, reserve(1000), "system@a")
	auto.AutoConfirm = true
	f.do(a, auto)
	f.do(a, emReq(2, a, emission.Burn, 200, nil, "operator@a"))
	f.do(a, emission.Confirm{GUID: emGUID(2), By: "admin", At: emT0.Add(2*time.Hour + time.Minute)})
	f.do(a, emReq(3, a, emission.Issue, 300, reserve(1200), "operator@a"))
	f.do(a, emission.Cancel{GUID: emGUID(3), By: "admin", At: emT0.Add(3*time.Hour + time.Minute)})
	f.do(a, emReq(4, a, emission.Issue, 100, nil, "operator@a"))
	f.do(a, emission.Confirm{GUID: emGUID(4), By: "admin", At: emT0.Add(4*time.Hour + time.Minute)})
	f.do(a, emission.Fail{GUID: emGUID(4), Reason: "trustline not authorized", At: emT0.Add(4*time.Hour + 2*time.Minute)})
	f.do(a, emReq(5, a, emission.Burn, 50, nil, "system@a"))
	f.do(b, emReq(6, b, emission.Issue, 70, reserve(70), "system@b"))
	return f.p, a, b
}

func TestEmissionReadModelFollowsRequests(t *testing.T) {
	p, a, b := emissionFixture(t)
	ctx := context.Background()
	r, ok := p.Request(ctx, strings.ToUpper(emGUID(1).String()))
	want := projections.EmissionRequest{GUID: emGUID(1).String(), CounterpartyGUID: a.String(), Direction: emission.Issue, Amount: 1000,
		ReserveBalance: 1000, EmissionAccountGUID: uuid.NewSHA1(a, []byte("emission")).String(), AssetCode: "eUAH", AssetIssuer: "GISSUER",
		Status: emission.StatusConfirmed, PaymentGUID: emission.PaymentGUID(emGUID(1)).String(), Auto: true, CreatedBy: "system@a",
		UpdatedBy: "system@a", CreatedAt: emT0.Add(time.Hour), UpdatedAt: emT0.Add(time.Hour)}
	if !ok || !reflect.DeepEqual(r, want) {
		t.Fatalf("request 1:\n%+v\nwant\n%+v", r, want)
	}
	if r, _ := p.Request(ctx, emGUID(2).String()); r.Status != emission.StatusConfirmed || r.UpdatedBy != "admin" || r.Auto ||
		!r.UpdatedAt.Equal(emT0.Add(2*time.Hour+time.Minute)) || r.ReserveBalance != 1000 {
		t.Fatalf("request 2: %+v", r)
	}
	if r, _ := p.Request(ctx, emGUID(3).String()); r.Status != emission.StatusCancelled || r.PaymentGUID != "" || r.ReserveBalance != 1200 {
		t.Fatalf("request 3: %+v", r)
	}
	if r, _ := p.Request(ctx, emGUID(4).String()); r.Status != emission.StatusFailed || r.Reason != "trustline not authorized" || r.UpdatedBy != "admin" {
		t.Fatalf("request 4: %+v", r)
	}
	if _, ok := p.Request(ctx, uuid.NewString()); ok {
		t.Fatal("an unknown request was found")
	}
	// The balance keeps the last reserve reported (1200, with the cancelled request) and when it changed.
	bal, ok := p.Balance(ctx, a.String())
	if !ok || bal.GUID != emission.BalanceGUID(a.String()) || bal.Reserve != 1200 || !bal.CreatedAt.Equal(emT0.Add(time.Hour)) ||
		!bal.UpdatedAt.Equal(emT0.Add(3*time.Hour)) || bal.AssetCode != "eUAH" || bal.EmissionAccountGUID != want.EmissionAccountGUID {
		t.Fatalf("balance %+v", bal)
	}
	if _, ok := p.Balance(ctx, uuid.NewString()); ok {
		t.Fatal("a bank without requests has a balance")
	}
	if bal, _ := p.Balance(ctx, b.String()); bal.Reserve != 70 || bal.CounterpartyGUID != b.String() {
		t.Fatalf("bank B balance %+v", bal)
	}
	// Events of other aggregates and unknown Emission* types are skipped.
	if err := p.Apply(eventstore.RecordedEvent{Type: "EmissionSomethingNew", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(eventstore.RecordedEvent{Type: "EmissionRequested", Data: []byte(`{"amount":"x"}`)}); err == nil {
		t.Fatal("a malformed known event was accepted")
	}
	if f := p.Filter(); !reflect.DeepEqual(f.EventTypePrefixes, []string{"Emission"}) || p.Name() != "emission" {
		t.Fatalf("filter %+v", f)
	}
}

func emissionGUIDs(rs []projections.EmissionRequest) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.GUID)
	}
	return out
}

func TestEmissionListFilters(t *testing.T) {
	p, a, b := emissionFixture(t)
	ctx := context.Background()
	g := func(ns ...int) []string {
		out := []string{}
		for _, n := range ns {
			out = append(out, emGUID(n).String())
		}
		return out
	}
	hashes := map[string]string{emission.PaymentGUID(emGUID(1)).String(): "AbCd01", emission.PaymentGUID(emGUID(2)).String(): "ef02"}
	hashOf := func(p string) string { return hashes[p] }
	bank := []string{strings.ToUpper(a.String())}
	cases := []struct {
		name string
		q    projections.EmissionQuery
		want []string
	}{
		{"bank A", projections.EmissionQuery{CounterpartyGUIDs: bank}, g(1, 2, 3, 4, 5)},
		{"every bank", projections.EmissionQuery{}, g(1, 2, 3, 4, 5, 6)},
		{"two banks", projections.EmissionQuery{CounterpartyGUIDs: []string{a.String(), b.String(), a.String()}}, g(1, 2, 3, 4, 5, 6)},
		{"unknown bank", projections.EmissionQuery{CounterpartyGUIDs: []string{uuid.NewString()}}, g()},
		{"guids", projections.EmissionQuery{CounterpartyGUIDs: bank, GUIDs: []string{strings.ToUpper(emGUID(2).String()), emGUID(6).String()}}, g(2)},
		{"direction", projections.EmissionQuery{CounterpartyGUIDs: bank, Directions: []string{"BURN"}}, g(2, 5)},
		{"balance", projections.EmissionQuery{BalanceGUIDs: []string{emission.BalanceGUID(b.String())}}, g(6)},
		{"asset code", projections.EmissionQuery{CounterpartyGUIDs: bank, AssetCodes: []string{"euah"}}, g(1, 2, 3, 4, 5)},
		{"other asset code", projections.EmissionQuery{CounterpartyGUIDs: bank, AssetCodes: []string{"USD"}}, g()},
		{"asset issuer", projections.EmissionQuery{AssetIssuers: []string{"GISSUER"}}, g(1, 2, 3, 4, 5, 6)},
		{"other issuer", projections.EmissionQuery{AssetIssuers: []string{"gissuer"}}, g()},
		{"issuer payment", projections.EmissionQuery{IssuerPaymentGUIDs: []string{emission.PaymentGUID(emGUID(4)).String()}}, g(4)},
		{"emission payment", projections.EmissionQuery{EmissionPaymentGUIDs: []string{emission.PaymentGUID(emGUID(1)).String(), emission.PaymentGUID(emGUID(2)).String()}}, g(1, 2)},
		{"both payments", projections.EmissionQuery{IssuerPaymentGUIDs: []string{emission.PaymentGUID(emGUID(1)).String()},
			EmissionPaymentGUIDs: []string{emission.PaymentGUID(emGUID(2)).String()}}, g()},
		{"issuer hash", projections.EmissionQuery{IssuerPaymentHashes: []string{"abcd01"}, PaymentHash: hashOf}, g(1)},
		{"emission hash", projections.EmissionQuery{EmissionPaymentHashes: []string{"EF02", "abcd01"}, PaymentHash: hashOf}, g(1, 2)},
		{"hash without the payments", projections.EmissionQuery{IssuerPaymentHashes: []string{"abcd01"}}, g()},
		{"min amount", projections.EmissionQuery{MinAmount: reserve(200)}, g(1, 2, 3)},
		{"max amount", projections.EmissionQuery{MaxAmount: reserve(100)}, g(4, 5, 6)},
		{"amount range", projections.EmissionQuery{MinAmount: reserve(70), MaxAmount: reserve(200)}, g(2, 4, 6)},
		{"status", projections.EmissionQuery{Statuses: []string{"created", "FAILED"}}, g(4, 5, 6)},
		{"created by", projections.EmissionQuery{CreatedBy: []string{"system@a", "system@b"}}, g(1, 5, 6)},
		{"updated by", projections.EmissionQuery{UpdatedBy: []string{"admin"}}, g(2, 3, 4)},
		{"created from", projections.EmissionQuery{MinCreated: emT0.Add(4 * time.Hour)}, g(4, 5, 6)},
		{"created until", projections.EmissionQuery{MaxCreated: emT0.Add(2 * time.Hour)}, g(1, 2)},
		{"updated window", projections.EmissionQuery{MinUpdated: emT0.Add(2 * time.Hour), MaxUpdated: emT0.Add(4*time.Hour + time.Minute)}, g(2, 3)},
		{"updated from", projections.EmissionQuery{MinUpdated: emT0.Add(4*time.Hour + 2*time.Minute)}, g(4, 5, 6)},
	}
	for _, c := range cases {
		list, total, err := p.List(ctx, c.q)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := emissionGUIDs(list); !reflect.DeepEqual(got, c.want) || total != len(c.want) {
			t.Errorf("%s: %v (total %d), want %v", c.name, got, total, c.want)
		}
	}
}

func TestEmissionListOrderAndPage(t *testing.T) {
	p, _, _ := emissionFixture(t)
	ctx := context.Background()
	g := func(ns ...int) []string {
		out := []string{}
		for _, n := range ns {
			out = append(out, emGUID(n).String())
		}
		return out
	}
	for _, c := range []struct {
		order projections.EmissionOrder
		want  []string
	}{
		{projections.EmissionByCreatedDesc, g(6, 5, 4, 3, 2, 1)},
		{projections.EmissionByAmount, g(5, 6, 4, 2, 3, 1)},
		{projections.EmissionByAmountDesc, g(1, 3, 2, 4, 6, 5)},
		{projections.EmissionByUpdated, g(1, 2, 3, 4, 5, 6)},
		{projections.EmissionByUpdatedDesc, g(6, 5, 4, 3, 2, 1)},
	} {
		list, _, err := p.List(ctx, projections.EmissionQuery{Order: c.order})
		if got := emissionGUIDs(list); err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v %v, want %v", c.order, got, err, c.want)
		}
	}
	list, total, err := p.List(ctx, projections.EmissionQuery{Offset: 2, Limit: 3})
	if got := emissionGUIDs(list); err != nil || total != 6 || !reflect.DeepEqual(got, g(3, 4, 5)) {
		t.Fatalf("page: %v %d %v", got, total, err)
	}
	if list, total, _ := p.List(ctx, projections.EmissionQuery{Offset: 6}); len(list) != 0 || list == nil || total != 6 {
		t.Fatalf("past the end: %v %d", list, total)
	}
	if list, _, _ := p.List(ctx, projections.EmissionQuery{Limit: projections.MaxListLimit + 1}); len(list) != 6 {
		t.Fatalf("a large limit: %d", len(list))
	}
	// The rows are copies: changing one changes nothing in the read model.
	list[0].Status = "X"
	if r, _ := p.Request(ctx, list[0].GUID); r.Status == "X" {
		t.Fatal("List returned the read model's own row")
	}
	for name, q := range map[string]projections.EmissionQuery{
		"negative offset": {Offset: -1},
		"negative limit":  {Limit: -1},
		"unknown order":   {Order: "amount"},
		"too many guids":  {GUIDs: make([]string, projections.MaxListFilterValues+1)},
		"too many banks":  {CounterpartyGUIDs: make([]string, projections.MaxListFilterValues+1)},
	} {
		if _, _, err := p.List(ctx, q); !errors.Is(err, projections.ErrInvalidListQuery) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
