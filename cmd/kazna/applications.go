package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/kazna-ledger/kazna/api"
	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/eventstore"
)

// applications is API applications wired for serve: the use cases, the limiter, the call recorder flushing in
// the background, and the authenticator that takes application tokens before the node's own.
type applications struct {
	service  *app.Applications
	limits   *api.Limiter
	recorder *app.CallRecorder
	authn    api.Authenticator
	stop     func()
}

// startApplications starts the call recorder. stop flushes the last counts; call it after the HTTP server has
// drained and before the store closes.
func startApplications(store eventstore.Store, plat *app.Platform, models *readModels, next api.Authenticator, log *slog.Logger) (*applications, error) {
	tokens := auth.NewApplicationTokens(plat.Keyring())
	svc, err := app.NewApplications(app.ApplicationDeps{Store: store, Applications: models.applications, Banks: models.counterparties,
		Tokens: tokens, WaitFor: models.runner.WaitFor, Logger: log})
	if err != nil {
		return nil, err
	}
	recorder, err := app.NewCallRecorder(app.CallRecorderConfig{Store: store, Logger: log.With("component", "call analytics")})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := recorder.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("call analytics stopped", "err", err)
		}
	}()
	return &applications{
		service:  svc,
		limits:   api.NewLimiter(models.applications, nil),
		recorder: recorder,
		authn:    &api.ApplicationAuthenticator{Next: next, Tokens: tokens, Directory: models.applications},
		stop:     func() { cancel(); <-done },
	}, nil
}
