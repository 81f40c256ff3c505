package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/callback"
	"github.com/kazna-ledger/kazna/domain/platform"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/stellar/custody"
)

// RotationActor is the actor recorded on the events a master key rotation writes.
const RotationActor = "kazna rotate-master-key"

const (
	// DefaultProgressEvery is how many values pass between two progress reports of StoredSeals.
	DefaultProgressEvery = 1000
	// resealMaxAttempts bounds the decisions of one reseal. Reseals of the platform's keys all land on the
	// one platform stream, where two rotations running at once collide on nearly every value; each collision
	// costs a reload of a short stream, and the compare-and-swap makes the retry a no-op once either won.
	resealMaxAttempts = 20
	// typeAccountKeyGenerated is the event that gives an account stream its sealed seed.
	typeAccountKeyGenerated = "AccountKeyGenerated"
	accountStreamPrefix     = "account-"
	issuerOwnerPrefix       = "platform/issuer/"
	signingKeyOwnerPrefix   = "platform/signing-key/"
	typeCallbackSecretSet   = "CallbackSecretSet"
	callbackSecretPrefix    = "callback-secret-"
	callbackOwnerPrefix     = "callback-secret/"
)

// The reseal events of the platform stream join its codec here, beside the code that writes them; platform.go
// declares the rest. A registration error surfaces where the codec's others do (Bootstrap's setDefaults).
// SealStore is what StoredSeals needs of the event store: command handling, and a subscription to find the
// account streams.
type SealStore interface {
	command.Store
	SubscribeAll(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error)
}

// SealStats counts what StoredSeals did so far.
type SealStats struct {
	// Scanned is the number of values Each handed out (and the caller accepted).
	Scanned int
	// Resealed is the number of values this StoredSeals replaced.
	Resealed int
	// AlreadyResealed is the number of values found re-sealed under the same master key version by someone
	// else (another rotation running at once) when this one came to replace them.
	AlreadyResealed int
}

// StoredSealsOptions tune a StoredSeals; the zero value is usable.
type StoredSealsOptions struct {
	// Now stamps the reseal events; nil is time.Now.
	Now func() time.Time
	// Progress, if set, is called with the counts every ProgressEvery values and once when a pass of Each
	// ends (also on error), from the goroutine that runs Each.
	Progress func(SealStats)
	// ProgressEvery is 0 for DefaultProgressEvery.
	ProgressEvery int
}

// StoredSeals is every sealed value Kazna keeps in its event store, as a master key rotation sees it
// (custody.SealedValues): the platform's issuer seed and token signing keys (the platform stream), and the
// seed of every digital entity (the account streams). Each hands out each value as it stands now, a value
// re-sealed earlier included; Replace appends a reseal command that names the value it replaces, so that two
// rotations running at once never overwrite each other and both finish.
type StoredSeals struct {
	store SealStore
	opts  StoredSealsOptions

	mu    sync.Mutex
	stats SealStats
}

var _ custody.SealedValues = (*StoredSeals)(nil)

