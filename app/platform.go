package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/platform"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/stellar"
)

// AdministratorRole is the role name platform tokens of the administrator carry. It is the api package's
// RolePlatformAdministrator (a test there checks that the two agree; app must not import api).
const AdministratorRole = "Platform administrator"

// Defaults and bounds of PlatformConfig.
const (
	DefaultKeyMaxAge       = 30 * 24 * time.Hour
	DefaultPublishLead     = 300 * time.Second
	MinPublishLead         = 300 * time.Second // the JWKS cache age (Cache-Control max-age) banks are told
	DefaultTokenTTL        = time.Hour
	DefaultAdminLogin      = "admin"
	AdminPasswordFile      = "admin-password"
	issuerStartingBalance  = "10" // lumens: the base reserve and fees for the issuer's own operations
	maxPlatformEvents      = 100_000
	generatedPasswordRunes = 24
)

// PlatformConfig is what the operator chooses about the platform.
type PlatformConfig struct {
	// Asset is the e-money asset; fixed at the first start (a later change is refused).
	Asset money.Asset
	// AdminLogin is the platform administrator's login (default "admin"); used only when the administrator is
	// created.
	AdminLogin string
	// AdminPassword is the administrator's first password. Empty: one is generated, written once to
	// <DataDir>/admin-password (mode 0600) and shown once in the log.
	AdminPassword string
	// DataDir is where a generated administrator password is written.
	DataDir string
	// KeyMaxAge is the age after which the signing key is rotated, at start and by RefreshSigningKeys
	// (default 30 days).
	KeyMaxAge time.Duration
	// PublishLead is how long a new signing key is published before it signs (default and minimum 300 s).
	PublishLead time.Duration
	// TokenTTL is the lifetime of access tokens (default 1 h, at most auth's limit).
	TokenTTL time.Duration
}

// Sealer seals and opens platform secrets (custody.Vault).
type Sealer interface {
	SealPlatformKey(owner string, value []byte) ([]byte, error)
	OpenPlatformKey(owner string, sealed []byte) ([]byte, error)
}

// IssuerNetwork is what the bootstrap needs of the Stellar network (stellar.Horizon).
type IssuerNetwork interface {
	CreateAccount(ctx context.Context, a stellar.AccountOpening) (stellar.Receipt, error)
	SetUpIssuer(ctx context.Context, issuer stellar.Signatory) (stellar.Receipt, error)
	Account(ctx context.Context, address string) (stellar.AccountState, error)
}

// PlatformDeps is what Bootstrap needs.
type PlatformDeps struct {
	Store   command.Store
	Vault   Sealer
	Network IssuerNetwork
	Config  PlatformConfig
	// Employees answers employee logins; nil means only the administrator can log in.
	Employees EmployeeCredentials
	Logger    *slog.Logger // nil: slog.Default()
	Now       func() time.Time
	// HashPassword hashes the administrator's password; nil is auth.HashPassword. Tests pass a cheaper one.
	HashPassword func(string) (string, error)
	// NewRSAKey makes signing keys; nil is a 2048-bit RSA key from crypto/rand.
	NewRSAKey func() (*rsa.PrivateKey, error)
}

// Platform is the started platform: its asset, issuer, signing keyring and administrator.
type Platform struct {
	deps    PlatformDeps
	log     *slog.Logger
	keyring *auth.Keyring

	mu    sync.RWMutex
	state platform.State

	dummyOnce sync.Once
	dummyHash string
}

// Keyring signs and verifies platform tokens.
func (p *Platform) Keyring() *auth.Keyring { return p.keyring }

// Asset is the platform's e-money asset.
func (p *Platform) Asset() money.Asset {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.state.Asset
}

// IssuerAddress is the Stellar address of the asset's issuer.
func (p *Platform) IssuerAddress() string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.state.IssuerAddress
}

