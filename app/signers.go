package app

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/customer"
	"github.com/kazna-ledger/kazna/stellar"
)

// signerTTL is how long an opened account key stays in memory for the next payments of the same account. A
// customer's key needs the bank's secret (GET /key) to open; asking the bank once per payment would put the
// bank's authorization service on every payment's path. Keys are held only in this process's memory, never
// written anywhere, and a blocked account, a disabled customer or a changed seal is checked on every payment
// by the ledger, not by this cache.
const (
	signerTTL      = 5 * time.Minute
	maxCachedKeys  = 100_000
	signerKeyFlows = auth.FlowSignIn
)

type cachedSigner struct {
	sealed  string // the sealed seed it was opened from: a re-seal or another key misses the cache
	signer  *stellar.KeySigner
	expires time.Time
}

// accountSigners opens account keys for the settlement worker, through the customer services' vault and
// bank authorization client.
type accountSigners struct {
	c  *Customers
	mu sync.Mutex
	m  map[string]cachedSigner
}

// AccountSigners returns the signer source the settlement worker uses: a bank's entity is opened with the
// platform's key; a customer's account needs the bank's secret for the customer as well.
func (c *Customers) AccountSigners() AccountSigners {
	return &accountSigners{c: c, m: map[string]cachedSigner{}}
}

func (a *accountSigners) AccountSigner(ctx context.Context, s account.State) (stellar.Signer, error) {
	now := a.c.now()
	a.mu.Lock()
	if e, ok := a.m[s.GUID]; ok && e.sealed == string(s.SealedSeed) && now.Before(e.expires) {
		a.mu.Unlock()
		return e.signer, nil
	}
	a.mu.Unlock()
	id, err := uuid.Parse(s.GUID)
	if err != nil {
		return nil, fmt.Errorf("app: account %q: %w", s.GUID, err)
	}
	stream := account.Stream(id)
	var seed []byte
	if s.Kind == account.KindCustomer {
		seed, err = a.customerSeed(ctx, s, stream)
	} else {
		seed, err = a.c.d.Vault.OpenPlatformKey(stream, s.SealedSeed)
	}
	if err != nil {
		return nil, err
	}
	signer, err := stellar.NewKeySigner(string(seed))
	clear(seed)
	if err != nil {
		return nil, fmt.Errorf("app: the key of account %s: %w", s.GUID, err)
	}
	if signer.Address() != s.Address {
		return nil, fmt.Errorf("app: the sealed key of account %s is not the key of %s", s.GUID, s.Address)
	}
	a.mu.Lock()
	if len(a.m) >= maxCachedKeys {
		for k, e := range a.m { // drop the expired, or an arbitrary tenth when none has expired
			if now.After(e.expires) || len(a.m) >= maxCachedKeys*9/10 {
				delete(a.m, k)
			}
		}
	}
	a.m[s.GUID] = cachedSigner{sealed: string(s.SealedSeed), signer: signer, expires: now.Add(signerTTL)}
	a.mu.Unlock()
	return signer, nil
}

// customerSeed asks the customer's bank for the customer's secret and opens the seed with it.
func (a *accountSigners) customerSeed(ctx context.Context, s account.State, stream string) ([]byte, error) {
	custID, err := uuid.Parse(s.Owner.CustomerGUID)
	if err != nil {
		return nil, fmt.Errorf("app: account %s names customer %q: %w", s.GUID, s.Owner.CustomerGUID, err)
	}
	cp, err := uuid.Parse(s.CounterpartyGUID)
	if err != nil {
		return nil, fmt.Errorf("app: account %s names counterparty %q: %w", s.GUID, s.CounterpartyGUID, err)
	}
	cs, err := peek(ctx, a.c.d.Store, customer.Stream(custID), customer.Decider, customer.Events)
	if err != nil {
		return nil, err
	}
	if !cs.Exists || !strings.EqualFold(cs.CounterpartyGUID, s.CounterpartyGUID) {
		return nil, fmt.Errorf("app: customer %s of account %s: %w", custID, s.GUID, customer.ErrNotFound)
	}
	_, base, err := a.c.bank(ctx, cp)
	if err != nil {
		return nil, err
	}
	secret, err := a.c.d.BankAuth.Key(ctx, base, "kazna", cs.ExternalID, signerKeyFlows)
	if err != nil {
		return nil, fmt.Errorf("app: the bank's key for customer %s: %w", custID, err)
	}
	seed, err := a.c.d.Vault.OpenCustomerSeed(stream, []byte(secret), s.SealedSeed)
	if err != nil {
		return nil, fmt.Errorf("%w: account %s: %v", ErrCustomerKeyMismatch, s.GUID, err)
	}
	return seed, nil
}
