package projections

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/domain/category"
	"github.com/kazna-ledger/kazna/eventstore"
)

// Category is a transfer category as guide §13 lists it. A deleted category stays, with IsDeleted and
// DeletedAt, so that payments made under it still name it; new payments must refuse it.
type Category struct {
	GUID        string
	Name        string
	Description string
	IsDeleted   bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DeletedAt   time.Time // zero while the category is live
}

// Categories is the read model of transfer categories, shared by every bank. The dictionary is small (the
// app layer bounds it), so it is held whole and listed whole.
type Categories struct {
	known map[string]bool

	mu     sync.RWMutex
	byGUID map[string]*Category
}

// NewCategories returns an empty read model; feed it to a Runner.
func NewCategories() *Categories {
	return &Categories{known: knownTypes(category.Events.Types()), byGUID: map[string]*Category{}}
}

func (p *Categories) Name() string { return "categories" }

func (p *Categories) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypePrefixes: category.EventTypePrefixes}
}

func (p *Categories) Apply(ev eventstore.RecordedEvent) error {
	if !p.known[ev.Type] {
		return nil
	}
	e, err := category.Events.Decode(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e := e.(type) {
	case category.CategoryDefined:
		p.byGUID[strings.ToLower(e.GUID)] = &Category{GUID: e.GUID, Name: e.Name, Description: e.Description, CreatedAt: e.At, UpdatedAt: e.At}
	case category.CategoryChanged:
		if c := p.byGUID[strings.ToLower(e.GUID)]; c != nil {
			c.Name, c.Description, c.UpdatedAt = e.Name, e.Description, e.At
		}
	case category.CategoryDeleted:
		if c := p.byGUID[strings.ToLower(e.GUID)]; c != nil {
			c.IsDeleted, c.DeletedAt, c.UpdatedAt = true, e.At, e.At
		}
	}
	return nil
}

// Get returns a category by GUID (any case), deleted or not: a caller that files a new payment under it must
// refuse one with IsDeleted.
func (p *Categories) Get(guid string) (Category, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	c := p.byGUID[strings.ToLower(guid)]
	if c == nil {
		return Category{}, false
	}
	return *c, true
}

// List returns every category, deleted ones included, ordered by name, then GUID.
func (p *Categories) List() []Category {
	p.mu.RLock()
	out := make([]Category, 0, len(p.byGUID))
	for _, c := range p.byGUID {
		out = append(out, *c)
	}
	p.mu.RUnlock()
	slices.SortFunc(out, func(a, b Category) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.GUID, b.GUID))
	})
	return out
}

// Len is the number of categories, deleted ones included.
func (p *Categories) Len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.byGUID)
}

// CategoryName returns the name (the code) of a live category, for a payment filed under it; a deleted or
// unknown category is not found (app.CategoryNames).
func (p *Categories) CategoryName(guid string) (string, bool) {
	c, ok := p.Get(guid)
	if !ok || c.IsDeleted {
		return "", false
	}
	return c.Name, true
}