// platformEvents is the codec of the platform stream.
var platformEvents, errPlatformEvents = func() (*command.Registry[platform.Event], error) {
	r := command.NewRegistry[platform.Event]()
	return r, errors.Join(
		command.Register[platform.Event, platform.AssetDefined](r, "AssetDefined"),
		command.Register[platform.Event, platform.IssuerKeyGenerated](r, "IssuerKeyGenerated"),
		command.Register[platform.Event, platform.IssuerCreated](r, "IssuerCreated"),
		command.Register[platform.Event, platform.SigningKeyAdded](r, "SigningKeyAdded"),
		command.Register[platform.Event, platform.SigningKeyRetired](r, "SigningKeyRetired"),
		command.Register[platform.Event, platform.AdministratorCreated](r, "AdministratorCreated"),
		command.Register[platform.Event, platform.IssuerKeyResealed](r, "IssuerKeyResealed"),
		command.Register[platform.Event, platform.SigningKeyResealed](r, "SigningKeyResealed"),
		command.Register[platform.Event, platform.AdministratorPasswordChanged](r, "AdministratorPasswordChanged"),
	)
}()

// PlatformEvents is the codec of the platform stream, for tests and tools that write or read it.
func PlatformEvents() command.Codec[platform.Event] { return platformEvents }

var platformDecider = command.Decider[platform.State, any, platform.Event]{
	Evolve: platform.Evolve,
	Decide: platform.Decide,
}

// Owners of sealed values: custody binds each sealed value to its owner, so a blob cannot be moved.
func issuerOwner(address string) string { return "platform/issuer/" + address }
func signingKeyOwner(kid string) string { return "platform/signing-key/" + kid }

func (d *PlatformDeps) setDefaults() error {
	if d.Store == nil || d.Vault == nil || d.Network == nil {
		return errors.New("app: bootstrap needs the event store, the vault and the Stellar network")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.HashPassword == nil {
		d.HashPassword = auth.HashPassword
	}
	if d.NewRSAKey == nil {
		d.NewRSAKey = func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }
	}
	c := &d.Config
	if c.AdminLogin == "" {
		c.AdminLogin = DefaultAdminLogin
	}
	if c.KeyMaxAge == 0 {
		c.KeyMaxAge = DefaultKeyMaxAge
	}
	if c.PublishLead == 0 {
		c.PublishLead = DefaultPublishLead
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	switch {
	case c.KeyMaxAge < time.Hour:
		return fmt.Errorf("app: signing key max age %v is under an hour", c.KeyMaxAge)
	case c.PublishLead < MinPublishLead:
		return fmt.Errorf("app: signing key publish lead %v is under %v", c.PublishLead, MinPublishLead)
	case c.TokenTTL < time.Minute:
		return fmt.Errorf("app: token lifetime %v is under a minute", c.TokenTTL)
	case c.PublishLead > c.TokenTTL:
		// auth.Keyring needs the lead within its MaxTTL.
		return fmt.Errorf("app: signing key publish lead %v is longer than the token lifetime %v", c.PublishLead, c.TokenTTL)
	case len(c.AdminLogin) > maxLoginBytes:
		return fmt.Errorf("app: administrator login longer than %d bytes", maxLoginBytes)
	}
	return errPlatformEvents
}

// Bootstrap starts the platform, once per serve. On the first start it defines the asset, creates the
// issuer on the network, makes a signing key and creates the administrator; on later starts it resumes
// any step a crash left undone, rebuilds the signing keyring from the log, and rotates the signing key when
// it is older than KeyMaxAge. Every step is recorded before the next one relies on it: the issuer's seed is
// sealed and recorded before its account is created, so no crash can leave an account without its key.
func Bootstrap(ctx context.Context, deps PlatformDeps) (*Platform, error) {
	if err := deps.setDefaults(); err != nil {
		return nil, err
	}
	p := &Platform{deps: deps, log: deps.Logger.With("component", "platform")}
	cfg := deps.Config

	s, err := p.load(ctx)
	if err != nil {
		return nil, err
	}
	if !s.AssetDefined {
		p.log.Info("first start: bootstrapping the platform", "asset", cfg.Asset.Code, "stellar_code", cfg.Asset.StellarCode, "decimals", cfg.Asset.Decimals)
	}
	if s, err = p.handle(ctx, platform.Bootstrap{Asset: cfg.Asset, At: p.now()}); err != nil {
		return nil, fmt.Errorf("app: define the asset: %w", err)
	}
	if s, err = p.ensureIssuer(ctx, s); err != nil {
		return nil, err
	}
	if s, err = p.ensureSigningKey(ctx, s); err != nil {
		return nil, err
	}
	if s, err = p.ensureAdministrator(ctx, s); err != nil {
		return nil, err
	}
	if p.keyring, err = p.buildKeyring(s); err != nil {
		return nil, err
	}
	p.setState(s)
	p.log.Info("platform ready", "asset", s.Asset.Code, "issuer", s.IssuerAddress, "signing_kid", currentKID(s), "administrator", s.AdminLogin)
	return p, nil
}

func (p *Platform) now() time.Time { return p.deps.Now().UTC() }

func (p *Platform) setState(s platform.State) {
	p.mu.Lock()
	p.state = s
	p.mu.Unlock()
}

func currentKID(s platform.State) string {
	k, _ := s.CurrentKey()
	return k.KID
}

// load reads the platform stream and folds it.
func (p *Platform) load(ctx context.Context) (platform.State, error) {
	var s platform.State
	var next uint64
	for next < maxPlatformEvents {
		page, err := p.deps.Store.ReadStream(ctx, platform.Stream, eventstore.Forwards, next, eventstore.MaxReadCount)
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return s, nil
		}
		if err != nil {
			return s, fmt.Errorf("app: read the platform stream: %w", err)
		}
		for _, ev := range page {
			e, err := platformEvents.Decode(ev.Type, ev.Data)
			if err != nil {
				return s, fmt.Errorf("app: platform stream at %d: %w", ev.Revision, err)
			}
			s = platform.Evolve(s, e)
			next++
		}
		if len(page) < eventstore.MaxReadCount {
			return s, nil
		}
	}
	return s, fmt.Errorf("app: the platform stream has more than %d events", maxPlatformEvents)
}

