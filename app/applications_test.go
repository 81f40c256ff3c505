package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/domain/application"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
)

var (
	appKeyOnce sync.Once
	appKey     *rsa.PrivateKey
)

// appService is app.Applications over a fresh bolt store with its read model followed by a runner.
func appService(t *testing.T) (*Applications, *bolt.Store, *projections.Applications, *projections.Runner, *auth.ApplicationTokens, *clock) {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	model := projections.NewApplications(0)
	runner, err := projections.NewRunner(store, projections.Options{}, model)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	appKeyOnce.Do(func() {
		if appKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	k, err := auth.NewSigningKey(appKey, t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := auth.NewKeyring(auth.KeyringConfig{MaxTTL: time.Hour, Now: func() time.Time { return t0 }}, k)
	if err != nil {
		t.Fatal(err)
	}
	tokens := auth.NewApplicationTokens(kr)
	c := &clock{now: t0}
	svc, err := NewApplications(ApplicationDeps{Store: store, Applications: model, Tokens: tokens, WaitFor: runner.WaitFor, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return svc, store, model, runner, tokens, c
}

var bankOne = uuid.MustParse("0b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01")

func TestApplicationsIssueToken(t *testing.T) {
	svc, _, _, _, tokens, c := appService(t)
	ctx := context.Background()
	created, err := svc.CreateApplication(ctx, bankOne, "Core banking", "", Write{})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.MustParse(created.GUID)
	if _, err := svc.Subscribe(ctx, bankOne, id, application.ProductCustomers, "basic", Write{}); err != nil {
		t.Fatal(err)
	}
	tok, err := svc.IssueToken(ctx, created.ClientID, created.ClientSecret, "")
	if err != nil || tok.Scope != "customers" || tok.ExpiresIn != DefaultApplicationTokenTTL {
		t.Fatalf("token %+v %v", tok, err)
	}
	claims, err := tokens.Verify(tok.AccessToken, c.Now())
	if err != nil || claims.Application != created.GUID || claims.Counterparty != bankOne.String() || claims.SecretVersion != 1 {
		t.Fatalf("claims %+v %v", claims, err)
	}
	for name, try := range map[string]func() error{
		"wrong secret": func() error {
			_, err := svc.IssueToken(ctx, created.ClientID, created.ClientSecret+"x", "")
			return err
		},
		"no secret": func() error { _, err := svc.IssueToken(ctx, created.ClientID, "", ""); return err },
		"unknown":   func() error { _, err := svc.IssueToken(ctx, uuid.NewString(), created.ClientSecret, ""); return err },
		"not a GUID": func() error {
			_, err := svc.IssueToken(ctx, "{"+created.ClientID+"}", created.ClientSecret, "")
			return err
		},
		"other's hash": func() error {
			_, err := svc.IssueToken(ctx, created.ClientID, auth.HashClientSecretHex(created.ClientID, created.ClientSecret), "")
			return err
		},
	} {
		if err := try(); !errors.Is(err, ErrInvalidClient) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := svc.IssueToken(ctx, created.ClientID, created.ClientSecret, "payments"); !errors.Is(err, ErrInvalidScope) {
		t.Fatalf("scope beyond the grant: %v", err)
	}
	if _, err := svc.IssueToken(ctx, created.ClientID, created.ClientSecret, "customers nonsense"); !errors.Is(err, ErrInvalidScope) {
		t.Fatalf("unknown product in the scope: %v", err)
	}
	// Disabled: refused; the secret is checked against the stream, not a read model that may lag.
	if _, err := svc.DisableApplication(ctx, bankOne, id, Write{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.IssueToken(ctx, created.ClientID, created.ClientSecret, ""); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("disabled: %v", err)
	}
	// Another bank cannot touch the application.
	if _, err := svc.EnableApplication(ctx, uuid.New(), id, Write{}); !errors.Is(err, application.ErrNotFound) {
		t.Fatalf("another bank: %v", err)
	}
}

func TestApplicationsSecretsAreShownOnce(t *testing.T) {
	svc, store, _, _, _, c := appService(t)
	ctx := context.Background()
	w := Write{IdempotencyKey: "create-1", Metadata: eventstore.Metadata{Actor: "dev@bank"}}
	first, err := svc.CreateApplication(ctx, bankOne, "Core banking", "", w)
	if err != nil || first.ClientSecret == "" {
		t.Fatal(first, err)
	}
	again, err := svc.CreateApplication(ctx, bankOne, "Core banking", "", w)
	if err != nil || !again.Replayed || again.ClientSecret != "" || again.GUID != first.GUID {
		t.Fatalf("replay %+v %v", again, err)
	}
	// Only the hash is stored.
	recs, err := store.ReadStream(ctx, application.Stream(uuid.MustParse(first.GUID)), eventstore.Forwards, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if strings.Contains(string(r.Data), first.ClientSecret) || strings.Contains(string(r.Data), first.ClientSecret[4:]) {
			t.Fatalf("the secret is in the log: %s", r.Data)
		}
	}
	id := uuid.MustParse(first.GUID)
	rw := Write{IdempotencyKey: "secret-1"}
	re, err := svc.ReissueSecret(ctx, bankOne, id, time.Minute, rw)
	if err != nil || re.Version != 2 || !re.PreviousValidUntil.Equal(c.Now().Add(time.Minute)) {
		t.Fatalf("re-issue %+v %v", re, err)
	}
	if _, err := svc.ReissueSecret(ctx, bankOne, id, time.Minute, rw); !errors.Is(err, ErrSecretShownOnce) {
		t.Fatalf("replayed re-issue: %v", err)
	}
	// Within the grace both secrets work; after it only the new one.
	for _, s := range []string{first.ClientSecret, re.ClientSecret} {
		if _, err := svc.IssueToken(ctx, first.ClientID, s, ""); err != nil {
			t.Fatalf("within grace: %v", err)
		}
	}
	c.Set(c.Now().Add(time.Minute))
	if _, err := svc.IssueToken(ctx, first.ClientID, first.ClientSecret, ""); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("after grace: %v", err)
	}
}

func TestApplicationsApproval(t *testing.T) {
	svc, _, model, _, _, _ := appService(t)
	ctx := context.Background()
	created, _ := svc.CreateApplication(ctx, bankOne, "Payments", "", Write{})
	id := uuid.MustParse(created.GUID)
	sub, err := svc.Subscribe(ctx, bankOne, id, application.ProductEmission, "standard", Write{})
	if err != nil || sub.Plan != "" || sub.RequestedPlan != "standard" {
		t.Fatalf("subscription %+v %v", sub, err)
	}
	if q := svc.PendingRequests(ctx); len(q) != 1 || q[0].Application != created.GUID {
		t.Fatalf("queue %+v", q)
	}
	admin := Write{Metadata: eventstore.Metadata{Actor: "platform-admin"}}
	if _, err := svc.ApproveSubscription(ctx, id, application.ProductEmission, admin); err != nil {
		t.Fatal(err)
	}
	if a, _ := model.Access(created.GUID); !a.Products.Has(application.ProductEmission) {
		t.Fatalf("approved product not granted: %+v", a)
	}
	st, _ := svc.Application(ctx, bankOne.String(), created.GUID)
	if s := st.Subscriptions[application.ProductEmission]; s.Plan != "standard" || s.DecidedBy != "platform-admin" {
		t.Fatalf("subscription after approval %+v", s)
	}
	if _, err := svc.RejectSubscription(ctx, id, application.ProductEmission, "no", admin); !errors.Is(err, application.ErrNoRequest) {
		t.Fatalf("reject without a request: %v", err)
	}
	if _, err := svc.ApproveSubscription(ctx, uuid.New(), application.ProductEmission, admin); !errors.Is(err, application.ErrNotFound) {
		t.Fatalf("approve an unknown application: %v", err)
	}
}
