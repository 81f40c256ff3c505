package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
)

// Bounds of list requests (Tiger Style: everything has a limit).
const (
	defaultPageLimit = 20
	maxPageLimit     = 1000
	// maxPageOffset keeps a deep page from scanning a read model end to end; past it, narrow the filter.
	maxPageOffset = 10_000_000
	// maxListValues bounds a list filter (guids=…): a request never asks for more records by name than a page holds.
	maxListValues = maxPageLimit
	// maxValueLen bounds one query value, so that a filter cannot carry a document.
	maxValueLen = 1024
)

// Page is the offset/limit window of a list request.
type Page struct {
	Offset int
	Limit  int
}

// Order is the sort of a list: a field from the endpoint's allow-list, ascending unless Desc.
type Order struct {
	Field string
	Desc  bool
}

// queryValues parses the query string strictly: url.Values from r.URL.Query() silently drops a malformed
// pair, which would turn a filter into "everything".
func queryValues(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, CodeInvalidRequest, "", "malformed query string")
	}
	return q, nil
}

// single returns the one value of a scalar parameter; a scalar given twice is ambiguous and refused.
func single(q url.Values, name string) (string, bool, error) {
	vs, ok := q[name]
	if !ok {
		return "", false, nil
	}
	if len(vs) > 1 {
		return "", false, InvalidField(name, "give it once")
	}
	if len(vs[0]) > maxValueLen {
		return "", false, InvalidField(name, "too long")
	}
	return vs[0], true, nil
}

// pageParams reads offset (default 0) and limit (default 20, at most 1000).
func pageParams(q url.Values) (Page, error) {
	p := Page{Limit: defaultPageLimit}
	var err error
	if p.Offset, err = intParam(q, "offset", 0, 0, maxPageOffset); err != nil {
		return Page{}, err
	}
	if p.Limit, err = intParam(q, "limit", defaultPageLimit, 1, maxPageLimit); err != nil {
		return Page{}, err
	}
	return p, nil
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	s, ok, err := single(q, name)
	if err != nil || !ok {
		return def, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, InvalidField(name, "must be a whole number from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
	}
	return n, nil
}

// orderParam reads the sort, named "order" (bank guide) or "ordering" (older guide): a field from allowed,
// prefixed with "-" for descending. Without one, def applies.
func orderParam(q url.Values, def Order, allowed ...string) (Order, error) {
	name := "order"
	s, ok, err := single(q, "order")
	if err != nil {
		return Order{}, err
	}
	s2, ok2, err := single(q, "ordering")
	if err != nil {
		return Order{}, err
	}
	switch {
	case ok && ok2:
		return Order{}, InvalidField("ordering", "give order or ordering, not both")
	case ok2:
		name, s, ok = "ordering", s2, true
	}
	if !ok || s == "" {
		return def, nil
	}
	o := Order{Field: s}
	if rest, desc := strings.CutPrefix(s, "-"); desc {
		o = Order{Field: rest, Desc: true}
	}
	if !slices.Contains(allowed, o.Field) {
		return Order{}, InvalidField(name, "must be one of "+strings.Join(allowed, ", ")+", optionally prefixed with -")
	}
	return o, nil
}

// listParam reads a list filter given repeated (guids=a&guids=b), comma-separated (guids=a,b) or both.
// Blank items are dropped; at most maxListValues items.
func listParam(q url.Values, name string) ([]string, error) {
	var out []string
	for _, v := range q[name] {
		if len(v) > maxValueLen*maxListValues {
			return nil, InvalidField(name, "too long")
		}
		for item := range strings.SplitSeq(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if len(item) > maxValueLen {
				return nil, InvalidField(name, "an item is too long")
			}
			if len(out) == maxListValues {
				return nil, InvalidField(name, "at most "+strconv.Itoa(maxListValues)+" items")
			}
			out = append(out, item)
		}
	}
	return out, nil
}

// guidListParam is listParam whose items must be GUIDs; it returns them in canonical lower case.
func guidListParam(q url.Values, name string) ([]string, error) {
	items, err := listParam(q, name)
	if err != nil {
		return nil, err
	}
	for i, item := range items {
		g, ok := parseGUID(item)
		if !ok {
			return nil, InvalidField(name, "item "+strconv.Itoa(i+1)+" is not a GUID")
		}
		items[i] = g
	}
	return items, nil
}

// guidParam reads one optional GUID parameter.
func guidParam(q url.Values, name string) (string, bool, error) {
	s, ok, err := single(q, name)
	if err != nil || !ok {
		return "", false, err
	}
	g, valid := parseGUID(s)
	if !valid {
		return "", false, InvalidField(name, "must be a GUID like 3f2c1a9e-8d4b-4c7e-9a1f-2b6d5e8c0a17")
	}
	return g, true, nil
}

// timeParam reads one optional RFC 3339 time ("2026-05-01T00:00:00Z").
func timeParam(q url.Values, name string) (time.Time, bool, error) {
	s, ok, err := single(q, name)
	if err != nil || !ok {
		return time.Time{}, false, err
	}
	t, perr := time.Parse(time.RFC3339Nano, s)
	if perr != nil {
		return time.Time{}, false, InvalidField(name, "must be an RFC 3339 time like 2026-05-01T00:00:00Z")
	}
	return t, true, nil
}

// boolParam reads one optional boolean: true/false (also 1/0).
func boolParam(q url.Values, name string) (value, present bool, err error) {
	s, ok, err := single(q, name)
	if err != nil || !ok {
		return false, false, err
	}
	switch strings.ToLower(s) {
	case "true", "1":
		return true, true, nil
	case "false", "0":
		return false, true, nil
	}
	return false, false, InvalidField(name, "must be true or false")
}

// parseGUID accepts only the canonical 36-character form (any case) and returns it in lower case. uuid.Parse
// alone would also take braces, "urn:uuid:" and unhyphenated forms, giving one record several spellings.
func parseGUID(s string) (string, bool) {
	u, ok := parseUUID(s)
	if !ok {
		return "", false
	}
	return u.String(), true
}

// parseUUID accepts only the 36-character form: uuid.Parse also takes braces, urn: and unhyphenated forms.
func parseUUID(s string) (uuid.UUID, bool) {
	if len(s) != 36 {
		return uuid.Nil, false
	}
	u, err := uuid.Parse(s)
	return u, err == nil
}

// guidValue parses a GUID that a handler passes on as a uuid.UUID. Validation usually checked it already;
// parsing here again with an error, never a panic, keeps a malformed value a 400 even if that check moves.
func guidValue(field, s string) (uuid.UUID, error) {
	u, ok := parseUUID(s)
	if !ok {
		return uuid.Nil, InvalidField(field, "must be a GUID like 3f2c1a9e-8d4b-4c7e-9a1f-2b6d5e8c0a17")
	}
	return u, nil
}

// pathGUID reads a GUID path variable. A malformed one is 400; whether a well-formed one exists is for the
// handler to find out (404).
func pathGUID(r *http.Request, name string) (string, error) {
	g, ok := parseGUID(mux.Vars(r)[name])
	if !ok {
		return "", InvalidField(name, "must be a GUID like 3f2c1a9e-8d4b-4c7e-9a1f-2b6d5e8c0a17")
	}
	return g, nil
}
