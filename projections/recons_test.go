package projections_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/domain/reconciliation"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

func applyPayment(t *testing.T, p *projections.Recons, evs ...payment.Event) {
	t.Helper()
	for _, e := range evs {
		typ, data, err := payment.Events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Apply(eventstore.RecordedEvent{Type: typ, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReconsFollowSettledPayments(t *testing.T) {
	const a, b = "0b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01", "7f3d2c1b-9e8a-4b6c-8d5e-2a1f0e9d8c02"
	p := projections.NewRecons()
	day := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	root := payment.Party{Kind: payment.KindRoot, Address: "G-ISSUER"}
	proc := func(cp string) payment.Party {
		return payment.Party{Kind: payment.KindProcessing, CounterpartyGUID: cp, AccountGUID: uuid.NewString()}
	}
	create := func(from, to payment.Party, amount int64) string {
		id := uuid.NewString()
		applyPayment(t, p, payment.PaymentCreated{GUID: id, Sender: from, Receiver: to, Amount: amount, AssetCode: "eUAH", AssetIssuer: "G-ISSUER", At: day})
		return id
	}
	settle := func(id string, at time.Time) { applyPayment(t, p, payment.PaymentSettled{GUID: id, Hash: "h", At: at}) }
	issue := create(root, proc(a), 500_00)
	settle(issue, day)
	burn := create(proc(a), root, 20_00)
	settle(burn, day)
	ab := create(proc(a), proc(b), 100_00)
	settle(ab, day)
	internal := create(proc(a), proc(a), 7_00)
	settle(internal, day)
	failed := create(proc(b), proc(a), 9_00)
	applyPayment(t, p, payment.PaymentFailed{GUID: failed, Reason: "refused", At: day})
	late := create(proc(b), proc(a), 40_00)
	settle(late, day.Add(13*time.Hour)) // settled after midnight: the next day's

	if issued, burned := p.Supply(); issued != 500_00 || burned != 20_00 {
		t.Fatalf("supply %d %d", issued, burned)
	}
	if got := p.SettledOn("2026-05-01"); len(got) != 4 || got[2] != ab {
		t.Fatalf("settled on the day %v", got)
	}
	if got := p.SettledOn("2026-05-02"); len(got) != 1 || got[0] != late {
		t.Fatalf("settled the next day %v", got)
	}
	rs, total, err := p.Recons(projections.ReconQuery{Counterparty: b, Role: projections.RoleOneOf})
	if err != nil || total != 2 {
		t.Fatalf("%d %v", total, err)
	}
	first, second := rs[0], rs[1]
	if first.Debtor.GUID != a || first.Saldo != 100_00 || first.Creditor.TotalIn != 100_00 || first.Payments != 1 || first.Status != reconciliation.Calculated {
		t.Errorf("day 1 %+v", first)
	}
	if second.Debtor.GUID != b || second.Saldo != 40_00 || second.Creditor.BalanceBefore != -100_00 || second.Creditor.BalanceAfter != -60_00 {
		t.Errorf("day 2 %+v", second)
	}
	if first.GUID != reconciliation.ReconGUID(b, a, "eUAH:G-ISSUER", "2026-05-01").String() {
		t.Error("recon GUID is not the pair's, in either order")
	}
	if _, _, err := p.Recons(projections.ReconQuery{Counterparty: b}); err == nil {
		t.Error("a query without a role")
	}
	// A settlement of a payment never created stops the model.
	typ, data, _ := payment.Events.Encode(payment.PaymentSettled{GUID: uuid.NewString(), Hash: "h", At: day})
	if err := p.Apply(eventstore.RecordedEvent{Type: typ, Data: data}); err == nil {
		t.Error("settlement of an unknown payment accepted")
	}
}
