package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// CounterpartyService registers, changes and lists counterparties (app.Counterparties).
type CounterpartyService interface {
	RegisterCounterparty(ctx context.Context, r app.Request, reg app.CounterpartyRegistration) (app.RegisteredCounterparty, error)
	UpdateCounterparty(ctx context.Context, r app.Request, guid uuid.UUID, patch app.ProfilePatch) (eventstore.Position, error)
	ListCounterparties(ctx context.Context, q projections.CounterpartyQuery) ([]projections.Counterparty, int, error)
	Counterparty(ctx context.Context, guid string) (projections.Counterparty, bool)
}

// ReadWaiter lets a write wait until the read models show it (projections.Runner), so that the caller's next
// GET sees its own write.
type ReadWaiter interface {
	WaitFor(ctx context.Context, pos eventstore.Position) error
}

// maxIdempotencyKeyBytes bounds the Idempotency-Key header (shared by every write handler): a UUID or similar
// token, not a document.
const maxIdempotencyKeyBytes = 200

// unavailable is the answer of an endpoint whose service is not wired (fails closed, retryable).
func unavailable(what string) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: what + " is not available", Retryable: true}
}

// decodeWrite reads a write's body into v and returns the app.Request: the caller, the Idempotency-Key and a
// fingerprint of method, path and body, so that the same key with another body is refused.
func decodeWrite(r *http.Request, v any) (app.Request, error) {
	key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if len(key) > maxIdempotencyKeyBytes || strings.ContainsFunc(key, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return app.Request{}, InvalidField("Idempotency-Key", "must be at most 200 printable ASCII characters")
	}
	var data []byte
	if r.Body != nil {
		var err error
		if data, err = io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1)); err != nil {
			return app.Request{}, errorf(http.StatusBadRequest, CodeInvalidRequest, "", "could not read the request body")
		}
		r.Body = io.NopCloser(bytes.NewReader(data))
	}
	if err := decode(r, v); err != nil {
		return app.Request{}, err
	}
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\x00"))
	h.Write(data)
	c, _ := CallerFrom(r.Context())
	return app.Request{Actor: c.Subject, IdempotencyKey: key, Fingerprint: h.Sum(nil)}, nil
}

// readYourWrite waits (bounded by the Runner's MaxWait) until the read models reach pos. A timeout is not the
// write's failure: the write is done, so the answer stays a success and the caller may see it a moment later.
func readYourWrite(r *http.Request, w ReadWaiter, pos eventstore.Position) {
	if w == nil || pos == (eventstore.Position{}) {
		return
	}
	if err := w.WaitFor(r.Context(), pos); err != nil {
		loggerFrom(r.Context()).Warn("read models behind a write", "request_id", RequestID(r.Context()), "position", pos.String(), "err", err)
	}
}

// domainError maps the errors of the counterparty use cases to answers; the rest go through writeError's table.
func domainError(err error) error {
	var inv interface{ InvalidField() (string, string) }
	switch {
	case err == nil:
		return nil
	case errors.Is(err, app.ErrUnknownAsset):
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnprocessable, Field: "asset_code",
			Message: "the platform issues one asset; leave asset_code and asset_issuer empty or name it", Err: err}
	case errors.Is(err, counterparty.ErrNameTaken):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Field: "name", Message: "a counterparty with this name exists", Err: err}
	case errors.Is(err, counterparty.ErrKeyExists):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Field: "kid", Message: "a key with this kid is registered", Err: err}
	case errors.Is(err, counterparty.ErrAlreadyExists):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "it already exists", Err: err}
	case errors.Is(err, counterparty.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "counterparty not found", Err: err}
	case errors.Is(err, counterparty.ErrKeyNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "key not found", Err: err}
	case errors.Is(err, counterparty.ErrTooManyKeys):
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnprocessable, Message: "too many keys; update one instead", Err: err}
	case errors.Is(err, auth.ErrPrivateKeyMaterial):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "data",
			Message: "the JWK carries private key material: register only the public key and treat this key as exposed", Err: err}
	case errors.Is(err, auth.ErrInvalidKey):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "data",
			Message: "data must be an RSA public JWK for RS256 with a kid and at least 2048 bits", Err: err}
	case errors.Is(err, app.ErrBankTokenRefused):
		return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Message: "the bank JWT was not accepted", Err: err}
	case errors.Is(err, auth.ErrKeyLookup):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the bank's keys could not be read; retry later", Retryable: true, Err: err}
	case errors.As(err, &inv):
		field, reason := inv.InvalidField()
		e := InvalidField(field, reason)
		e.Err = err
		return e
	}
	return err
}

