package audit

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Service answers the auditor's questions over HTTP: a balance at a time, and an entity's history.
type Service struct {
	store LogReader
}

// NewService reads from store.
func NewService(store LogReader) (*Service, error) {
	if store == nil {
		return nil, errors.New("audit: no store")
	}
	return &Service{store: store}, nil
}

// AccountBalance is BalanceAt: the account's balance at at (now for a zero at).
func (s *Service) AccountBalance(ctx context.Context, guid uuid.UUID, at time.Time) (AccountBalance, error) {
	return BalanceAt(ctx, s.store, guid, at)
}

// History is a page of an entity's events, for a bank's auditor (bank set: only the bank's own entities, any
// other is ErrNoHistory) or for platform staff (bank empty).
type HistoryQuery struct {
	Bank     string
	Entity   Entity
	GUID     uuid.UUID
	After    uint64
	HasAfter bool
	Limit    int
}

// History returns a page of the entity's events, oldest first.
func (s *Service) History(ctx context.Context, q HistoryQuery) (EventsPage, error) {
	stream, err := q.Entity.Stream(q.GUID)
	if err != nil {
		return EventsPage{}, err
	}
	if q.Bank != "" {
		owners, err := Owners(ctx, s.store, q.Entity, q.GUID)
		if err != nil {
			return EventsPage{}, err
		}
		if !slices.ContainsFunc(owners, func(o string) bool { return strings.EqualFold(o, q.Bank) }) {
			return EventsPage{}, ErrNoHistory
		}
	}
	return ReadEvents(ctx, s.store, stream, q.After, q.HasAfter, q.Limit)
}

// StreamHistory is a page of any stream's events, by name, for platform staff: streams no entity kind names
// (uniqueness claims, the platform's own stream, categories) included.
func (s *Service) StreamHistory(ctx context.Context, stream string, after uint64, hasAfter bool, limit int) (EventsPage, error) {
	return ReadEvents(ctx, s.store, stream, after, hasAfter, limit)
}