// NewStoredSeals returns the sealed values kept in store.
func NewStoredSeals(store SealStore, opts StoredSealsOptions) (*StoredSeals, error) {
	if store == nil {
		return nil, errors.New("app: stored seals need the event store")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ProgressEvery == 0 {
		opts.ProgressEvery = DefaultProgressEvery
	}
	if opts.ProgressEvery < 0 {
		return nil, fmt.Errorf("app: progress every %d values", opts.ProgressEvery)
	}
	return &StoredSeals{store: store, opts: opts}, nil
}

// Stats returns the counts so far.
func (s *StoredSeals) Stats() SealStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Each calls fn with every stored sealed value and its custody owner: the platform's keys first, then each
// account's seed in the order the accounts were created. Accounts created while Each runs are handed out as
// long as they are written before Each reaches the end of the log; later ones are sealed under whatever key
// their node had current (a census after the rotation finds any that are not under the new one).
func (s *StoredSeals) Each(ctx context.Context, fn func(owner string, sealed []byte) error) error {
	defer s.report()
	visit := func(owner string, sealed []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(owner, sealed); err != nil {
			return err
		}
		s.mu.Lock()
		s.stats.Scanned++
		due := s.stats.Scanned%s.opts.ProgressEvery == 0
		s.mu.Unlock()
		if due {
			s.report()
		}
		return nil
	}
	if err := s.eachPlatformKey(ctx, visit); err != nil {
		return err
	}
	return s.eachAccountSeed(ctx, visit)
}

func (s *StoredSeals) report() {
	if s.opts.Progress != nil {
		s.opts.Progress(s.Stats())
	}
}

func (s *StoredSeals) eachPlatformKey(ctx context.Context, visit func(string, []byte) error) error {
	st, err := loadState(ctx, s.store, platform.Stream, platformDecider, platformEvents)
	if err != nil {
		return fmt.Errorf("app: load the platform: %w", err)
	}
	if st.IssuerAddress != "" {
		if err := visit(issuerOwner(st.IssuerAddress), st.IssuerSealedSeed); err != nil {
			return err
		}
	}
	// Retired signing keys too: their tokens may still be verified after a restart, and a census must find
	// nothing under the old master key before it goes.
	for _, k := range st.SigningKeys {
		if err := visit(signingKeyOwner(k.KID), k.SealedKey); err != nil {
			return err
		}
	}
	return nil
}

// eachAccountSeed finds the account streams by their AccountKeyGenerated events (one per account), and the
// banks' callback secrets by their CallbackSecretSet events, and reads each one's current seal from its
// stream, so that a seal replaced since it was generated is seen as it is now. It stops when the subscription
// has caught up with the log.
func (s *StoredSeals) eachAccountSeed(ctx context.Context, visit func(string, []byte) error) error {
	sub, err := s.store.SubscribeAll(ctx, eventstore.StartPosition, eventstore.Filter{EventTypePrefixes: []string{typeAccountKeyGenerated, typeCallbackSecretSet}})
	if err != nil {
		return fmt.Errorf("app: find the account streams: %w", err)
	}
	defer sub.Close()
	seenSecrets := map[string]bool{}
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			return fmt.Errorf("app: find the account streams: %w", err)
		}
		switch {
		case m.Kind == eventstore.CaughtUp:
			return nil
		case m.Kind != eventstore.EventAppeared || m.Event == nil:
			continue
		case m.Event.Type == typeCallbackSecretSet && strings.HasPrefix(m.Event.Stream, callbackSecretPrefix):
			// A secret set again (a rotation by the bank) shows up once per setting: visit its stream once.
			if seenSecrets[m.Event.Stream] {
				continue
			}
			seenSecrets[m.Event.Stream] = true
			cp := strings.TrimPrefix(m.Event.Stream, callbackSecretPrefix)
			st, err := loadState(ctx, s.store, m.Event.Stream, callback.SecretDecider, callback.SecretEvents)
			if err != nil {
				return fmt.Errorf("app: load %s: %w", m.Event.Stream, err)
			}
			if err := visit(callback.SecretOwner(cp), st.Sealed); err != nil {
				return err
			}
			continue
		case m.Event.Type != typeAccountKeyGenerated || !strings.HasPrefix(m.Event.Stream, accountStreamPrefix):
			continue // a type that only shares the prefix
		}
		stream := m.Event.Stream
		st, err := loadState(ctx, s.store, stream, account.Decider, account.Events)
		if err != nil {
			return fmt.Errorf("app: load %s: %w", stream, err)
		}
		if !st.Generated() {
			continue
		}
		// The owner custody bound the seed to is the account's stream name (entityOpener.open).
		if err := visit(stream, st.SealedSeed); err != nil {
			return err
		}
	}
}

