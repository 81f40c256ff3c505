package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// BankKeyService registers, lists and updates banks' JWT keys and checks a bank JWT (app.Counterparties).
type BankKeyService interface {
	RegisterBankKey(ctx context.Context, r app.Request, cp uuid.UUID, data json.RawMessage) (string, eventstore.Position, error)
	UpdateBankKey(ctx context.Context, r app.Request, cp, key uuid.UUID, data json.RawMessage) (eventstore.Position, error)
	ListBankKeys(ctx context.Context, cp string) ([]projections.BankKey, error)
	AuthenticateBankJWT(ctx context.Context, cp, token string) (string, error)
}

type jwkHandlers struct {
	svc  BankKeyService
	wait ReadWaiter
}

// jwkRequest is the guide's {"data": {<JWK>}}.
type jwkRequest struct {
	Data json.RawMessage `json:"data"`
}

func (b jwkRequest) Validate() error {
	if len(b.Data) == 0 || string(b.Data) == "null" {
		return MissingField("data")
	}
	return nil
}

type jwkCreated struct {
	GUID string `json:"guid"`
}

func (h jwkHandlers) register(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return unavailable("key registration")
	}
	cp, err := pathGUID(r, "counterparty_guid")
	if err != nil {
		return err
	}
	var body jwkRequest
	req, err := decodeWrite(r, &body)
	if err != nil {
		return err
	}
	bank, err := guidValue("counterparty_guid", cp)
	if err != nil {
		return err
	}
	guid, pos, err := h.svc.RegisterBankKey(r.Context(), req, bank, body.Data)
	if err != nil {
		return domainError(err)
	}
	readYourWrite(r, h.wait, pos)
	writeJSON(w, http.StatusOK, jwkCreated{GUID: guid})
	return nil
}

func (h jwkHandlers) update(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return unavailable("key update")
	}
	cp, err := pathGUID(r, "counterparty_guid")
	if err != nil {
		return err
	}
	key, err := pathGUID(r, "jwk_guid")
	if err != nil {
		return err
	}
	var body jwkRequest
	req, err := decodeWrite(r, &body)
	if err != nil {
		return err
	}
	bank, err := guidValue("counterparty_guid", cp)
	if err != nil {
		return err
	}
	keyID, err := guidValue("jwk_guid", key)
	if err != nil {
		return err
	}
	pos, err := h.svc.UpdateBankKey(r.Context(), req, bank, keyID, body.Data)
	if err != nil {
		return domainError(err)
	}
	readYourWrite(r, h.wait, pos)
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// jwkView is one registered key: the public JWK members plus Kazna's guid and times.
type jwkView struct {
	GUID      string          `json:"guid"`
	KID       string          `json:"kid"`
	JWK       json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

type jwkList struct {
	Keys []jwkView `json:"keys"`
}

func (h jwkHandlers) list(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return unavailable("the key list")
	}
	cp, err := pathGUID(r, "counterparty_guid")
	if err != nil {
		return err
	}
	keys, err := h.svc.ListBankKeys(r.Context(), cp)
	if err != nil {
		return domainError(err)
	}
	out := jwkList{Keys: make([]jwkView, 0, len(keys))}
	for _, k := range keys {
		out.Keys = append(out.Keys, jwkView{GUID: k.GUID, KID: k.KID, JWK: k.JWK, CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type sessionTokenResponse struct {
	SessionToken string `json:"session_token"`
}

// authenticate is the guide's "Check Bank JWT": the router has already accepted the CX-Authorization JWT for
// the path's bank; the service checks it again (it must be a bank JWT, not a platform token) and answers a
// session token signed by Kazna.
func (h jwkHandlers) authenticate(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return unavailable("bank JWT check")
	}
	cp, err := pathGUID(r, "counterparty_guid")
	if err != nil {
		return err
	}
	token := firstValue(r.Header.Values("CX-Authorization"))
	if token == "" {
		return errorf(http.StatusBadRequest, CodeMissingField, "CX-Authorization", "send the bank JWT to check in CX-Authorization")
	}
	session, err := h.svc.AuthenticateBankJWT(r.Context(), cp, token)
	if err != nil {
		return domainError(err)
	}
	writeJSON(w, http.StatusOK, sessionTokenResponse{SessionToken: session})
	return nil
}
