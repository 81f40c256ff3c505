package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/rbac"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
	"github.com/kazna-ledger/kazna/stellar"
)

// entityStartingBalance funds a counterparty's emission or processing account: the base reserve (2 × 0.5),
// one trustline (0.5) and fees for years of operations at the base fee.
const entityStartingBalance = "5"

var (
	// ErrUnknownAsset is an asset_code or asset_issuer that is not the platform's asset: the platform runs one
	// asset, so a counterparty of another cannot be served.
	ErrUnknownAsset = errors.New("app: unknown asset: the platform issues one asset")
	// ErrBankTokenRefused is a bank JWT that does not verify for the counterparty (unknown kid, another bank's
	// key, expired, wrong algorithm, bad signature).
	ErrBankTokenRefused = errors.New("app: bank JWT refused")
	// ErrNotReady is a service built without a dependency it needs for this call.
	ErrNotReady = errors.New("app: counterparty service is missing a dependency")
)

// EntityNetwork is what opening a digital entity needs of the Stellar network (stellar.Horizon).
type EntityNetwork interface {
	CreateAccount(ctx context.Context, a stellar.AccountOpening) (stellar.Receipt, error)
	OpenTrustline(ctx context.Context, t stellar.Trustline) (stellar.Receipt, error)
	AuthorizeTrustline(ctx context.Context, issuer stellar.Signatory, holder string, asset stellar.Asset) (stellar.Receipt, error)
	Account(ctx context.Context, address string) (stellar.AccountState, error)
}

// CounterpartyDirectory is the counterparties read model (projections.Counterparties).
type CounterpartyDirectory interface {
	auth.BankKeyFinder
	Counterparty(ctx context.Context, guid string) (projections.Counterparty, bool)
	List(ctx context.Context, q projections.CounterpartyQuery) ([]projections.Counterparty, int, error)
	BankKeys(ctx context.Context, counterpartyGUID string) []projections.BankKey
}

// CounterpartyDeps is what the counterparty services need.
type CounterpartyDeps struct {
	Store     command.Store
	Vault     Sealer
	Network   EntityNetwork
	Platform  *Platform
	Directory CounterpartyDirectory
	// Roles are the roles every new counterparty starts with (api.DefaultRoles, converted by the caller: app
	// must not import api); Known says which permissions a bank may hold.
	Roles  []rbac.RoleSpec
	Known  rbac.Catalogue
	Logger *slog.Logger
	Now    func() time.Time
}

// Counterparties runs the use cases of counterparties (banks) and their JWT keys.
type Counterparties struct {
	d   CounterpartyDeps
	log *slog.Logger
}

