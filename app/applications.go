package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/application"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// API applications: a bank's own systems that call Kazna with client credentials (RFC 6749 §4.4), subscribed to
// API products on a plan; the sensitive products only after the platform administrator approves.

// Defaults and bounds of application tokens.
const (
	DefaultApplicationTokenTTL = 15 * time.Minute
	maxApplicationTokenTTL     = time.Hour
)

var (
	// ErrInvalidClient is every refused client authentication: unknown client, wrong secret, revoked secret,
	// disabled or deleted application. One error, so that a caller learns nothing about which it was.
	ErrInvalidClient = errors.New("app: client authentication failed")
	// ErrInvalidScope is a token request for a product the application is not granted.
	ErrInvalidScope = errors.New("app: the requested scope is not granted to the application")
	// ErrSecretShownOnce is the replay of a request that made a client secret: the secret was in the first
	// answer only, since Kazna keeps nothing but its hash.
	ErrSecretShownOnce = errors.New("app: the client secret was shown in the first answer only; re-issue it")
)

// ApplicationTokenIssuer signs application access tokens (auth.ApplicationTokens).
type ApplicationTokenIssuer interface {
	Issue(c auth.ApplicationClaims, ttl time.Duration, now time.Time) (string, time.Duration, error)
}

// ApplicationBanks finds a counterparty (projections.Counterparties).
type ApplicationBanks interface {
	Counterparty(ctx context.Context, guid string) (projections.Counterparty, bool)
}

// ApplicationDeps is what NewApplications needs.
type ApplicationDeps struct {
	Store        command.Store
	Applications *projections.Applications
	// Banks, when set, refuses applications of a counterparty that does not exist.
	Banks  ApplicationBanks
	Tokens ApplicationTokenIssuer
	// TokenTTL is the lifetime of an access token (default 15 minutes, at most an hour).
	TokenTTL time.Duration
	// WaitFor blocks until the read models reach a write's position; nil waits for nothing.
	WaitFor func(ctx context.Context, pos eventstore.Position) error
	Now     func() time.Time
	Logger  *slog.Logger
}

// Applications runs the use cases of API applications.
type Applications struct {
	d ApplicationDeps
}

