package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/audit"
	"github.com/kazna-ledger/kazna/eventstore"
)

// AuditService answers auditors from the event log itself, not from the read models: a balance at a time,
// and an entity's events with their metadata.
type AuditService interface {
	AccountBalance(ctx context.Context, guid uuid.UUID, at time.Time) (audit.AccountBalance, error)
	History(ctx context.Context, q audit.HistoryQuery) (audit.EventsPage, error)
	StreamHistory(ctx context.Context, stream string, after uint64, hasAfter bool, limit int) (audit.EventsPage, error)
}

// auditHandlers serve the auditor's history of an entity (a bank's auditor, within the bank) and of any
// stream (platform staff).
type auditHandlers struct {
	svc AuditService
}

func auditRoutes(d Deps) []Route {
	h := auditHandlers{svc: d.Audit}
	b := balanceAtHandlers{svc: d.Audit, accounts: customerHandlers{svc: d.Customers, wait: d.ReadModels}}
	if d.Branches != nil {
		b.accounts.branches = d.Branches
	}
	return []Route{
		{"GET", cp + "/audit/events", PermAuditRead, h.bankEvents},
		{"GET", "/api/v1/audit/events", PermAuditReadAny, h.platformEvents},
		{"GET", cp + "/accounts/{account_guid}/balance", PermAccountsRead, b.balance},
	}
}

// auditEventView is one event as the auditor reads it: what (type, data), who (actor, and the bank it acted
// for), when (time), why (request, correlation and causation IDs), where (stream, revision, log position)
// and the links of the stream's hash chain (hash, prev_hash), with which an auditor can check the chain.
type auditEventView struct {
	ID               string          `json:"id"`
	Type             string          `json:"type"`
	Stream           string          `json:"stream"`
	Revision         uint64          `json:"revision"`
	Position         string          `json:"position"`
	Time             string          `json:"time"`
	Actor            string          `json:"actor"`
	CounterpartyGUID string          `json:"counterparty_guid"`
	CorrelationID    string          `json:"correlation_id"`
	CausationID      string          `json:"causation_id"`
	RequestID        string          `json:"request_id"`
	Hash             string          `json:"hash"`
	PrevHash         string          `json:"prev_hash"`
	Data             json.RawMessage `json:"data"`
	RedactedFields   []string        `json:"redacted_fields"`
}

// auditEventsResponse is a page of history; next_after, present when has_more, is the after of the next page.
type auditEventsResponse struct {
	Entity    string           `json:"entity,omitempty"`
	GUID      string           `json:"guid,omitempty"`
	Stream    string           `json:"stream"`
	Events    []auditEventView `json:"events"`
	HasMore   bool             `json:"has_more"`
	NextAfter *uint64          `json:"next_after,omitempty"`
}

func viewEvents(page audit.EventsPage) auditEventsResponse {
	resp := auditEventsResponse{Stream: page.Stream, Events: make([]auditEventView, 0, len(page.Events)), HasMore: page.More}
	if page.More {
		next := page.NextAfter
		resp.NextAfter = &next
	}
	for _, e := range page.Events {
		m := e.Metadata
		redacted := e.Redacted
		if redacted == nil {
			redacted = []string{}
		}
		resp.Events = append(resp.Events, auditEventView{ID: e.ID.String(), Type: e.Type, Stream: e.Stream, Revision: e.Revision,
			Position: e.Position.String(), Time: apiTime(m.Time), Actor: m.Actor, CounterpartyGUID: m.Counterparty,
			CorrelationID: m.CorrelationID, CausationID: m.CausationID, RequestID: m.RequestID, Hash: e.Hash.String(),
			PrevHash: e.PrevHash.String(), Data: e.Data, RedactedFields: redacted})
	}
	return resp
}

