package counterparty_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
)

func openStore(t *testing.T) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// registerWithName is the app layer's sequence: claim the name, register, release the claim if refused.
func registerWithName(ctx context.Context, store command.Store, c counterparty.Register) error {
	claim := uniqueness.Claim{Owner: c.GUID.String(), Value: c.Profile.Name, At: c.At}
	if _, err := command.Handle(ctx, store, counterparty.NameStream(c.Profile.Name), uniqueness.Decider, uniqueness.Events, any(claim), command.Envelope{MaxAttempts: 20}); err != nil {
		if errors.Is(err, uniqueness.ErrTaken) {
			return errors.Join(counterparty.ErrNameTaken, err)
		}
		return err
	}
	_, err := command.Handle(ctx, store, counterparty.Stream(c.GUID), counterparty.Decider, counterparty.Events, any(c), command.Envelope{})
	if err != nil {
		release := uniqueness.Release{Owner: c.GUID.String(), At: c.At}
		_, relErr := command.Handle(ctx, store, counterparty.NameStream(c.Profile.Name), uniqueness.Decider, uniqueness.Events, any(release), command.Envelope{MaxAttempts: 20})
		return errors.Join(err, relErr)
	}
	return nil
}

func TestNameClaimUnderConcurrency(t *testing.T) {
	store := openStore(t)
	ctx := testContext(t)
	const claimants = 10
	errs := make([]error, claimants)
	cmds := make([]counterparty.Register, claimants)
	var wg sync.WaitGroup
	for i := range claimants {
		c := register()
		c.GUID, c.EmissionAccountGUID, c.ProcessingAccountGUID = uuid.New(), uuid.New(), uuid.New()
		if i%2 == 1 {
			c.Profile.Name = "ACME   bank" // the same name after normalisation
		}
		cmds[i] = c
		wg.Go(func() { errs[i] = registerWithName(ctx, store, c) })
	}
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
			res, err := command.Handle(ctx, store, counterparty.Stream(cmds[i].GUID), counterparty.Decider, counterparty.Events, any(counterparty.Disable{At: t1}), command.Envelope{})
			if err != nil || len(res.Events) != 1 {
				t.Errorf("the winner's counterparty is not usable: %+v, %v", res, err)
			}
		case errors.Is(err, counterparty.ErrNameTaken):
		default:
			t.Errorf("claimant %d: %v", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d claimants won the name, want exactly 1", winners)
	}
}

func TestClaimIsIdempotentAndReleasable(t *testing.T) {
	store := openStore(t)
	ctx := testContext(t)
	stream := counterparty.NameStream("Beta Bank")
	claim := func(owner string) error {
		_, err := command.Handle(ctx, store, stream, uniqueness.Decider, uniqueness.Events, any(uniqueness.Claim{Owner: owner, Value: "Beta Bank", At: t0}), command.Envelope{})
		return err
	}
	release := func(owner string) error {
		_, err := command.Handle(ctx, store, stream, uniqueness.Decider, uniqueness.Events, any(uniqueness.Release{Owner: owner, At: t0}), command.Envelope{})
		return err
	}
	if err := claim("a"); err != nil {
		t.Fatal(err)
	}
	if err := claim("a"); err != nil {
		t.Fatalf("the holder's retry: %v", err)
	}
	var taken *uniqueness.Taken
	if err := claim("b"); !errors.As(err, &taken) || taken.Owner != "a" {
		t.Fatalf("second owner: %v", err)
	}
	if err := release("b"); !errors.Is(err, uniqueness.ErrNotHolder) {
		t.Fatalf("release by a non-holder: %v", err)
	}
	if err := release("a"); err != nil {
		t.Fatal(err)
	}
	if err := claim("b"); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
}

func TestHandleCounterpartyLifecycle(t *testing.T) {
	store := openStore(t)
	ctx := testContext(t)
	stream := counterparty.Stream(cpGUID)
	handle := func(cmd any, env command.Envelope) (command.Result[counterparty.Event], error) {
		return command.Handle(ctx, store, stream, counterparty.Decider, counterparty.Events, cmd, env)
	}
	if err := registerWithName(ctx, store, register()); err != nil {
		t.Fatal(err)
	}
	// A second registration of the same GUID under another name is refused, and its claim is given back.
	again := register()
	again.Profile.Name = "Other"
	if err := registerWithName(ctx, store, again); !errors.Is(err, counterparty.ErrAlreadyExists) {
		t.Fatalf("second register: %v", err)
	}
	other := register()
	other.GUID, other.Profile.Name = uuid.New(), "Other"
	if err := registerWithName(ctx, store, other); err != nil {
		t.Fatalf("the released name is free again: %v", err)
	}
	key := counterparty.RegisterJWK{KeyGUID: keyGUID, KID: "k1", JWK: json.RawMessage(jwkA), At: t1}
	env := command.Envelope{IdempotencyKey: "jwk-1"}
	first, err := handle(key, env)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := handle(key, env)
	if err != nil || !retry.Replayed || retry.Position != first.Position {
		t.Fatalf("a retried request is a replay: %+v, %v", retry, err)
	}
	key.KeyGUID = uuid.New()
	if _, err := handle(key, command.Envelope{}); !errors.Is(err, counterparty.ErrKeyExists) {
		t.Fatalf("duplicate kid: %v", err)
	}
	if _, err := handle(counterparty.UpdateJWK{KeyGUID: keyGUID, KID: "k1", JWK: json.RawMessage(`{"kty":"RSA","n":"eA","e":"AQAB"}`), At: t1}, command.Envelope{}); err != nil {
		t.Fatal(err)
	}
	if res, err := handle(counterparty.Disable{At: t1}, command.Envelope{}); err != nil || res.Revision != 3 {
		t.Fatalf("disable: %+v, %v", res, err)
	}
}
