package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/stellar"
)

// entityOpener opens digital entities — a counterparty's emission and processing entities and its
// customers' accounts — the same way: record the sealed key first, then make the chain agree, then record
// the account open. Every step checks the log or the chain before it acts, so a retry after a crash at any
// point continues with the same key and never opens a second account.
type entityOpener struct {
	store    command.Store
	network  EntityNetwork
	platform *Platform
	log      *slog.Logger
	now      func() time.Time
}

// entitySpec is one account to open. Seal and Open protect its seed: platform-sealed for a bank's own
// entities, sealed under the customer's secret as well for a customer's.
type entitySpec struct {
	ID           uuid.UUID
	Counterparty uuid.UUID
	Kind         account.Kind
	Owner        account.Owner
	Seal         func(owner string, seed []byte) ([]byte, error)
	Open         func(owner string, sealed []byte) ([]byte, error)
	// Cosign, if set, gives the account its cosigners once its trustline is authorized and before it is
	// recorded open (multisignature, multisig.go), so that no payment ever leaves it with one signature.
	Cosign func(ctx context.Context, s account.State, holder *stellar.KeySigner) error
}

func (o entityOpener) open(ctx context.Context, env command.Envelope, spec entitySpec) (account.State, error) {
	kind, id := spec.Kind, spec.ID
	// Both writes go to the account's stream, where an idempotency key names one request: under the same
	// key the second write would be taken for a retry of the first and never recorded. Each step gets its own.
	step := func(name string) command.Envelope {
		e := env
		if e.IdempotencyKey != "" {
			e.IdempotencyKey += "/" + name
		}
		return e
	}
	stream := account.Stream(id)
	s, err := loadState(ctx, o.store, stream, account.Decider, account.Events)
	if err != nil {
		return s, err
	}
	if s.Generated() && (s.CounterpartyGUID != spec.Counterparty.String() || s.Kind != kind || s.Owner != spec.Owner) {
		return s, fmt.Errorf("app: account %s belongs to another owner or kind: %w", id, account.ErrAlreadyExists)
	}
	if s.Opened {
		return s, nil
	}
	if !s.Generated() {
		kp, err := keypair.Random()
		if err != nil {
			return s, fmt.Errorf("app: %s key: %w", kind, err)
		}
		seed := []byte(kp.Seed())
		sealed, err := spec.Seal(stream, seed)
		clear(seed)
		if err != nil {
			return s, fmt.Errorf("app: seal the %s key: %w", kind, err)
		}
		gen := account.GenerateKey{GUID: id, Kind: kind, CounterpartyGUID: spec.Counterparty, Address: kp.Address(),
			SealedSeed: sealed, Owner: spec.Owner, At: o.now()}
		if _, err := command.Handle(ctx, o.store, stream, account.Decider, account.Events, any(gen), step("key")); err != nil {
			return s, fmt.Errorf("app: record the %s key: %w", kind, err)
		}
		if s, err = loadState(ctx, o.store, stream, account.Decider, account.Events); err != nil {
			return s, err
		}
		if s.Address != kp.Address() {
			// A concurrent retry recorded its own key first: continue with that one.
			o.log.InfoContext(ctx, "account key recorded by a concurrent retry", "account", id.String())
		}
	}
	seed, err := spec.Open(stream, s.SealedSeed)
	if err != nil {
		return s, fmt.Errorf("app: open the %s key: %w", kind, err)
	}
	holder, err := stellar.NewKeySigner(string(seed))
	clear(seed)
	if err != nil {
		return s, fmt.Errorf("app: the %s key: %w", kind, err)
	}
	if holder.Address() != s.Address {
		return s, fmt.Errorf("app: the sealed key of account %s is not the key of its address", id)
	}
	asset, issuer, err := o.issuer()
	if err != nil {
		return s, err
	}
	acct, err := o.network.Account(ctx, s.Address)
	if errors.Is(err, stellar.ErrNotFound) {
		if _, err := o.network.CreateAccount(ctx, stellar.AccountOpening{Account: s.Address, StartingBalance: entityStartingBalance}); err != nil {
			return s, fmt.Errorf("app: create the %s account %s: %w", kind, s.Address, err)
		}
	} else if err != nil {
		return s, fmt.Errorf("app: read the %s account %s: %w", kind, s.Address, err)
	}
	line, has := acct.Trustline(asset)
	switch {
	case !has:
		t := stellar.Trustline{Holder: stellar.Signatory{Account: s.Address, Signers: []stellar.Signer{holder}}, Asset: asset, Issuer: issuer}
		if _, err := o.network.OpenTrustline(ctx, t); err != nil {
			return s, fmt.Errorf("app: open the %s trustline of %s: %w", kind, s.Address, err)
		}
	case !line.Authorized:
		if _, err := o.network.AuthorizeTrustline(ctx, issuer, s.Address, asset); err != nil {
			return s, fmt.Errorf("app: authorize the %s trustline of %s: %w", kind, s.Address, err)
		}
	}
	if spec.Cosign != nil {
		if err := spec.Cosign(ctx, s, holder); err != nil {
			return s, err
		}
	}
	opened := account.RecordOpened{AssetCode: asset.Code, AssetIssuer: asset.Issuer, At: o.now()}
	if _, err := command.Handle(ctx, o.store, stream, account.Decider, account.Events, any(opened), step("opened")); err != nil {
		return s, fmt.Errorf("app: record the %s account: %w", kind, err)
	}
	o.log.InfoContext(ctx, "digital entity opened", "account", id.String(), "kind", string(kind),
		"counterparty", spec.Counterparty.String(), "address", s.Address)
	return loadState(ctx, o.store, stream, account.Decider, account.Events)
}

// issuer is the platform's asset on chain and the issuer's signatory, which authorizes and deauthorizes
// trustlines.
func (o entityOpener) issuer() (stellar.Asset, stellar.Signatory, error) {
	plat := o.platform
	plat.mu.RLock()
	ps := plat.state
	plat.mu.RUnlock()
	signer, err := plat.issuerSigner(ps)
	if err != nil {
		return stellar.Asset{}, stellar.Signatory{}, err
	}
	asset := stellar.Asset{Code: ps.Asset.StellarCode, Issuer: ps.IssuerAddress, Decimals: ps.Asset.Decimals}
	return asset, stellar.Signatory{Account: ps.IssuerAddress, Signers: []stellar.Signer{signer}}, nil
}