// historyParams reads after and limit.
func historyParams(q url.Values) (after uint64, hasAfter bool, limit int, err error) {
	s, ok, err := single(q, "after")
	if err != nil {
		return 0, false, 0, err
	}
	if ok {
		n, perr := strconv.ParseUint(s, 10, 64)
		if perr != nil || n == eventstore.StreamEnd {
			return 0, false, 0, InvalidField("after", "must be the revision of an event (a whole number from 0), as next_after gave it")
		}
		after, hasAfter = n, true
	}
	limit, err = intParam(q, "limit", audit.DefaultEventsLimit, 1, audit.MaxEventsLimit)
	return after, hasAfter, limit, err
}

// entityParams reads entity and guid.
func entityParams(q url.Values) (audit.Entity, uuid.UUID, error) {
	s, ok, err := single(q, "entity")
	if err != nil {
		return "", uuid.Nil, err
	}
	if !ok || s == "" {
		return "", uuid.Nil, MissingField("entity")
	}
	entity := audit.Entity(strings.ToLower(s))
	if _, err := entity.Stream(uuid.Nil); err != nil {
		names := make([]string, 0, len(audit.Entities()))
		for _, e := range audit.Entities() {
			names = append(names, string(e))
		}
		return "", uuid.Nil, InvalidField("entity", "must be one of "+strings.Join(names, ", "))
	}
	g, ok, err := guidParam(q, "guid")
	if err != nil {
		return "", uuid.Nil, err
	}
	if !ok {
		return "", uuid.Nil, MissingField("guid")
	}
	id, err := guidValue("guid", g)
	return entity, id, err
}

func auditError(err error) error {
	switch {
	case errors.Is(err, audit.ErrNoHistory):
		return NotFound("entity")
	case errors.Is(err, audit.ErrUnknownEntity):
		return InvalidField("entity", "unknown entity")
	case errors.Is(err, eventstore.ErrInvalidStream):
		return InvalidField("stream", "is not a valid stream name")
	}
	return err
}

// bankEvents pages through the events of one of the bank's entities. Another bank's entity answers 404,
// like one that does not exist, so that GUIDs of other banks cannot be probed.
func (h auditHandlers) bankEvents(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	entity, guid, err := entityParams(q)
	if err != nil {
		return err
	}
	after, hasAfter, limit, err := historyParams(q)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	page, err := h.svc.History(r.Context(), audit.HistoryQuery{Bank: bank.String(), Entity: entity, GUID: guid,
		After: after, HasAfter: hasAfter, Limit: limit})
	if err != nil {
		return auditError(err)
	}
	resp := viewEvents(page)
	resp.Entity, resp.GUID = string(entity), guid.String()
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// platformEvents is the platform staff's variant: any entity of any bank (entity and guid), or any stream
// by name (stream), the platform's own included. Its permission is a platform one, so no bank caller
// reaches it whatever its roles.
func (h auditHandlers) platformEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	after, hasAfter, limit, err := historyParams(q)
	if err != nil {
		return err
	}
	stream, byStream, err := single(q, "stream")
	if err != nil {
		return err
	}
	_, hasEntity := q["entity"]
	if byStream && hasEntity {
		return InvalidField("stream", "give stream, or entity and guid, not both")
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	if byStream {
		if stream == "" {
			return MissingField("stream")
		}
		page, err := h.svc.StreamHistory(r.Context(), stream, after, hasAfter, limit)
		if err != nil {
			return auditError(err)
		}
		writeJSON(w, http.StatusOK, viewEvents(page))
		return nil
	}
	entity, guid, err := entityParams(q)
	if err != nil {
		return err
	}
	page, err := h.svc.History(r.Context(), audit.HistoryQuery{Entity: entity, GUID: guid, After: after, HasAfter: hasAfter, Limit: limit})
	if err != nil {
		return auditError(err)
	}
	resp := viewEvents(page)
	resp.Entity, resp.GUID = string(entity), guid.String()
	writeJSON(w, http.StatusOK, resp)
	return nil
}
