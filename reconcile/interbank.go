package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/reconciliation"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// ErrReconNotFound is a recon that does not exist or that the bank takes no part in.
var ErrReconNotFound = errors.New("reconcile: no such recon of this counterparty")

// DefaultPaymentTerm is how long after its day ends a debtor has to pay an awaiting recon before it is
// overdue.
const DefaultPaymentTerm = 24 * time.Hour

// Counterparties tells the participants' names, flags and reserves (projections.Counterparties and
// projections.Emission).
type Counterparties interface {
	Counterparty(ctx context.Context, guid string) (projections.Counterparty, bool)
}

// Reserves tells the reserve balance a bank last reported (projections.Emission).
type Reserves interface {
	Balance(ctx context.Context, counterparty string) (projections.EmissionBalance, bool)
}

// InterbankDeps configures Interbank.
type InterbankDeps struct {
	Store          command.Store
	Recons         *projections.Recons
	Counterparties Counterparties
	Reserves       Reserves // optional: without it reserves show as 0
	Asset          money.Asset
	PaymentTerm    time.Duration
	Now            func() time.Time
	Logger         *slog.Logger
}

// Interbank serves the inter-bank recons of guide §15: lists from projections.Recons, and the status
// updates through the recon aggregate.
type Interbank struct {
	d InterbankDeps
}

// NewInterbank checks deps and fills defaults.
func NewInterbank(d InterbankDeps) (*Interbank, error) {
	if d.Store == nil || d.Recons == nil || d.Counterparties == nil {
		return nil, errors.New("reconcile: inter-bank recons need a store, the recons and counterparties read models")
	}
	if d.PaymentTerm <= 0 {
		d.PaymentTerm = DefaultPaymentTerm
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Interbank{d: d}, nil
}

func (s *Interbank) query(q projections.ReconQuery) projections.ReconQuery {
	q.Now, q.PaymentTerm = s.d.Now().UTC(), s.d.PaymentTerm
	return q
}

// List lists a bank's recons.
func (s *Interbank) List(_ context.Context, q projections.ReconQuery) ([]projections.Recon, int, error) {
	return s.d.Recons.Recons(s.query(q))
}

// Participants lists the banks a bank has recons with.
func (s *Interbank) Participants(_ context.Context, q projections.ReconQuery) ([]projections.Participant, int, error) {
	return s.d.Recons.Participants(s.query(q))
}

// Party is what the API shows of a participant besides its figures.
type Party struct {
	Name           string
	Blocked        bool
	CentralReserve int64 // the reserve balance it last reported (minor units)
}

// Party describes a participant.
func (s *Interbank) Party(ctx context.Context, guid string) Party {
	var p Party
	if c, ok := s.d.Counterparties.Counterparty(ctx, guid); ok {
		p.Name, p.Blocked = c.Name, c.Disabled
	}
	if s.d.Reserves != nil {
		if b, ok := s.d.Reserves.Balance(ctx, guid); ok {
			p.CentralReserve = b.Reserve
		}
	}
	return p
}

// UpdateStatus moves a recon the bank takes part in: confirmed, or paid (by the creditor).
func (s *Interbank) UpdateStatus(ctx context.Context, cp, recon uuid.UUID, status reconciliation.ReconStatus, key string, meta eventstore.Metadata) (eventstore.Position, error) {
	now := s.d.Now().UTC()
	r, ok := s.d.Recons.Recon(cp.String(), recon.String(), now, s.d.PaymentTerm)
	if !ok {
		return eventstore.Position{}, ErrReconNotFound
	}
	calc := r.Calculation(!now.Before(r.Day.Add(24 * time.Hour)))
	calc.GUID = recon
	env := command.Envelope{Metadata: meta}
	if key != "" {
		env.IdempotencyKey, env.Fingerprint = key+"/recon", []byte(recon.String()+"|"+string(status))
	}
	res, err := command.Handle(ctx, s.d.Store, reconciliation.ReconStream(recon), reconciliation.ReconDecider, reconciliation.ReconEvents,
		any(reconciliation.UpdateStatus{Calculation: calc, Counterparty: strings.ToLower(cp.String()), Status: status, By: meta.Actor, At: now}), env)
	if err != nil {
		return eventstore.Position{}, err
	}
	if len(res.Events) > 0 {
		s.d.Logger.InfoContext(ctx, "recon status updated", "recon", recon.String(), "counterparty", cp.String(), "status", string(status))
	}
	return res.Position, nil
}

// Asset is the platform's asset, to show amounts (the recons of Kazna are of its one asset).
func (s *Interbank) Asset() money.Asset { return s.d.Asset }
