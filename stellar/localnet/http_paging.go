package localnet

import (
	"math"
	"net/http"
	"net/url"
	"strconv"

	"github.com/stellar/go-stellar-sdk/support/render/hal"
)

// page is Horizon's HAL collection.
type page struct {
	Links    hal.Links `json:"_links"`
	Embedded struct {
		Records []any `json:"records"`
	} `json:"_embedded"`
}

// parsePage reads cursor, order, limit and include_failed as Horizon does, refusing anything else.
func parsePage(w http.ResponseWriter, r *http.Request) (pageQuery, bool) {
	v := r.URL.Query()
	q := pageQuery{limit: defaultPageLimit}
	switch v.Get("order") {
	case "", "asc":
	case "desc":
		q.desc = true
	default:
		badRequest(w, "order", "order: invalid value, must be asc or desc")
		return q, false
	}
	if s := v.Get("limit"); s != "" {
		l, err := strconv.Atoi(s)
		if err != nil || l < 1 || l > maxPageLimit {
			badRequest(w, "limit", "limit: must be an integer from 1 to 200")
			return q, false
		}
		q.limit = l
	}
	switch c := v.Get("cursor"); c {
	case "":
		q.cursor = defaultCursor(q.desc)
	case "now":
		q.cursor = math.MaxInt64
	default:
		id, err := strconv.ParseInt(c, 10, 64)
		if err != nil || id < 0 {
			badRequest(w, "cursor", "cursor: must be a non-negative integer paging token or \"now\"")
			return q, false
		}
		q.cursor = id
	}
	switch v.Get("include_failed") {
	case "", "false":
	case "true":
		q.includeFailed = true
	default:
		badRequest(w, "include_failed", "include_failed: must be true or false")
		return q, false
	}
	return q, true
}

// pageLinks builds self, next and prev the way Horizon does: next continues from the cursor next, prev goes back
// from the first record in the opposite order.
func pageLinks(r *http.Request, q pageQuery, records []any, next string) hal.Links {
	base := baseURL(r) + r.URL.Path
	order := "asc"
	if q.desc {
		order = "desc"
	}
	reverse := map[string]string{"asc": "desc", "desc": "asc"}[order]
	cursor := r.URL.Query().Get("cursor")
	first := cursor
	if len(records) > 0 {
		first = pagingToken(records[0])
	}
	mk := func(cursor, order string) hal.Link {
		v := url.Values{}
		v.Set("cursor", cursor)
		v.Set("limit", strconv.Itoa(q.limit))
		v.Set("order", order)
		if q.includeFailed {
			v.Set("include_failed", "true")
		}
		return hal.Link{Href: base + "?" + v.Encode()}
	}
	return hal.Links{Self: mk(cursor, order), Next: mk(next, order), Prev: mk(first, reverse)}
}

// pagingToken reads the token of a record; every Horizon resource type rendered here has one.
func pagingToken(v any) string {
	if p, ok := v.(interface{ PagingToken() string }); ok {
		return p.PagingToken()
	}
	return ""
}

// writePage writes a collection; next is the paging token after the last record examined, or "" to repeat the
// request's cursor.
func writePage(w http.ResponseWriter, r *http.Request, q pageQuery, records []any, next string) {
	if next == "" {
		next = r.URL.Query().Get("cursor")
	}
	var p page
	p.Embedded.Records = records
	p.Links = pageLinks(r, q, records, next)
	writeJSON(w, p)
}

// nextCursor renders a resume position; the defaults of an unpositioned request render as "".
func nextCursor(q pageQuery, next int64) string {
	if next == q.cursor {
		return ""
	}
	return strconv.FormatInt(next, 10)
}

// accountKnownLocked reports whether id exists now or appears in history; paging an account that never existed is a
// 404 as in Horizon.
func (n *Network) accountKnownLocked(id string) bool {
	_, live := n.accounts[id]
	return live || len(n.hist.accountTxs[id]) > 0
}

// historyList is one paged Horizon collection of the history: which IDs it pages (all of them, or one
// account's), whether a record is successful (failed ones show only with include_failed), and how it renders.
type historyList struct {
	all        func(h *history) []int64
	ofAccount  func(h *history, account string) []int64
	successful func(h *history, id int64) bool
	render     func(h *history, id int64, base string) any
}

var (
	paymentList = historyList{
		all:        func(h *history) []int64 { return h.paymentIDs },
		ofAccount:  func(h *history, a string) []int64 { return h.accountPayments[a] },
		successful: func(h *history, id int64) bool { return h.ops[id].Successful },
		render:     func(h *history, id int64, base string) any { return renderOp(h.ops[id], base) },
	}
	transactionList = historyList{
		all:        func(h *history) []int64 { return h.txIDs },
		ofAccount:  func(h *history, a string) []int64 { return h.accountTxs[a] },
		successful: func(h *history, id int64) bool { return h.txs[id].Successful },
		render:     func(h *history, id int64, base string) any { return renderTx(h.txs[id], base) },
	}
)

// serveList answers the collection of every record (GET /payments, GET /transactions).
func (n *Network) serveList(l historyList) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, ok := parsePage(w, r)
		if !ok {
			return
		}
		n.mu.RLock()
		records, next := n.pageLocked(l, l.all(n.hist), q, baseURL(r))
		n.mu.RUnlock()
		writePage(w, r, q, records, next)
	}
}

// serveAccountList answers one account's collection (GET /accounts/{id}/payments, …/transactions), with 404
// for an account that never existed, as in Horizon.
func (n *Network) serveAccountList(l historyList) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := validAccountParam(w, r)
		if !ok {
			return
		}
		q, ok := parsePage(w, r)
		if !ok {
			return
		}
		n.mu.RLock()
		known := n.accountKnownLocked(id)
		records, next := n.pageLocked(l, l.ofAccount(n.hist, id), q, baseURL(r))
		n.mu.RUnlock()
		if !known {
			notFound(w)
			return
		}
		writePage(w, r, q, records, next)
	}
}

func (n *Network) pageLocked(l historyList, ids []int64, q pageQuery, base string) ([]any, string) {
	sel, next := pageIDs(ids, q, func(id int64) bool { return q.includeFailed || l.successful(n.hist, id) })
	records := make([]any, len(sel))
	for i, id := range sel {
		records[i] = l.render(n.hist, id, base)
	}
	return records, nextCursor(q, next)
}

func (n *Network) getLedgers(w http.ResponseWriter, r *http.Request) {
	q, ok := parsePage(w, r)
	if !ok {
		return
	}
	n.mu.RLock()
	ledgers := n.hist.ledgers
	// Ledger paging tokens are seq<<32, ascending with the slice index.
	sel, _ := pageIndexes(len(ledgers), func(i int) int64 { return ledgers[i].pagingToken() }, q, nil)
	records := make([]any, len(sel))
	for i, idx := range sel {
		records[i] = renderLedger(&ledgers[idx], baseURL(r))
	}
	n.mu.RUnlock()
	next := ""
	if len(records) > 0 {
		next = pagingToken(records[len(records)-1])
	}
	writePage(w, r, q, records, next)
}