// handle decides cmd on the platform stream and returns the state after it (reloaded, so that a command
// that lost a race to another node sees what that node recorded).
func (p *Platform) handle(ctx context.Context, cmd any) (platform.State, error) {
	env := command.Envelope{Metadata: eventstore.Metadata{Actor: "kazna", Time: p.now()}}
	if _, err := command.Handle(ctx, p.deps.Store, platform.Stream, platformDecider, platformEvents, cmd, env); err != nil {
		return platform.State{}, err
	}
	return p.load(ctx)
}

// ensureIssuer makes sure the issuer's key is recorded and its account exists on chain, set up.
func (p *Platform) ensureIssuer(ctx context.Context, s platform.State) (platform.State, error) {
	if s.IssuerCreated {
		return s, nil
	}
	if s.IssuerAddress == "" {
		kp, err := keypair.Random()
		if err != nil {
			return s, fmt.Errorf("app: issuer key: %w", err)
		}
		seed := []byte(kp.Seed())
		sealed, err := p.deps.Vault.SealPlatformKey(issuerOwner(kp.Address()), seed)
		clear(seed)
		if err != nil {
			return s, fmt.Errorf("app: seal the issuer key: %w", err)
		}
		if s, err = p.handle(ctx, platform.GenerateIssuerKey{Address: kp.Address(), SealedSeed: sealed, At: p.now()}); err != nil {
			return s, fmt.Errorf("app: record the issuer key: %w", err)
		}
		p.log.Info("issuer key generated and sealed", "issuer", s.IssuerAddress)
	}
	signer, err := p.issuerSigner(s)
	if err != nil {
		return s, err
	}
	issuer := stellar.Signatory{Account: s.IssuerAddress, Signers: []stellar.Signer{signer}}
	acct, err := p.deps.Network.Account(ctx, s.IssuerAddress)
	if errors.Is(err, stellar.ErrNotFound) {
		if _, err := p.deps.Network.CreateAccount(ctx, stellar.AccountOpening{Account: s.IssuerAddress, StartingBalance: issuerStartingBalance}); err != nil {
			return s, fmt.Errorf("app: create the issuer account %s: %w", s.IssuerAddress, err)
		}
		p.log.Info("issuer account created", "issuer", s.IssuerAddress)
	} else if err != nil {
		return s, fmt.Errorf("app: read the issuer account %s: %w", s.IssuerAddress, err)
	}
	f := acct.Flags
	if !(f.AuthRequired && f.AuthRevocable && f.AuthClawbackEnabled) {
		if _, err := p.deps.Network.SetUpIssuer(ctx, issuer); err != nil {
			return s, fmt.Errorf("app: set the issuer flags on %s: %w", s.IssuerAddress, err)
		}
	}
	if s, err = p.handle(ctx, platform.RecordIssuerCreated{Address: s.IssuerAddress, At: p.now()}); err != nil {
		return s, fmt.Errorf("app: record the issuer: %w", err)
	}
	p.log.Info("issuer set up", "issuer", s.IssuerAddress, "flags", "AUTH_REQUIRED|AUTH_REVOCABLE|AUTH_CLAWBACK_ENABLED")
	return s, nil
}

