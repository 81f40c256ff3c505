package api

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/application"
	"github.com/kazna-ledger/kazna/projections"
)

// fakeApplications is an in-memory ApplicationService for the route-wide tests (matrix, bad input); the
// applications tests run the real one.
type fakeApplications struct {
	mu   sync.Mutex
	apps map[string]application.State
}

func newFakeApplications() *fakeApplications {
	return &fakeApplications{apps: map[string]application.State{}}
}

func (f *fakeApplications) CreateApplication(_ context.Context, cp uuid.UUID, name, description string, _ app.Write) (app.CreatedApplication, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := uuid.New()
	evs, err := application.Decide(application.State{}, application.Register{GUID: id, Counterparty: cp, Name: name, Description: description,
		SecretHash: strings.Repeat("aa", 32), At: time.Now()})
	if err != nil {
		return app.CreatedApplication{}, err
	}
	f.apps[id.String()] = application.Evolve(application.State{}, evs[0])
	return app.CreatedApplication{GUID: id.String(), ClientID: id.String(), ClientSecret: "kzs_fake"}, nil
}

func (f *fakeApplications) Application(_ context.Context, cp, guid string) (application.State, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.apps[guid]
	return s, ok && s.Counterparty == cp
}

func (f *fakeApplications) ListApplications(_ context.Context, cp string, _ bool) []application.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []application.State
	for _, s := range f.apps {
		if s.Counterparty == cp {
			out = append(out, s)
		}
	}
	return out
}

func (f *fakeApplications) run(cp, guid uuid.UUID, cmd any) (app.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.apps[guid.String()]
	if !ok || (cp != uuid.Nil && s.Counterparty != cp.String()) {
		return app.Written{}, application.ErrNotFound
	}
	evs, err := application.Decide(s, cmd)
	if err != nil {
		return app.Written{}, err
	}
	for _, e := range evs {
		s = application.Evolve(s, e)
	}
	f.apps[guid.String()] = s
	return app.Written{GUID: guid.String()}, nil
}

func (f *fakeApplications) DisableApplication(_ context.Context, cp, guid uuid.UUID, _ app.Write) (app.Written, error) {
	return f.run(cp, guid, application.Disable{At: time.Now()})
}

func (f *fakeApplications) EnableApplication(_ context.Context, cp, guid uuid.UUID, _ app.Write) (app.Written, error) {
	return f.run(cp, guid, application.Enable{At: time.Now()})
}

func (f *fakeApplications) DeleteApplication(_ context.Context, cp, guid uuid.UUID, _ app.Write) (app.Written, error) {
	return f.run(cp, guid, application.Delete{At: time.Now()})
}

func (f *fakeApplications) ReissueSecret(_ context.Context, cp, guid uuid.UUID, grace time.Duration, _ app.Write) (app.ReissuedSecret, error) {
	_, err := f.run(cp, guid, application.ReissueSecret{SecretHash: strings.Repeat("bb", 32), Grace: grace, At: time.Now()})
	return app.ReissuedSecret{ClientSecret: "kzs_fake2", Version: 2}, err
}

func (f *fakeApplications) Subscribe(_ context.Context, cp, guid uuid.UUID, product application.Product, plan string, _ app.Write) (application.Subscription, error) {
	if _, err := f.run(cp, guid, application.Subscribe{Product: product, Plan: plan, At: time.Now()}); err != nil {
		return application.Subscription{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.apps[guid.String()].Subscriptions[product], nil
}

func (f *fakeApplications) Unsubscribe(_ context.Context, cp, guid uuid.UUID, product application.Product, _ app.Write) (app.Written, error) {
	return f.run(cp, guid, application.Unsubscribe{Product: product, At: time.Now()})
}

func (f *fakeApplications) ApproveSubscription(_ context.Context, guid uuid.UUID, product application.Product, w app.Write) (app.Written, error) {
	return f.run(uuid.Nil, guid, application.Approve{Product: product, By: w.Metadata.Actor, At: time.Now()})
}

func (f *fakeApplications) RejectSubscription(_ context.Context, guid uuid.UUID, product application.Product, reason string, w app.Write) (app.Written, error) {
	return f.run(uuid.Nil, guid, application.Reject{Product: product, By: w.Metadata.Actor, Reason: reason, At: time.Now()})
}

func (f *fakeApplications) PendingRequests(context.Context) []projections.SubscriptionRequest {
	return []projections.SubscriptionRequest{}
}

func (f *fakeApplications) ApplicationCalls(ctx context.Context, q projections.CallQuery) (projections.CallReport, error) {
	return projections.NewApplications(0).Calls(ctx, q)
}

func (f *fakeApplications) IssueToken(context.Context, string, string, string) (app.IssuedToken, error) {
	return app.IssuedToken{}, app.ErrInvalidClient
}