type counterpartyHandlers struct {
	svc  CounterpartyService
	wait ReadWaiter
}

// counterpartyProfile is the profile part of POST and PUT bodies (guide §19 plus Kazna's fields).
type counterpartyRequest struct {
	GUID        string  `json:"guid,omitempty"`
	AssetCode   string  `json:"asset_code,omitempty"`
	AssetIssuer string  `json:"asset_issuer,omitempty"`
	Name        *string `json:"name"`
	HoldingName *string `json:"holding_name"`
	Description *string `json:"description"`
	AuthURL     *string `json:"auth_url"`
	UserAuthURL *string `json:"user_auth_url"`
	UserIDURL   *string `json:"user_id_url"`
	UserKeyURL  *string `json:"user_key_url"`
	CallbackURL *string `json:"callback_url"`
	AutoIssue   *bool   `json:"auto_issue"`
	AutoBurn    *bool   `json:"auto_burn"`
	Multisig    *bool   `json:"multisig"`
}

func (b counterpartyRequest) patch() app.ProfilePatch {
	return app.ProfilePatch{Name: b.Name, HoldingName: b.HoldingName, Description: b.Description, AuthURL: b.AuthURL,
		UserAuthURL: b.UserAuthURL, UserIDURL: b.UserIDURL, UserKeyURL: b.UserKeyURL, CallbackURL: b.CallbackURL,
		AutoIssue: b.AutoIssue, AutoBurn: b.AutoBurn, Multisig: b.Multisig}
}

// counterpartyUpdate is the PUT body: the same fields without guid and asset.
type counterpartyUpdate struct {
	Name        *string `json:"name"`
	HoldingName *string `json:"holding_name"`
	Description *string `json:"description"`
	AuthURL     *string `json:"auth_url"`
	UserAuthURL *string `json:"user_auth_url"`
	UserIDURL   *string `json:"user_id_url"`
	UserKeyURL  *string `json:"user_key_url"`
	CallbackURL *string `json:"callback_url"`
	AutoIssue   *bool   `json:"auto_issue"`
	AutoBurn    *bool   `json:"auto_burn"`
	Multisig    *bool   `json:"multisig"`
}

type createdCounterparty struct {
	GUID                  string `json:"guid"`
	EmissionAccountGUID   string `json:"emission_account_guid"`
	ProcessingAccountGUID string `json:"processing_account_guid"`
}

func (h counterpartyHandlers) create(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return unavailable("counterparty registration")
	}
	var body counterpartyRequest
	req, err := decodeWrite(r, &body)
	if err != nil {
		return err
	}
	if body.Name == nil || strings.TrimSpace(*body.Name) == "" {
		return MissingField("name")
	}
	reg := app.CounterpartyRegistration{AssetCode: body.AssetCode, AssetIssuer: body.AssetIssuer,
		Profile: body.patch().Apply(counterparty.Profile{})}
	if body.GUID != "" {
		g, err := guidValue("guid", body.GUID)
		if err != nil {
			return err
		}
		// The older guide's "zero → random".
		reg.GUID = g
	}
	res, err := h.svc.RegisterCounterparty(r.Context(), req, reg)
	if err != nil {
		return domainError(err)
	}
	readYourWrite(r, h.wait, res.Position)
	writeJSON(w, http.StatusOK, createdCounterparty{GUID: res.GUID, EmissionAccountGUID: res.EmissionAccountGUID, ProcessingAccountGUID: res.ProcessingAccountGUID})
	return nil
}