// issuerSigner opens the issuer's sealed seed.
func (p *Platform) issuerSigner(s platform.State) (*stellar.KeySigner, error) {
	seed, err := p.deps.Vault.OpenPlatformKey(issuerOwner(s.IssuerAddress), s.IssuerSealedSeed)
	if err != nil {
		return nil, fmt.Errorf("app: open the issuer key: %w", err)
	}
	signer, err := stellar.NewKeySigner(string(seed))
	clear(seed)
	if err != nil {
		return nil, fmt.Errorf("app: the issuer key: %w", err)
	}
	if signer.Address() != s.IssuerAddress {
		return nil, fmt.Errorf("app: the sealed issuer key is not the key of %s", s.IssuerAddress)
	}
	return signer, nil
}

// ensureSigningKey adds the first signing key, or rotates the current one when it is older than KeyMaxAge.
func (p *Platform) ensureSigningKey(ctx context.Context, s platform.State) (platform.State, error) {
	now := p.now()
	cur, has := s.CurrentKey()
	switch {
	case !has:
		return p.addSigningKey(ctx, "", now, now)
	case cur.ActiveFrom.After(now):
		return s, nil // a rotation is pending already
	case now.Sub(cur.ActiveFrom) < p.deps.Config.KeyMaxAge:
		return s, nil
	}
	p.log.Info("rotating the token signing key", "kid", cur.KID, "active_since", cur.ActiveFrom, "max_age", p.deps.Config.KeyMaxAge)
	return p.addSigningKey(ctx, cur.KID, now, now.Add(p.deps.Config.PublishLead))
}

func (p *Platform) addSigningKey(ctx context.Context, replaces string, now, activeFrom time.Time) (platform.State, error) {
	priv, err := p.deps.NewRSAKey()
	if err != nil {
		return platform.State{}, fmt.Errorf("app: signing key: %w", err)
	}
	k, err := auth.NewSigningKey(priv, now)
	if err != nil {
		return platform.State{}, err
	}
	raw, err := k.MarshalPrivate()
	if err != nil {
		return platform.State{}, err
	}
	sealed, err := p.deps.Vault.SealPlatformKey(signingKeyOwner(k.KID()), raw)
	clear(raw)
	if err != nil {
		return platform.State{}, fmt.Errorf("app: seal the signing key: %w", err)
	}
	s, err := p.handle(ctx, platform.RotateSigningKey{Replaces: replaces, KID: k.KID(), SealedKey: sealed, ActiveFrom: activeFrom, At: now})
	if err != nil {
		return s, fmt.Errorf("app: record the signing key: %w", err)
	}
	p.log.Info("token signing key added", "kid", currentKID(s), "active_from", activeFrom)
	return s, nil
}