// NewApplications checks deps and fills defaults.
func NewApplications(d ApplicationDeps) (*Applications, error) {
	if d.Store == nil || d.Applications == nil || d.Tokens == nil {
		return nil, errors.New("app: applications need the store, the applications read model and a token issuer")
	}
	if d.TokenTTL == 0 {
		d.TokenTTL = DefaultApplicationTokenTTL
	}
	if d.TokenTTL < 0 || d.TokenTTL > maxApplicationTokenTTL {
		return nil, fmt.Errorf("app: application token TTL %v outside (0, %v]", d.TokenTTL, maxApplicationTokenTTL)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return &Applications{d: d}, nil
}

func (a *Applications) now() time.Time { return a.d.Now().UTC() }

func (a *Applications) wait(ctx context.Context, pos eventstore.Position) error {
	if a.d.WaitFor == nil || pos == (eventstore.Position{}) {
		return nil
	}
	return a.d.WaitFor(ctx, pos)
}

// CreatedApplication is a new application and its credentials. ClientSecret is empty when the request was a
// replay (see ErrSecretShownOnce).
type CreatedApplication struct {
	GUID         string
	ClientID     string
	ClientSecret string
	Replayed     bool
	Position     eventstore.Position
}

// CreateApplication registers an application of bank cp and makes its first client secret, returned here only.
func (a *Applications) CreateApplication(ctx context.Context, cp uuid.UUID, name, description string, w Write) (CreatedApplication, error) {
	if a.d.Banks != nil {
		if _, ok := a.d.Banks.Counterparty(ctx, cp.String()); !ok {
			return CreatedApplication{}, counterparty.ErrNotFound
		}
	}
	guid := newGUID(w, "application/"+cp.String())
	secret, err := auth.NewClientSecret()
	if err != nil {
		return CreatedApplication{}, err
	}
	cmd := application.Register{GUID: guid, Counterparty: cp, Name: name, Description: description,
		SecretHash: auth.HashClientSecretHex(guid.String(), secret), At: a.now()}
	req := struct{ Name, Description string }{name, description}
	res, err := command.Handle(ctx, a.d.Store, application.Stream(guid), application.Decider, application.Events, any(cmd), envelope(w, "create", req))
	if err != nil {
		return CreatedApplication{}, err
	}
	out := CreatedApplication{GUID: guid.String(), ClientID: guid.String(), ClientSecret: secret, Position: res.Position}
	if res.Replayed {
		out.ClientSecret, out.Replayed = "", true
	}
	return out, a.wait(ctx, res.Position)
}

// Application returns one application of bank cp, deleted or not.
func (a *Applications) Application(ctx context.Context, cp, guid string) (application.State, bool) {
	return a.d.Applications.Application(ctx, cp, guid)
}

// ListApplications lists bank cp's applications, oldest first.
func (a *Applications) ListApplications(ctx context.Context, cp string, includeDeleted bool) []application.State {
	return a.d.Applications.ListApplications(ctx, cp, includeDeleted)
}

// own loads application guid from its stream (the authority, not the read model) and checks it is bank cp's.
func (a *Applications) own(ctx context.Context, cp, guid uuid.UUID) (application.State, error) {
	st, err := peek(ctx, a.d.Store, application.Stream(guid), application.Decider, application.Events)
	if err != nil {
		return st, err
	}
	if !st.Exists || st.Counterparty != cp.String() {
		return st, application.ErrNotFound
	}
	return st, nil
}

// change runs one command on an application of bank cp.
func (a *Applications) change(ctx context.Context, cp, guid uuid.UUID, cmd any, step string, req any, w Write) (Written, error) {
	if _, err := a.own(ctx, cp, guid); err != nil {
		return Written{}, err
	}
	res, err := command.Handle(ctx, a.d.Store, application.Stream(guid), application.Decider, application.Events, cmd, envelope(w, step, req))
	if err != nil {
		return Written{}, err
	}
	return Written{GUID: guid.String(), Position: res.Position}, a.wait(ctx, res.Position)
}

// DisableApplication stops an application: its secrets and tokens are refused until it is enabled again.
func (a *Applications) DisableApplication(ctx context.Context, cp, guid uuid.UUID, w Write) (Written, error) {
	return a.change(ctx, cp, guid, application.Disable{At: a.now()}, "disable", struct{}{}, w)
}

// EnableApplication lets a disabled application call again.
func (a *Applications) EnableApplication(ctx context.Context, cp, guid uuid.UUID, w Write) (Written, error) {
	return a.change(ctx, cp, guid, application.Enable{At: a.now()}, "enable", struct{}{}, w)
}

// DeleteApplication removes an application for good.
func (a *Applications) DeleteApplication(ctx context.Context, cp, guid uuid.UUID, w Write) (Written, error) {
	return a.change(ctx, cp, guid, application.Delete{At: a.now()}, "delete", struct{}{}, w)
}

// ReissuedSecret is a new client secret, shown once, and until when the replaced one works.
type ReissuedSecret struct {
	ClientSecret       string
	Version            int
	PreviousValidUntil time.Time
	Position           eventstore.Position
}

// ReissueSecret replaces an application's secret. The replaced one stops at once (grace 0) or after grace.
func (a *Applications) ReissueSecret(ctx context.Context, cp, guid uuid.UUID, grace time.Duration, w Write) (ReissuedSecret, error) {
	if _, err := a.own(ctx, cp, guid); err != nil {
		return ReissuedSecret{}, err
	}
	secret, err := auth.NewClientSecret()
	if err != nil {
		return ReissuedSecret{}, err
	}
	cmd := application.ReissueSecret{SecretHash: auth.HashClientSecretHex(guid.String(), secret), Grace: grace, At: a.now()}
	req := struct{ Grace time.Duration }{grace}
	res, err := command.Handle(ctx, a.d.Store, application.Stream(guid), application.Decider, application.Events, any(cmd), envelope(w, "secret", req))
	if err != nil {
		return ReissuedSecret{}, err
	}
	if res.Replayed {
		return ReissuedSecret{}, ErrSecretShownOnce
	}
	out := ReissuedSecret{ClientSecret: secret, Position: res.Position}
	for _, e := range res.Events {
		if r, ok := e.(application.ApplicationSecretReissued); ok {
			out.Version, out.PreviousValidUntil = r.SecretVersion, r.PreviousValidUntil
		}
	}
	a.d.Logger.InfoContext(ctx, "applications: client secret re-issued", "application", guid.String(), "grace", grace, "by", w.Metadata.Actor)
	return out, a.wait(ctx, res.Position)
}

// Subscribe subscribes an application to product on plan: granted at once, or a request for the platform
// administrator when the product is sensitive. It returns the subscription as it then stands.
func (a *Applications) Subscribe(ctx context.Context, cp, guid uuid.UUID, product application.Product, plan string, w Write) (application.Subscription, error) {
	if _, err := a.own(ctx, cp, guid); err != nil {
		return application.Subscription{}, err
	}
	cmd := application.Subscribe{Product: product, Plan: plan, At: a.now()}
	req := struct {
		Product application.Product
		Plan    string
	}{product, plan}
	res, err := command.Handle(ctx, a.d.Store, application.Stream(guid), application.Decider, application.Events, any(cmd), envelope(w, "subscribe/"+string(product), req))
	if err != nil {
		return application.Subscription{}, err
	}
	st, err := a.own(ctx, cp, guid)
	if err != nil {
		return application.Subscription{}, err
	}
	return st.Subscriptions[product], a.wait(ctx, res.Position)
}

// Unsubscribe ends a subscription, or withdraws a pending request.
func (a *Applications) Unsubscribe(ctx context.Context, cp, guid uuid.UUID, product application.Product, w Write) (Written, error) {
	return a.change(ctx, cp, guid, application.Unsubscribe{Product: product, At: a.now()}, "unsubscribe/"+string(product), struct{}{}, w)
}

// decide runs the platform's decision on a request of application guid, whatever its bank.
func (a *Applications) decide(ctx context.Context, guid uuid.UUID, cmd any, step string, req any, w Write) (Written, error) {
	st, err := peek(ctx, a.d.Store, application.Stream(guid), application.Decider, application.Events)
	if err != nil {
		return Written{}, err
	}
	if !st.Exists {
		return Written{}, application.ErrNotFound
	}
	res, err := command.Handle(ctx, a.d.Store, application.Stream(guid), application.Decider, application.Events, cmd, envelope(w, step, req))
	if err != nil {
		return Written{}, err
	}
	return Written{GUID: guid.String(), Position: res.Position}, a.wait(ctx, res.Position)
}

// ApproveSubscription grants a pending request (the platform administrator's decision).
func (a *Applications) ApproveSubscription(ctx context.Context, guid uuid.UUID, product application.Product, w Write) (Written, error) {
	return a.decide(ctx, guid, application.Approve{Product: product, By: w.Metadata.Actor, At: a.now()}, "approve/"+string(product), struct{}{}, w)
}

// RejectSubscription refuses a pending request with a reason the bank reads.
func (a *Applications) RejectSubscription(ctx context.Context, guid uuid.UUID, product application.Product, reason string, w Write) (Written, error) {
	return a.decide(ctx, guid, application.Reject{Product: product, By: w.Metadata.Actor, Reason: reason, At: a.now()},
		"reject/"+string(product), struct{ Reason string }{reason}, w)
}

// PendingRequests is the platform administrator's queue of subscription requests.
func (a *Applications) PendingRequests(ctx context.Context) []projections.SubscriptionRequest {
	return a.d.Applications.PendingRequests(ctx)
}

// ApplicationCalls answers a call-analytics query.
func (a *Applications) ApplicationCalls(ctx context.Context, q projections.CallQuery) (projections.CallReport, error) {
	return a.d.Applications.Calls(ctx, q)
}

// IssuedToken is an access token of the client credentials grant.
type IssuedToken struct {
	AccessToken string
	ExpiresIn   time.Duration
	Scope       string
}

// IssueToken is the client credentials grant (RFC 6749 §4.4): it authenticates the client with its secret,
// against the application's own stream rather than a read model, so that a secret revoked a moment ago is
// refused, and issues a token for the products asked (scope, a subset of those granted) or all granted.
func (a *Applications) IssueToken(ctx context.Context, clientID, secret, scope string) (IssuedToken, error) {
	id, err := uuid.Parse(clientID)
	if err != nil || len(clientID) != 36 || secret == "" {
		return IssuedToken{}, ErrInvalidClient
	}
	st, err := peek(ctx, a.d.Store, application.Stream(id), application.Decider, application.Events)
	if err != nil {
		return IssuedToken{}, err
	}
	now := a.now()
	hash := auth.HashClientSecret(id.String(), secret)
	version, ok := st.SecretMatches(hash, now)
	// SecretMatches compares in constant time against every live secret; the state checks after it say
	// nothing about the secret.
	if !ok || !st.Exists || st.Disabled || st.Deleted {
		return IssuedToken{}, ErrInvalidClient
	}
	granted := st.Active()
	want := granted
	if scope != "" {
		if want, err = application.ParseScope(scope); err != nil || want&^granted != 0 {
			return IssuedToken{}, ErrInvalidScope
		}
	}
	tok, ttl, err := a.d.Tokens.Issue(auth.ApplicationClaims{Application: st.GUID, Counterparty: st.Counterparty, Scope: want.String(),
		SecretVersion: version}, a.d.TokenTTL, now)
	if err != nil {
		return IssuedToken{}, err
	}
	return IssuedToken{AccessToken: tok, ExpiresIn: ttl, Scope: want.String()}, nil
}