func (h counterpartyHandlers) update(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return unavailable("counterparty update")
	}
	guid, err := pathGUID(r, "counterparty_guid")
	if err != nil {
		return err
	}
	var body counterpartyUpdate
	req, err := decodeWrite(r, &body)
	if err != nil {
		return err
	}
	id, err := guidValue("counterparty_guid", guid)
	if err != nil {
		return err
	}
	pos, err := h.svc.UpdateCounterparty(r.Context(), req, id, body.asPatch())
	if err != nil {
		return domainError(err)
	}
	readYourWrite(r, h.wait, pos)
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (b counterpartyUpdate) asPatch() app.ProfilePatch {
	return app.ProfilePatch{Name: b.Name, HoldingName: b.HoldingName, Description: b.Description, AuthURL: b.AuthURL,
		UserAuthURL: b.UserAuthURL, UserIDURL: b.UserIDURL, UserKeyURL: b.UserKeyURL, CallbackURL: b.CallbackURL,
		AutoIssue: b.AutoIssue, AutoBurn: b.AutoBurn, Multisig: b.Multisig}
}

// counterpartyView is one counterparty as GET answers it.
type counterpartyView struct {
	GUID                  string    `json:"guid"`
	Name                  string    `json:"name"`
	HoldingName           string    `json:"holding_name"`
	Description           string    `json:"description"`
	AssetCode             string    `json:"asset_code"`
	AssetIssuer           string    `json:"asset_issuer"`
	EmissionAccountGUID   string    `json:"emission_account_guid"`
	ProcessingAccountGUID string    `json:"processing_account_guid"`
	AuthURL               string    `json:"auth_url"`
	UserAuthURL           string    `json:"user_auth_url"`
	UserIDURL             string    `json:"user_id_url"`
	UserKeyURL            string    `json:"user_key_url"`
	CallbackURL           string    `json:"callback_url"`
	AutoIssue             bool      `json:"auto_issue"`
	AutoBurn              bool      `json:"auto_burn"`
	Multisig              bool      `json:"multisig"`
	Disabled              bool      `json:"disabled"`
	CreatedAt             time.Time `json:"created_at"`
	UpdatedAt             time.Time `json:"updated_at"`
}

func viewCounterparty(c projections.Counterparty) counterpartyView {
	return counterpartyView{GUID: c.GUID, Name: c.Name, HoldingName: c.HoldingName, Description: c.Description,
		AssetCode: c.AssetCode, AssetIssuer: c.AssetIssuer, EmissionAccountGUID: c.EmissionAccountGUID,
		ProcessingAccountGUID: c.ProcessingAccountGUID, AuthURL: c.AuthURL, UserAuthURL: c.UserAuthURL,
		UserIDURL: c.UserIDURL, UserKeyURL: c.UserKeyURL, CallbackURL: c.CallbackURL, AutoIssue: c.AutoIssue,
		AutoBurn: c.AutoBurn, Multisig: c.Multisig, Disabled: c.Disabled, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

type counterpartyList struct {
	Counterparties []counterpartyView `json:"counterparties"`
	Total          int                `json:"total"`
}

func (h counterpartyHandlers) list(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return unavailable("the counterparty list")
	}
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	var query projections.CounterpartyQuery
	if query.GUIDs, err = guidListParam(q, "guids"); err != nil {
		return err
	}
	if query.Names, err = listParam(q, "names"); err != nil {
		return err
	}
	if query.HoldingNames, err = listParam(q, "holding_names"); err != nil {
		return err
	}
	page, err := pageParams(q)
	if err != nil {
		return err
	}
	order, err := orderParam(q, Order{Field: "created_at"}, "created_at")
	if err != nil {
		return err
	}
	query.ListPage = projections.ListPage{Offset: page.Offset, Limit: page.Limit}
	if order.Desc {
		query.Order = projections.CreatedDesc
	}
	items, total, err := h.svc.ListCounterparties(r.Context(), query)
	if err != nil {
		return err
	}
	out := counterpartyList{Counterparties: make([]counterpartyView, 0, len(items)), Total: total}
	for _, c := range items {
		out.Counterparties = append(out.Counterparties, viewCounterparty(c))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h counterpartyHandlers) get(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return unavailable("the counterparty list")
	}
	guid, err := pathGUID(r, "counterparty_guid")
	if err != nil {
		return err
	}
	c, ok := h.svc.Counterparty(r.Context(), guid)
	if !ok {
		return NotFound("counterparty")
	}
	writeJSON(w, http.StatusOK, viewCounterparty(c))
	return nil
}