// RefreshSigningKeys keeps a long-running node's signing keys current: it rotates the key when it is older
// than KeyMaxAge (publishing the new one PublishLead before it signs, so nobody is logged out early) and takes
// in keys that another node of the cluster recorded. serve calls it on a timer; it is safe to call from
// several nodes at once (a rotation is decided on the platform stream with an expected revision).
func (p *Platform) RefreshSigningKeys(ctx context.Context) error {
	s, err := p.load(ctx)
	if err != nil {
		return err
	}
	if s, err = p.ensureSigningKey(ctx, s); err != nil {
		return err
	}
	have := map[string]bool{}
	for _, k := range p.keyring.Keys() {
		have[k.KID()] = true
	}
	for _, rec := range s.SigningKeys {
		if have[rec.KID] || !rec.RetiredAt.IsZero() {
			continue // in the keyring already, or retired before this node could have used it
		}
		raw, err := p.deps.Vault.OpenPlatformKey(signingKeyOwner(rec.KID), rec.SealedKey)
		if err != nil {
			return fmt.Errorf("app: open signing key %s: %w", rec.KID, err)
		}
		k, err := auth.ParsePrivate(raw)
		clear(raw)
		if err != nil {
			return fmt.Errorf("app: signing key %s: %w", rec.KID, err)
		}
		// Rotate publishes at now+PublishLead; place the key where the log says it starts signing.
		if err := p.keyring.Rotate(k, rec.ActiveFrom.Add(-p.deps.Config.PublishLead)); err != nil {
			return fmt.Errorf("app: take in signing key %s: %w", rec.KID, err)
		}
		p.log.InfoContext(ctx, "token signing key taken in", "kid", rec.KID, "active_from", rec.ActiveFrom)
	}
	p.setState(s)
	return nil
}

// buildKeyring rebuilds the signing keyring from the recorded keys: each key signs from its ActiveFrom and
// retires when the next one starts, exactly as recorded, whatever the publish lead is now. Keys whose tokens
// have all expired are skipped (not even opened).
func (p *Platform) buildKeyring(s platform.State) (*auth.Keyring, error) {
	cfg := p.deps.Config
	now := p.now()
	first := 0
	for i, k := range s.SigningKeys {
		if !k.RetiredAt.IsZero() && !now.Before(k.RetiredAt.Add(cfg.TokenTTL+auth.Leeway)) {
			first = i + 1
		}
	}
	if first >= len(s.SigningKeys) {
		return nil, errors.New("app: no signing key is recorded")
	}
	var replay *auth.Keyring
	for _, rec := range s.SigningKeys[first:] {
		raw, err := p.deps.Vault.OpenPlatformKey(signingKeyOwner(rec.KID), rec.SealedKey)
		if err != nil {
			return nil, fmt.Errorf("app: open signing key %s: %w", rec.KID, err)
		}
		k, err := auth.ParsePrivate(raw)
		clear(raw)
		if err != nil {
			return nil, fmt.Errorf("app: signing key %s: %w", rec.KID, err)
		}
		if k.KID() != rec.KID {
			return nil, fmt.Errorf("app: sealed signing key is %s, the log says %s", k.KID(), rec.KID)
		}
		if replay == nil {
			// With no publish lead, Rotate(k, ActiveFrom) puts each key exactly where the log says it is.
			replay, err = auth.NewKeyring(auth.KeyringConfig{MaxTTL: cfg.TokenTTL, Now: p.deps.Now}, k)
		} else {
			err = replay.Rotate(k, rec.ActiveFrom)
		}
		if err != nil {
			return nil, fmt.Errorf("app: rebuild the signing keyring at %s: %w", rec.KID, err)
		}
	}
	kr, err := auth.NewKeyring(auth.KeyringConfig{MaxTTL: cfg.TokenTTL, PublishLead: cfg.PublishLead, Now: p.deps.Now}, replay.Keys()...)
	if err != nil {
		return nil, fmt.Errorf("app: signing keyring: %w", err)
	}
	return kr, nil
}

