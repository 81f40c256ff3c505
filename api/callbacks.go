package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/callback"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
)

// CallbackService sets the secret that signs a bank's notices and reads a payment's delivery log
// (app.Callbacks).
type CallbackService interface {
	RotateCallbackSecret(ctx context.Context, r app.Request, cp uuid.UUID) ([]byte, eventstore.Position, error)
	PaymentCallbacks(ctx context.Context, cp, payment uuid.UUID) ([]app.CallbackEntry, error)
}

func callbackRoutes(svc CallbackService) []Route {
	h := callbackHandlers{svc: svc}
	return []Route{
		{"POST", cp + "/callbacks/secret", PermCallbacksWrite, h.rotateSecret},
		{"GET", cp + "/payments/{payment_guid}/callbacks", PermPaymentsRead, h.list},
	}
}

type callbackHandlers struct {
	svc CallbackService
}

// callbackSecretRequest is the body of POST …/callbacks/secret: nothing (an empty body or {}).
type callbackSecretRequest struct{}

type callbackSecretResponse struct {
	Secret string `json:"secret"` // standard base64 of the 32 bytes
}

// rotateSecret sets a new callback secret and answers it, once (guide §12; Kazna's endpoint).
func (h callbackHandlers) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return unavailable("the callback secret")
	}
	cp, err := pathGUID(r, "counterparty_guid")
	if err != nil {
		return err
	}
	if err := emptyBodyAsObject(r); err != nil {
		return err
	}
	req, err := decodeWrite(r, &callbackSecretRequest{})
	if err != nil {
		return err
	}
	bank, err := guidValue("counterparty_guid", cp)
	if err != nil {
		return err
	}
	secret, _, err := h.svc.RotateCallbackSecret(r.Context(), req, bank)
	if err != nil {
		return domainError(err)
	}
	out := callbackSecretResponse{Secret: base64.StdEncoding.EncodeToString(secret)}
	clear(secret)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
	return nil
}

// emptyBodyAsObject lets a write that takes no fields be sent without a body: an empty body reads as {}.
func emptyBodyAsObject(r *http.Request) error {
	var data []byte
	if r.Body != nil {
		var err error
		if data, err = io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1)); err != nil {
			return errorf(http.StatusBadRequest, CodeInvalidRequest, "", "could not read the request body")
		}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
		r.Header.Set("Content-Type", "application/json")
	}
	r.Body = io.NopCloser(bytes.NewReader(data))
	return nil
}

// callbackView is one entry of a payment's delivery log.
type callbackView struct {
	Kind         callback.Kind `json:"kind"`
	Counterparty string        `json:"counterparty_guid"`
	URL          string        `json:"url"`
	Attempt      int           `json:"attempt"`
	Status       int           `json:"status"`
	Error        string        `json:"error"`
	Delivered    bool          `json:"delivered"`
	Abandoned    bool          `json:"abandoned"`
	At           time.Time     `json:"at"`
}

type callbackList struct {
	Callbacks []callbackView `json:"callbacks"`
	Total     int            `json:"total"`
}

// list answers the notices of a payment sent to the calling bank, in the order they were recorded.
func (h callbackHandlers) list(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return unavailable("the callback log")
	}
	cp, err := pathGUID(r, "counterparty_guid")
	if err != nil {
		return err
	}
	pay, err := pathGUID(r, "payment_guid")
	if err != nil {
		return err
	}
	bank, err := guidValue("counterparty_guid", cp)
	if err != nil {
		return err
	}
	id, err := guidValue("payment_guid", pay)
	if err != nil {
		return err
	}
	entries, err := h.svc.PaymentCallbacks(r.Context(), bank, id)
	if errors.Is(err, payment.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "payment not found", Err: err}
	}
	if err != nil {
		return domainError(err)
	}
	out := callbackList{Callbacks: make([]callbackView, 0, len(entries)), Total: len(entries)}
	for _, e := range entries {
		out.Callbacks = append(out.Callbacks, callbackView{Kind: e.Kind, Counterparty: e.Counterparty, URL: e.URL, Attempt: e.Attempt,
			Status: e.Status, Error: e.Error, Delivered: e.Delivered, Abandoned: e.Abandoned, At: e.At})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
