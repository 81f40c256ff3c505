package api

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// fakePayments is an in-memory PaymentService. It records what each call got (the last input, confirmation,
// cancellation, query and write options) so tests can check the handlers' parsing, and counts the writes, so
// a test can tell that a refused request wrote nothing. err, when set, is what every write answers instead.
type fakePayments struct {
	mu        sync.Mutex
	rows      map[string]projections.Payment
	input     app.PaymentInput
	inputCP   uuid.UUID
	confirmed fakeConfirm
	cancelled uuid.UUID
	query     projections.PaymentQuery
	lastWrite app.Write
	writes    int
	err       error
}

type fakeConfirm struct {
	cp, id         uuid.UUID
	bank, branch   string
	idempotencyKey string
}

func newFakePayments(rows ...projections.Payment) *fakePayments {
	f := &fakePayments{rows: map[string]projections.Payment{}}
	for _, p := range rows {
		f.rows[p.GUID] = p
	}
	return f
}

// fakeWritten is the position every fake write answers, so tests can see the handler wait for it.
var fakeWritten = eventstore.Position{Commit: 7, Prepare: 7}

func (f *fakePayments) Asset() (money.Asset, string) { return testAsset, testIssuer }

func (f *fakePayments) CreatePayment(_ context.Context, cp uuid.UUID, in app.PaymentInput, w app.Write) (app.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	f.input, f.inputCP, f.lastWrite = in, cp, w
	if f.err != nil {
		return app.Written{}, f.err
	}
	return app.Written{GUID: uuid.NewString(), Position: fakeWritten}, nil
}

func (f *fakePayments) ConfirmPayment(_ context.Context, cp, id uuid.UUID, bankGUID, branch string, w app.Write) (app.ConfirmedPayment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	f.confirmed, f.lastWrite = fakeConfirm{cp: cp, id: id, bank: bankGUID, branch: branch, idempotencyKey: w.IdempotencyKey}, w
	if f.err != nil {
		return app.ConfirmedPayment{}, f.err
	}
	return app.ConfirmedPayment{GUID: id.String(), Status: payment.StatusPending, Position: fakeWritten}, nil
}

func (f *fakePayments) CancelPayment(_ context.Context, cp, id uuid.UUID, w app.Write) (app.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	f.cancelled, f.lastWrite = id, w
	if f.err != nil {
		return app.Written{}, f.err
	}
	return app.Written{GUID: id.String(), Position: fakeWritten}, nil
}

func (f *fakePayments) PaymentView(_ context.Context, guid string) (projections.Payment, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.rows[strings.ToLower(guid)]
	return p, ok
}

// ListPayments applies only the bank and the branch, as the read model states them; the other filters are
// the read model's to test (projections), the handler's part is to pass them (TestPaymentListQuery).
func (f *fakePayments) ListPayments(q projections.PaymentQuery) ([]projections.Payment, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.query = q
	var out []projections.Payment
	for _, p := range f.rows {
		if p.VisibleTo(q.Counterparty) && (q.Branch == "" || inBranch(p, q.Counterparty, q.Branch)) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b projections.Payment) int { return strings.Compare(a.GUID, b.GUID) })
	return out, len(out), nil
}

func (f *fakePayments) writeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}