// ensureAdministrator creates the platform administrator if there is none. A generated password is written
// to its file before the administrator is recorded, so that a crash in between reuses it rather than
// creating an administrator nobody knows the password of.
func (p *Platform) ensureAdministrator(ctx context.Context, s platform.State) (platform.State, error) {
	cfg := p.deps.Config
	path := filepath.Join(cfg.DataDir, AdminPasswordFile)
	if s.HasAdministrator() {
		if cfg.AdminLogin != s.AdminLogin {
			p.log.Warn("the configured administrator login differs from the recorded one; the recorded one stays", "administrator", s.AdminLogin)
		}
		if _, err := os.Stat(path); err == nil && cfg.DataDir != "" {
			p.log.Info("the generated administrator password is in its file (it is not shown again)", "file", path)
		}
		return s, nil
	}
	password, generated := cfg.AdminPassword, false
	if password == "" {
		if cfg.DataDir == "" {
			return s, errors.New("app: no administrator password is configured and no data directory to write a generated one to")
		}
		var err error
		if password, err = PasswordFile(path); err != nil {
			return s, err
		}
		generated = true
	}
	hash, err := p.deps.HashPassword(password)
	if err != nil {
		return s, fmt.Errorf("app: the administrator password (KAZNA_ADMIN_PASSWORD) is not acceptable: %w", err)
	}
	if s, err = p.handle(ctx, platform.CreateAdministrator{Login: cfg.AdminLogin, PasswordHash: hash, At: p.now()}); err != nil {
		return s, fmt.Errorf("app: create the administrator: %w", err)
	}
	if generated {
		// The one time a password reaches the log: the operator needs it to log in the first time.
		p.log.Warn("platform administrator created with a generated password; it is shown this once and kept in the file (delete the file after storing the password safely)",
			"login", s.AdminLogin, "password", password, "file", path)
	} else {
		p.log.Info("platform administrator created", "login", s.AdminLogin)
	}
	return s, nil
}

// PasswordFile returns the password in path, or generates one and writes it there with mode 0600,
// exclusively (a file that exists is never overwritten) and synced before it is used, so a crash right after
// never leaves an account whose password nobody has. The platform and demo administrators both use it.
func PasswordFile(path string) (string, error) {
	if b, err := readSmallFile(path, 1024); err == nil {
		if pw := strings.TrimSpace(string(b)); pw != "" {
			return pw, nil
		}
		return "", fmt.Errorf("app: %s is empty; delete it to generate a new password", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("app: read %s: %w", path, err)
	}
	pw, err := GeneratePassword()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("app: create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("app: create %s: %w", path, err)
	}
	_, werr := io.WriteString(f, pw+"\n")
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("app: write %s: %w", path, werr)
	}
	return pw, nil
}

func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// GeneratePassword makes a random password that passes auth.ValidatePassword: 24 characters of letters and
// digits (about 140 bits) in groups joined by '-'.
func GeneratePassword() (string, error) {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	for range 64 {
		var b strings.Builder
		for i := range generatedPasswordRunes {
			if i > 0 && i%6 == 0 {
				b.WriteByte('-')
			}
			n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
			if err != nil {
				return "", fmt.Errorf("app: generate a password: %w", err)
			}
			b.WriteByte(alphabet[n.Int64()])
		}
		if auth.ValidatePassword(b.String()) == nil {
			return b.String(), nil
		}
	}
	return "", errors.New("app: could not generate a password that passes the password rule")
}