// NewCounterparties returns the counterparty services.
func NewCounterparties(d CounterpartyDeps) (*Counterparties, error) {
	if d.Store == nil || d.Vault == nil || d.Network == nil || d.Platform == nil || d.Directory == nil {
		return nil, fmt.Errorf("%w: store, vault, network, platform and directory are required", ErrNotReady)
	}
	if len(d.Roles) == 0 {
		return nil, fmt.Errorf("%w: no default roles", ErrNotReady)
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Counterparties{d: d, log: d.Logger.With("component", "counterparties")}, nil
}

// Request is what every write carries besides its body: who asks, and the idempotency of the request.
type Request struct {
	Actor string
	// IdempotencyKey (header Idempotency-Key): the same key with the same Fingerprint answers as the first
	// request did; with another Fingerprint it is command.ErrIdempotencyConflict.
	IdempotencyKey string
	// Fingerprint identifies the request's content (method, path and body); required with a key.
	Fingerprint []byte
}

func (c *Counterparties) now() time.Time { return c.d.Now().UTC() }

func (c *Counterparties) env(r Request, cp string) command.Envelope {
	return command.Envelope{Metadata: eventstore.Metadata{Actor: r.Actor, Counterparty: cp, Time: c.now()}}
}

// CounterpartyRegistration is the body of POST /counterparties.
type CounterpartyRegistration struct {
	GUID        uuid.UUID // zero: chosen by Kazna
	Profile     counterparty.Profile
	AssetCode   string // empty: the platform's asset
	AssetIssuer string // empty: the platform's issuer
}

// RegisteredCounterparty is the answer to a registration, with the log position of its last write.
type RegisteredCounterparty struct {
	GUID                  string
	EmissionAccountGUID   string
	ProcessingAccountGUID string
	Position              eventstore.Position
}

// idNamespace derives the GUIDs of a keyed request, so that its retry names the same objects.
var idNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://kazna.example/idempotency/counterparty"))

func derivedGUID(key string, parts ...string) uuid.UUID {
	return uuid.NewSHA1(idNamespace, []byte(strings.Join(append([]string{key}, parts...), "\x00")))
}

// RegisterCounterparty registers a bank with its emission and processing entities: claim the name, record and
// open both accounts (each a Stellar account with an authorized trustline to the platform's asset), register
// the counterparty and seed its roles. Each step is recorded before the next relies on it and is a no-op when
// already done, so a retry with the same Idempotency-Key resumes where a crash stopped and answers the same.
func (c *Counterparties) RegisterCounterparty(ctx context.Context, r Request, reg CounterpartyRegistration) (RegisteredCounterparty, error) {
	plat := c.d.Platform
	asset, issuer := plat.Asset(), plat.IssuerAddress()
	switch reg.AssetCode {
	case "", asset.Code, asset.StellarCode:
	default:
		return RegisteredCounterparty{}, fmt.Errorf("%w: asset_code %.20q is not %s", ErrUnknownAsset, reg.AssetCode, asset.StellarCode)
	}
	if reg.AssetIssuer != "" && reg.AssetIssuer != issuer {
		return RegisteredCounterparty{}, fmt.Errorf("%w: asset_issuer is not the platform's issuer", ErrUnknownAsset)
	}
	if strings.TrimSpace(reg.Profile.Name) == "" {
		return RegisteredCounterparty{}, &counterparty.ErrInvalid{Field: "name", Reason: "required"}
	}
	if len(reg.Profile.Name) > 4*counterparty.MaxNameRunes {
		return RegisteredCounterparty{}, &counterparty.ErrInvalid{Field: "name", Reason: "too long"}
	}

	cpID, emID, prID := reg.GUID, uuid.New(), uuid.New()
	if r.IdempotencyKey != "" {
		if cpID == uuid.Nil {
			cpID = derivedGUID(r.IdempotencyKey, "counterparty")
		}
		emID, prID = derivedGUID(r.IdempotencyKey, cpID.String(), "emission"), derivedGUID(r.IdempotencyKey, cpID.String(), "processing")
	} else if cpID == uuid.Nil {
		cpID = uuid.New()
	}
	cp := cpID.String()
	env := c.env(r, cp)

	// A given GUID that names a counterparty this request did not make is refused before anything is written.
	existing, err := loadState(ctx, c.d.Store, counterparty.Stream(cpID), counterparty.Decider, counterparty.Events)
	if err != nil {
		return RegisteredCounterparty{}, err
	}
	if existing.Exists && existing.EmissionAccountGUID != emID.String() {
		return RegisteredCounterparty{}, fmt.Errorf("%w: guid %s", counterparty.ErrAlreadyExists, cp)
	}

	nameStream := counterparty.NameStream(reg.Profile.Name)
	claim := uniqueness.Claim{Owner: cp, Value: strings.TrimSpace(reg.Profile.Name), At: c.now()}
	res, err := command.Handle(ctx, c.d.Store, nameStream, uniqueness.Decider, uniqueness.Events, any(claim), env)
	if errors.Is(err, uniqueness.ErrTaken) {
		return RegisteredCounterparty{}, errors.Join(counterparty.ErrNameTaken, err)
	}
	if err != nil {
		return RegisteredCounterparty{}, fmt.Errorf("app: claim the name: %w", err)
	}
	fresh := len(res.Events) > 0
	if r.IdempotencyKey != "" {
		// The key's own claim, owned by the request's fingerprint: a second body under the same key is taken.
		fp := sha256.Sum256(r.Fingerprint)
		reqClaim := uniqueness.Claim{Owner: hex.EncodeToString(fp[:]), Value: "counterparty registration", At: c.now()}
		_, err := command.Handle(ctx, c.d.Store, uniqueness.Stream("counterparty-request-", r.IdempotencyKey), uniqueness.Decider, uniqueness.Events, any(reqClaim), env)
		if err != nil {
			if fresh {
				c.releaseName(ctx, env, nameStream, cp)
			}
			if errors.Is(err, uniqueness.ErrTaken) {
				return RegisteredCounterparty{}, errors.Join(command.ErrIdempotencyConflict, err)
			}
			return RegisteredCounterparty{}, fmt.Errorf("app: record the request: %w", err)
		}
	}

	if _, err := c.openEntity(ctx, env, emID, cpID, account.KindEmission); err != nil {
		return RegisteredCounterparty{}, err
	}
	if _, err := c.openEntity(ctx, env, prID, cpID, account.KindProcessing); err != nil {
		return RegisteredCounterparty{}, err
	}

	out := RegisteredCounterparty{GUID: cp, EmissionAccountGUID: emID.String(), ProcessingAccountGUID: prID.String()}
	if !existing.Exists {
		cmd := counterparty.Register{GUID: cpID, Profile: reg.Profile, AssetCode: asset.StellarCode, AssetIssuer: issuer,
			EmissionAccountGUID: emID, ProcessingAccountGUID: prID, At: c.now()}
		res, err := command.Handle(ctx, c.d.Store, counterparty.Stream(cpID), counterparty.Decider, counterparty.Events, any(cmd), env)
		switch {
		case errors.Is(err, counterparty.ErrAlreadyExists):
			// A concurrent retry of this request registered it first; the checks below confirm it is ours.
		case err != nil:
			if fresh && r.IdempotencyKey == "" {
				c.releaseName(ctx, env, nameStream, cp)
			}
			return RegisteredCounterparty{}, err
		default:
			out.Position = res.Position
		}
	}
	seed := rbac.Seed{CounterpartyGUID: cpID, Roles: c.d.Roles, Known: c.d.Known, At: c.now()}
	seeded, err := command.Handle(ctx, c.d.Store, rbac.Stream(cpID), rbac.Decider, rbac.Events, any(seed), env)
	switch {
	case errors.Is(err, rbac.ErrAlreadyExists):
	case err != nil:
		return RegisteredCounterparty{}, fmt.Errorf("app: seed the roles: %w", err)
	case out.Position.Less(seeded.Position):
		out.Position = seeded.Position
	}
	if out.Position == (eventstore.Position{}) {
		// A complete retry writes nothing; wait for the registration itself.
		out.Position, err = lastPosition(ctx, c.d.Store, counterparty.Stream(cpID))
		if err != nil {
			return RegisteredCounterparty{}, err
		}
	}
	c.log.Info("counterparty registered", "counterparty", cp, "emission_account", out.EmissionAccountGUID, "processing_account", out.ProcessingAccountGUID)
	return out, nil
}

func (c *Counterparties) releaseName(ctx context.Context, env command.Envelope, stream, owner string) {
	rel := uniqueness.Release{Owner: owner, At: c.now()}
	if _, err := command.Handle(ctx, c.d.Store, stream, uniqueness.Decider, uniqueness.Events, any(rel), env); err != nil {
		c.log.Error("release a counterparty name claim", "counterparty", owner, "err", err)
	}
}

// openEntity opens one of the counterparty's own entities, its seed sealed by the platform alone.
func (c *Counterparties) openEntity(ctx context.Context, env command.Envelope, id, cpID uuid.UUID, kind account.Kind) (account.State, error) {
	o := entityOpener{store: c.d.Store, network: c.d.Network, platform: c.d.Platform, log: c.log, now: c.now}
	return o.open(ctx, env, entitySpec{ID: id, Counterparty: cpID, Kind: kind,
		Seal: c.d.Vault.SealPlatformKey, Open: c.d.Vault.OpenPlatformKey})
}

// ProfilePatch is the body of PUT /counterparties/{guid}: the fields given replace the current ones, the
// others stay (asset and GUID cannot change).
type ProfilePatch struct {
	Name, HoldingName, Description                           *string
	AuthURL, UserAuthURL, UserIDURL, UserKeyURL, CallbackURL *string
	AutoIssue, AutoBurn, Multisig                            *bool
}

// Apply returns pr with the patch's fields replaced.
func (p ProfilePatch) Apply(pr counterparty.Profile) counterparty.Profile {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setB := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	set(&pr.Name, p.Name)
	set(&pr.HoldingName, p.HoldingName)
	set(&pr.Description, p.Description)
	set(&pr.AuthURL, p.AuthURL)
	set(&pr.UserAuthURL, p.UserAuthURL)
	set(&pr.UserIDURL, p.UserIDURL)
	set(&pr.UserKeyURL, p.UserKeyURL)
	set(&pr.CallbackURL, p.CallbackURL)
	setB(&pr.AutoIssue, p.AutoIssue)
	setB(&pr.AutoBurn, p.AutoBurn)
	setB(&pr.Multisig, p.Multisig)
	return pr
}

// patchProfile is the command that merges a patch inside the decision, so that two concurrent updates of
// different fields both land (the merge sees the state the append is checked against).
type patchProfile struct {
	Patch ProfilePatch
	At    time.Time
}

var patchDecider = command.Decider[counterparty.State, any, counterparty.Event]{
	Evolve: counterparty.Evolve,
	Decide: func(s counterparty.State, cmd any) ([]counterparty.Event, error) {
		if p, ok := cmd.(patchProfile); ok {
			if !s.Exists {
				return nil, counterparty.ErrNotFound
			}
			cmd = counterparty.Update{Profile: p.Patch.Apply(s.Profile), At: p.At}
		}
		return counterparty.Decide(s, cmd)
	},
}

// UpdateCounterparty merges the given fields into the counterparty's profile. A new name is claimed first and
// the old one released after, so that names stay unique.
func (c *Counterparties) UpdateCounterparty(ctx context.Context, r Request, guid uuid.UUID, patch ProfilePatch) (eventstore.Position, error) {
	stream := counterparty.Stream(guid)
	s, err := loadState(ctx, c.d.Store, stream, counterparty.Decider, counterparty.Events)
	if err != nil {
		return eventstore.Position{}, err
	}
	if !s.Exists {
		return eventstore.Position{}, counterparty.ErrNotFound
	}
	env := c.env(r, guid.String())
	env.IdempotencyKey, env.Fingerprint = r.IdempotencyKey, r.Fingerprint
	cp := guid.String()
	renamed := patch.Name != nil && uniqueness.Normalise(*patch.Name) != uniqueness.Normalise(s.Profile.Name)
	var newNameStream string
	if renamed {
		if strings.TrimSpace(*patch.Name) == "" || len(*patch.Name) > 4*counterparty.MaxNameRunes {
			return eventstore.Position{}, &counterparty.ErrInvalid{Field: "name", Reason: "required, at most 200 characters"}
		}
		newNameStream = counterparty.NameStream(*patch.Name)
		claim := uniqueness.Claim{Owner: cp, Value: strings.TrimSpace(*patch.Name), At: c.now()}
		_, err := command.Handle(ctx, c.d.Store, newNameStream, uniqueness.Decider, uniqueness.Events, any(claim), c.env(r, cp))
		if errors.Is(err, uniqueness.ErrTaken) {
			return eventstore.Position{}, errors.Join(counterparty.ErrNameTaken, err)
		}
		if err != nil {
			return eventstore.Position{}, fmt.Errorf("app: claim the name: %w", err)
		}
	}
	res, err := command.Handle(ctx, c.d.Store, stream, patchDecider, counterparty.Events, any(patchProfile{Patch: patch, At: c.now()}), env)
	if err != nil {
		if renamed {
			c.releaseName(ctx, c.env(r, cp), newNameStream, cp)
		}
		return eventstore.Position{}, err
	}
	if renamed && !res.Replayed {
		c.releaseName(ctx, c.env(r, cp), counterparty.NameStream(s.Profile.Name), cp)
	}
	return res.Position, nil
}

// ListCounterparties answers GET /counterparties from the read model.
func (c *Counterparties) ListCounterparties(ctx context.Context, q projections.CounterpartyQuery) ([]projections.Counterparty, int, error) {
	return c.d.Directory.List(ctx, q)
}

// Counterparty answers one counterparty from the read model.
func (c *Counterparties) Counterparty(ctx context.Context, guid string) (projections.Counterparty, bool) {
	return c.d.Directory.Counterparty(ctx, guid)
}

// RegisterBankKey registers a bank's public JWK (the body of POST …/jwk) and returns the key's GUID.
func (c *Counterparties) RegisterBankKey(ctx context.Context, r Request, cpID uuid.UUID, data json.RawMessage) (string, eventstore.Position, error) {
	bk, err := auth.ParseBankJWK(data)
	if err != nil {
		return "", eventstore.Position{}, err
	}
	jwk, err := json.Marshal(bk.JWK)
	if err != nil {
		return "", eventstore.Position{}, err
	}
	env := c.env(r, cpID.String())
	env.IdempotencyKey, env.Fingerprint = r.IdempotencyKey, r.Fingerprint
	cmd := counterparty.RegisterJWK{KeyGUID: uuid.New(), KID: bk.KID, JWK: jwk, At: c.now()}
	res, err := command.Handle(ctx, c.d.Store, counterparty.Stream(cpID), counterparty.Decider, counterparty.Events, any(cmd), env)
	if err != nil {
		return "", eventstore.Position{}, err
	}
	for _, e := range res.Events {
		if reg, ok := e.(counterparty.BankKeyRegistered); ok {
			return reg.KeyGUID, res.Position, nil
		}
	}
	return "", eventstore.Position{}, fmt.Errorf("app: registering a key wrote no BankKeyRegistered")
}

// UpdateBankKey replaces the key material of a registered key (rotation before expiry).
func (c *Counterparties) UpdateBankKey(ctx context.Context, r Request, cpID, keyID uuid.UUID, data json.RawMessage) (eventstore.Position, error) {
	bk, err := auth.ParseBankJWK(data)
	if err != nil {
		return eventstore.Position{}, err
	}
	jwk, err := json.Marshal(bk.JWK)
	if err != nil {
		return eventstore.Position{}, err
	}
	env := c.env(r, cpID.String())
	env.IdempotencyKey, env.Fingerprint = r.IdempotencyKey, r.Fingerprint
	cmd := counterparty.UpdateJWK{KeyGUID: keyID, KID: bk.KID, JWK: jwk, At: c.now()}
	res, err := command.Handle(ctx, c.d.Store, counterparty.Stream(cpID), counterparty.Decider, counterparty.Events, any(cmd), env)
	return res.Position, err
}

// ListBankKeys answers GET …/jwk from the read model; counterparty.ErrNotFound for an unknown counterparty.
func (c *Counterparties) ListBankKeys(ctx context.Context, cp string) ([]projections.BankKey, error) {
	if _, ok := c.d.Directory.Counterparty(ctx, cp); !ok {
		return nil, counterparty.ErrNotFound
	}
	return c.d.Directory.BankKeys(ctx, cp), nil
}

// AuthenticateBankJWT checks a bank's JWT (CX-Authorization) for counterparty cp without changing anything and
// answers a platform session token. The session token has audience auth.AudienceBankAuth, not the API's, so
// it can never be used as an API token: it only proves to the bank that Kazna accepted its JWT (and lets the
// bank check Kazna's signature against /.well-known/jwks.json).
func (c *Counterparties) AuthenticateBankJWT(ctx context.Context, cp, token string) (string, error) {
	claims, err := auth.VerifyBankJWT(ctx, token, cp, c.d.Directory, c.now())
	if errors.Is(err, auth.ErrKeyLookup) {
		return "", err
	}
	if err != nil {
		return "", errors.Join(ErrBankTokenRefused, err)
	}
	return c.d.Platform.Keyring().IssueSession(claims.Subject, cp, auth.FlowSignIn, c.now())
}

// loadState folds a stream through its decider without deciding anything (a decision of no events writes
// nothing), so that a use case can look before it acts.
func loadState[S, E any](ctx context.Context, store command.Store, stream string, d command.Decider[S, any, E], codec command.Codec[E]) (S, error) {
	var got S
	look := command.Decider[S, any, E]{Initial: d.Initial, Evolve: d.Evolve, Decide: func(s S, _ any) ([]E, error) {
		got = s
		return nil, nil
	}}
	_, err := command.Handle(ctx, store, stream, look, codec, any(struct{}{}), command.Envelope{})
	return got, err
}

// lastPosition is the global position of a stream's last event.
func lastPosition(ctx context.Context, store command.Store, stream string) (eventstore.Position, error) {
	recs, err := store.ReadStream(ctx, stream, eventstore.Backwards, eventstore.StreamEnd, 1)
	if err != nil || len(recs) == 0 {
		return eventstore.Position{}, err
	}
	return recs[0].Position, nil
}
