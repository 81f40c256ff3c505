package projections

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/domain/branch"
	"github.com/kazna-ledger/kazna/eventstore"
)

// Branch is a bank's branch as guide §16.1 lists it.
type Branch struct {
	GUID             string
	CounterpartyGUID string
	Name             string
	IsDeleted        bool
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// BranchQuery filters and pages a counterparty's branches. Soft-deleted branches are hidden unless
// IncludeDeleted. CounterpartyGUID is required.
type BranchQuery struct {
	CounterpartyGUID string
	GUIDs            []string
	Names            []string
	IncludeDeleted   bool
	ListPage
}

// Branches is the read model of branches.
type Branches struct {
	known map[string]bool

	mu     sync.RWMutex
	byGUID map[string]*Branch
}

// NewBranches returns an empty read model; feed it to a Runner.
func NewBranches() *Branches {
	return &Branches{known: knownTypes(branch.Events.Types()), byGUID: map[string]*Branch{}}
}

func (p *Branches) Name() string { return "branches" }

func (p *Branches) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypePrefixes: branch.EventTypePrefixes}
}

func (p *Branches) Apply(ev eventstore.RecordedEvent) error {
	if !p.known[ev.Type] {
		return nil
	}
	e, err := branch.Events.Decode(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e := e.(type) {
	case branch.BranchCreated:
		p.byGUID[e.GUID] = &Branch{GUID: e.GUID, CounterpartyGUID: e.CounterpartyGUID, Name: e.Name, CreatedAt: e.At, UpdatedAt: e.At}
	case branch.BranchRenamed:
		if b := p.byGUID[e.GUID]; b != nil {
			b.Name, b.UpdatedAt = e.Name, e.At
		}
	case branch.BranchDeleted:
		if b := p.byGUID[e.GUID]; b != nil {
			b.IsDeleted, b.UpdatedAt = true, e.At
		}
	case branch.BranchRestored:
		if b := p.byGUID[e.GUID]; b != nil {
			b.IsDeleted, b.UpdatedAt = false, e.At
		}
	}
	return nil
}

// Branch returns one branch of a counterparty by GUID, deleted or not (see IsDeleted).
func (p *Branches) Branch(_ context.Context, counterpartyGUID, guid string) (Branch, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	b := p.byGUID[strings.ToLower(guid)]
	if b == nil || !strings.EqualFold(b.CounterpartyGUID, counterpartyGUID) {
		return Branch{}, false
	}
	return *b, true
}

// List returns a page of a counterparty's branches that match q, and how many match in all.
func (p *Branches) List(_ context.Context, q BranchQuery) ([]Branch, int, error) {
	page, err := q.check()
	if err != nil {
		return nil, 0, err
	}
	if q.CounterpartyGUID == "" {
		return nil, 0, fmt.Errorf("%w: a counterparty is required", ErrInvalidListQuery)
	}
	guids, err := guidSet("guids", q.GUIDs)
	if err != nil {
		return nil, 0, err
	}
	names, err := nameSet("names", q.Names)
	if err != nil {
		return nil, 0, err
	}
	p.mu.RLock()
	var out []Branch
	for _, b := range p.byGUID {
		if strings.EqualFold(b.CounterpartyGUID, q.CounterpartyGUID) && (q.IncludeDeleted || !b.IsDeleted) &&
			guids.matchGUID(b.GUID) && names.matchName(b.Name) {
			out = append(out, *b)
		}
	}
	p.mu.RUnlock()
	items, total := listed(out, func(b Branch) (time.Time, string) { return b.CreatedAt, b.GUID }, page)
	return items, total, nil
}
