package projections

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kazna-ledger/kazna/domain/uniqueness"
)

// Bounds of the list queries of the directory read models (counterparties, employees, branches).
const (
	// DefaultListLimit is the page size when a query gives none.
	DefaultListLimit = 50
	// MaxListLimit bounds a page; a larger limit is cut to it, so that no query copies a whole read model.
	MaxListLimit = 1000
	// MaxListFilterValues bounds the values of one filter (guids, names, …).
	MaxListFilterValues = 1000
)

// ErrInvalidListQuery is a list query the read model refuses: a negative offset or limit, too many filter
// values, or a missing counterparty scope.
var ErrInvalidListQuery = errors.New("projections: invalid list query")

// CreatedOrder orders a list by creation time, then GUID, so that pages are stable.
type CreatedOrder int

const (
	CreatedAsc CreatedOrder = iota
	CreatedDesc
)

// ListPage is the paging part of a list query. A zero Limit means DefaultListLimit.
type ListPage struct {
	Order  CreatedOrder
	Offset int
	Limit  int
}

func (p ListPage) check() (ListPage, error) {
	if p.Offset < 0 || p.Limit < 0 {
		return p, fmt.Errorf("%w: negative offset or limit", ErrInvalidListQuery)
	}
	if p.Order != CreatedAsc && p.Order != CreatedDesc {
		return p, fmt.Errorf("%w: unknown order %d", ErrInvalidListQuery, p.Order)
	}
	if p.Limit == 0 {
		p.Limit = DefaultListLimit
	}
	p.Limit = min(p.Limit, MaxListLimit)
	return p, nil
}

// listed sorts the matching items by (created, guid) in the page's order and cuts the page out of them; total
// is the number of matches.
func listed[T any](items []T, key func(T) (time.Time, string), p ListPage) (page []T, total int) {
	slices.SortFunc(items, func(a, b T) int {
		ta, ga := key(a)
		tb, gb := key(b)
		c := ta.Compare(tb)
		if c == 0 {
			c = cmp.Compare(ga, gb)
		}
		if p.Order == CreatedDesc {
			c = -c
		}
		return c
	})
	total = len(items)
	if p.Offset >= total {
		return []T{}, total
	}
	return slices.Clone(items[p.Offset:min(total, p.Offset+p.Limit)]), total
}

// valueSet is a filter: nil matches everything, otherwise the normalised values.
type valueSet map[string]bool

// guidSet and nameSet build filters; GUIDs compare lower-case, names as package uniqueness normalises them.
func guidSet(field string, values []string) (valueSet, error) {
	return newSet(field, values, strings.ToLower)
}

func nameSet(field string, values []string) (valueSet, error) {
	return newSet(field, values, uniqueness.Normalise)
}

func newSet(field string, values []string, norm func(string) string) (valueSet, error) {
	if len(values) == 0 {
		return nil, nil
	}
	if len(values) > MaxListFilterValues {
		return nil, fmt.Errorf("%w: %s has %d values, at most %d", ErrInvalidListQuery, field, len(values), MaxListFilterValues)
	}
	s := make(valueSet, len(values))
	for _, v := range values {
		s[norm(v)] = true
	}
	return s, nil
}

func (s valueSet) matchGUID(v string) bool { return s == nil || s[strings.ToLower(v)] }
func (s valueSet) matchName(v string) bool { return s == nil || s[uniqueness.Normalise(v)] }

// knownTypes is the set of event types a read model decodes; others that its filter lets through (a newer
// writer's events) are skipped, not failed on, so that an old reader keeps serving.
func knownTypes(types []string) map[string]bool {
	m := make(map[string]bool, len(types))
	for _, t := range types {
		m[t] = true
	}
	return m
}