// Replace stores next as the sealed value of owner if the stored one is still prev, by a reseal command on the
// owner's stream. If another rotation replaced it first with a value under the same master key version as
// next, the value is where this rotation wanted it and Replace succeeds; a value changed in any other way is
// an error.
func (s *StoredSeals) Replace(ctx context.Context, owner string, prev, next []byte) error {
	env := command.Envelope{Metadata: eventstore.Metadata{Actor: RotationActor, Time: s.opts.Now().UTC()}, MaxAttempts: resealMaxAttempts}
	at := env.Metadata.Time
	var (
		wrote bool
		err   error
	)
	switch kind, id, perr := parseOwner(owner); {
	case perr != nil:
		return perr
	case kind == ownerAccount:
		var res command.Result[account.Event]
		res, err = command.Handle(ctx, s.store, owner, account.Decider, account.Events,
			any(account.ResealKey{Prev: prev, Next: next, At: at}), env)
		wrote = len(res.Events) > 0
	case kind == ownerCallbackSecret:
		var res command.Result[callback.SecretEvent]
		res, err = command.Handle(ctx, s.store, callback.SecretStream(uuid.MustParse(id)), callback.SecretDecider, callback.SecretEvents,
			any(callback.ResealSecret{Prev: prev, Next: next, At: at}), env)
		wrote = len(res.Events) > 0
	case kind == ownerIssuer:
		var res command.Result[platform.Event]
		res, err = command.Handle(ctx, s.store, platform.Stream, platformDecider, platformEvents,
			any(platform.ResealIssuerKey{Address: id, Prev: prev, Next: next, At: at}), env)
		wrote = len(res.Events) > 0
	default:
		var res command.Result[platform.Event]
		res, err = command.Handle(ctx, s.store, platform.Stream, platformDecider, platformEvents,
			any(platform.ResealSigningKey{KID: id, Prev: prev, Next: next, At: at}), env)
		wrote = len(res.Events) > 0
	}
	switch {
	case err == nil && wrote:
		s.count(func(st *SealStats) { st.Resealed++ })
		return nil
	case err == nil:
		// The value was next already: a retry of a reseal whose answer was lost.
		s.count(func(st *SealStats) { st.AlreadyResealed++ })
		return nil
	case !errors.Is(err, account.ErrSealChanged) && !errors.Is(err, platform.ErrSealChanged) && !errors.Is(err, callback.ErrSealChanged):
		return fmt.Errorf("app: re-seal the value of %s: %w", owner, err)
	}
	stored, lerr := s.stored(ctx, owner)
	if lerr != nil {
		return fmt.Errorf("app: re-seal the value of %s: %w (and reading it again: %v)", owner, err, lerr)
	}
	have, herr := custody.SealedVersion(stored)
	want, werr := custody.SealedVersion(next)
	if herr != nil || werr != nil || have != want {
		return fmt.Errorf("app: re-seal the value of %s: it is now under master key version %d, not %d: %w", owner, have, want, err)
	}
	s.count(func(st *SealStats) { st.AlreadyResealed++ })
	return nil
}

func (s *StoredSeals) count(f func(*SealStats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// stored reads owner's sealed value as it is now.
func (s *StoredSeals) stored(ctx context.Context, owner string) ([]byte, error) {
	kind, id, err := parseOwner(owner)
	if err != nil {
		return nil, err
	}
	if kind == ownerAccount {
		st, err := loadState(ctx, s.store, owner, account.Decider, account.Events)
		return st.SealedSeed, err
	}
	if kind == ownerCallbackSecret {
		st, err := loadState(ctx, s.store, callback.SecretStream(uuid.MustParse(id)), callback.SecretDecider, callback.SecretEvents)
		return st.Sealed, err
	}
	st, err := loadState(ctx, s.store, platform.Stream, platformDecider, platformEvents)
	if err != nil {
		return nil, err
	}
	if kind == ownerIssuer {
		if st.IssuerAddress != id {
			return nil, fmt.Errorf("app: the platform's issuer is %s, not %s", st.IssuerAddress, id)
		}
		return st.IssuerSealedSeed, nil
	}
	for _, k := range st.SigningKeys {
		if k.KID == id {
			return k.SealedKey, nil
		}
	}
	return nil, fmt.Errorf("app: %w: %s", platform.ErrUnknownSigningKey, id)
}

type ownerKind int

const (
	ownerAccount ownerKind = iota + 1
	ownerIssuer
	ownerSigningKey
	ownerCallbackSecret
)

// parseOwner maps a custody owner back to what holds the value: an account stream, the issuer (by address) or
// a signing key (by kid). The owners are those entityOpener and Platform seal under.
func parseOwner(owner string) (ownerKind, string, error) {
	if rest, ok := strings.CutPrefix(owner, accountStreamPrefix); ok {
		if id, err := uuid.Parse(rest); err == nil && account.Stream(id) == owner {
			return ownerAccount, owner, nil
		}
	}
	if addr, ok := strings.CutPrefix(owner, issuerOwnerPrefix); ok && addr != "" {
		return ownerIssuer, addr, nil
	}
	if kid, ok := strings.CutPrefix(owner, signingKeyOwnerPrefix); ok && kid != "" {
		return ownerSigningKey, kid, nil
	}
	if cp, ok := strings.CutPrefix(owner, callbackOwnerPrefix); ok {
		if id, err := uuid.Parse(cp); err == nil && callback.SecretOwner(id.String()) == owner {
			return ownerCallbackSecret, cp, nil
		}
	}
	return 0, "", fmt.Errorf("app: %.80q is not the owner of a stored sealed value", owner)
}
