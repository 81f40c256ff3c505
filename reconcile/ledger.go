package reconcile

import (
	"context"
	"fmt"

	"github.com/kazna-ledger/kazna/projections"
)

// LedgerAccount is an account as the ledger books it.
type LedgerAccount struct {
	GUID             string
	CounterpartyGUID string
	Address          string
	Balance          int64 // minor units, booked
	Reserved         int64 // held by payments in flight
}

// ReadModels is the ledger side of a reconciliation, read from the node's read models: every bank's
// opened accounts, the payments and the settled-payment index of projections.Recons.
type ReadModels struct {
	Counterparties *projections.Counterparties
	Customers      *projections.Customers
	Payments       *projections.Payments
	Recons         *projections.Recons
}

// accountPage is how many accounts one read of the accounts read model copies.
const accountPage = projections.MaxListLimit

// EachAccount calls fn with every opened account of every counterparty, a page at a time.
func (m ReadModels) EachAccount(ctx context.Context, fn func(LedgerAccount) error) error {
	for cpOffset := 0; ; {
		cps, total, err := m.Counterparties.List(ctx, projections.CounterpartyQuery{ListPage: projections.ListPage{Offset: cpOffset, Limit: projections.MaxListLimit}})
		if err != nil {
			return fmt.Errorf("reconcile: list counterparties: %w", err)
		}
		for _, cp := range cps {
			if err := m.eachAccountOf(ctx, cp.GUID, fn); err != nil {
				return err
			}
		}
		cpOffset += len(cps)
		if len(cps) == 0 || cpOffset >= total {
			return nil
		}
	}
}

func (m ReadModels) eachAccountOf(ctx context.Context, cp string, fn func(LedgerAccount) error) error {
	for offset := 0; ; {
		if err := ctx.Err(); err != nil {
			return err
		}
		accts, total, err := m.Customers.ListAccounts(ctx, projections.AccountQuery{CounterpartyGUID: cp, Offset: offset, Limit: accountPage})
		if err != nil {
			return fmt.Errorf("reconcile: accounts of %s: %w", cp, err)
		}
		for _, a := range accts {
			if err := fn(ledgerAccount(a)); err != nil {
				return err
			}
		}
		offset += len(accts)
		if len(accts) == 0 || offset >= total {
			return nil
		}
	}
}

func ledgerAccount(a projections.Account) LedgerAccount {
	return LedgerAccount{GUID: a.GUID, CounterpartyGUID: a.CounterpartyGUID, Address: a.Address,
		Balance: int64(a.Balance), Reserved: int64(a.Reserved)}
}

// Account re-reads one account.
func (m ReadModels) Account(ctx context.Context, cp, guid string) (LedgerAccount, bool) {
	a, ok := m.Customers.Account(ctx, cp, guid)
	if !ok || !a.Opened {
		return LedgerAccount{}, false
	}
	return ledgerAccount(a), true
}

// Payment reads one payment.
func (m ReadModels) Payment(guid string) (projections.Payment, bool) { return m.Payments.Payment(guid) }

// SettledOn lists the payments the ledger settled on a UTC day.
func (m ReadModels) SettledOn(day string) []string { return m.Recons.SettledOn(day) }

// Supply is what the ledger issued and burned, settled.
func (m ReadModels) Supply() (issued, burned int64) { return m.Recons.Supply() }
