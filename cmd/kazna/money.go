package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/stellar"
	"github.com/kazna-ledger/kazna/stellar/custody"
)

// moneyDeps is what the money services need from serve.
type moneyDeps struct {
	store     eventstore.Store
	vault     *custody.Vault
	net       *network
	plat      *app.Platform
	models    *readModels
	customers *app.Customers
	multisig  *app.Multisig // pays cosigned customer accounts through their bank's /sign
	log       *slog.Logger
	// background runs the settlement worker and the callback dispatcher here (serve --background).
	background bool
}

// moneyServices is the running money side of a node: the use cases the API calls and the background workers.
type moneyServices struct {
	payments   *app.Payments
	limits     *app.Limits
	emission   *app.Emission
	callbacks  *app.Callbacks
	settlement *app.Settlement
	batcher    *stellar.Batcher
	stop       func()
}

// customerStatus tells the payments whether a customer may send, from the customers read model.
type customerStatus struct{ d *readModels }

func (s customerStatus) CustomerDisabled(ctx context.Context, cp, guid string) (disabled, ok bool) {
	c, ok := s.d.customers.Customer(ctx, cp, guid)
	return c.Disabled, ok
}

// startMoney builds payments, emission, settlement and callbacks, and starts the two workers. stop ends the
// workers and waits for them (call it before the store closes).
func startMoney(ctx context.Context, d moneyDeps) (*moneyServices, error) {
	book, err := app.NewAccountBook(d.store)
	if err != nil {
		return nil, err
	}
	paymentBook, err := app.NewPaymentBook(d.store)
	if err != nil {
		return nil, err
	}
	limits, err := app.NewLimits(app.LimitsDeps{Store: d.store, Platform: d.plat, Customers: d.models.customers, Accounts: book,
		Logger: d.log.With("component", "limits")})
	if err != nil {
		return nil, err
	}
	payments, err := app.NewPayments(app.PaymentDeps{Store: d.store, Accounts: book, Book: paymentBook, Platform: d.plat, Categories: d.models.categories,
		Customers: customerStatus{d.models}, Views: d.models.payments, Rules: limits, WaitFor: d.models.runner.WaitFor, Logger: d.log.With("component", "payments")})
	if err != nil {
		return nil, err
	}
	emission, err := app.NewEmission(app.EmissionDeps{Store: d.store, Platform: d.plat, Counterparties: d.models.counterparties,
		Views: d.models.emission, Payments: payments, PaymentViews: d.models.payments, Logger: d.log})
	if err != nil {
		return nil, err
	}
	batcher, err := d.net.horizon.NewBatcher(stellar.BatcherConfig{})
	if err != nil {
		return nil, err
	}
	settlement, err := app.NewSettlement(app.SettlementDeps{Store: d.store, Accounts: book, Payments: paymentBook, Payer: batcher, Chain: d.net.horizon,
		Signers: d.customers.AccountSigners(), Platform: d.plat, Emission: emission, Logger: d.log.With("component", "settlement"),
		Multisig: d.multisig, Cosigned: d.net.horizon})
	if err != nil {
		batcher.Close()
		return nil, err
	}
	callbacks, err := app.NewCallbacks(app.CallbackDeps{Store: d.store, Vault: d.vault, Directory: d.models.counterparties,
		Ready: d.models.runner.WaitCaughtUp, Logger: d.log.With("component", "callbacks")})
	if err != nil {
		batcher.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Go(func() {
			if err := f(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				d.log.Error(name+" stopped", "err", err)
			}
		})
	}
	if d.background {
		run("settlement", settlement.Run)
		run("callbacks", callbacks.Run)
	} else {
		d.log.Warn("settlement and bank callbacks are off in this node (--background=false): another node must run them, or confirmed payments stay PENDING")
	}
	m := &moneyServices{payments: payments, limits: limits, emission: emission, callbacks: callbacks, settlement: settlement, batcher: batcher}
	var once sync.Once
	m.stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			if err := batcher.Close(); err != nil {
				d.log.Error("close the Stellar batcher", "err", fmt.Errorf("settlement: %w", err))
			}
		})
	}
	return m, nil
}
