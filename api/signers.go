package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/eventstore"
)

// SignerKeyService keeps the banks' multisignature signer keys (app.Multisig). The guide (§11) has the bank
// give the platform the public halves of its signer keys before launch but names no endpoint; these are in
// the style of the JWK endpoints (INFERRED).
type SignerKeyService interface {
	SignerKeys(ctx context.Context, cp uuid.UUID) (app.SignerKeysView, error)
	SetSignerKeys(ctx context.Context, r app.Request, cp uuid.UUID, addresses []string) (eventstore.Position, error)
}

func signerRoutes(svc SignerKeyService) []Route {
	h := signerHandlers{svc: svc}
	return []Route{
		{"GET", cp + "/signers", PermJWKRead, h.get},
		{"PUT", cp + "/signers", PermJWKWrite, h.put},
	}
}

type signerHandlers struct{ svc SignerKeyService }

// signersRequest is {"addresses": ["G…", …]}: the bank's signer public keys, replacing the registered ones.
type signersRequest struct {
	Addresses *[]string `json:"addresses"`
}

func (b signersRequest) Validate() error {
	if b.Addresses == nil {
		return MissingField("addresses")
	}
	if len(*b.Addresses) > counterparty.MaxSignerKeys {
		return InvalidField("addresses", "at most 4 signer keys")
	}
	return nil
}

// signersView is the bank's multisignature set-up: its signer keys, whether new customer accounts get them,
// where /sign is called, and the platform's co-signing address a customer account will also carry.
type signersView struct {
	Addresses      []string  `json:"addresses"`
	Multisig       bool      `json:"multisig"`
	SignURL        string    `json:"sign_url,omitempty"`
	PlatformSigner string    `json:"platform_signer"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func (h signerHandlers) get(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return unavailable("multisignature")
	}
	bank, err := pathBank(r)
	if err != nil {
		return err
	}
	v, err := h.svc.SignerKeys(r.Context(), bank)
	if err != nil {
		return domainError(err)
	}
	out := signersView{Addresses: v.Addresses, Multisig: v.Multisig, PlatformSigner: v.PlatformSigner, UpdatedAt: v.UpdatedAt}
	if v.CallbackURL != "" {
		out.SignURL = strings.TrimRight(v.CallbackURL, "/") + app.SignPath
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h signerHandlers) put(w http.ResponseWriter, r *http.Request) error {
	bank, err := pathBank(r)
	if err != nil {
		return err
	}
	var body signersRequest
	req, err := decodeWrite(r, &body)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return unavailable("multisignature")
	}
	if _, err := h.svc.SetSignerKeys(r.Context(), req, bank, *body.Addresses); err != nil {
		return domainError(err)
	}
	return h.get(w, r)
}

func pathBank(r *http.Request) (uuid.UUID, error) {
	cp, err := pathGUID(r, "counterparty_guid")
	if err != nil {
		return uuid.Nil, err
	}
	return guidValue("counterparty_guid", cp)
}
