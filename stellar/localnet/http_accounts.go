package localnet

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/stellar/go-stellar-sdk/strkey"
)

// getAccounts answers GET /accounts as Horizon does for its asset and signer filters: the accounts holding a
// trustline to the asset (or having the signer), in account-ID order, paged with the account ID as the
// paging token. Reconciliation reads every holder of the platform's asset this way, 200 accounts per request
// instead of one request per account. Sponsors and liquidity pools do not exist here: those filters answer
// an empty page.
func (n *Network) getAccounts(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	filters := 0
	for _, name := range []string{"asset", "signer", "sponsor", "liquidity_pool"} {
		if v.Get(name) != "" {
			filters++
		}
	}
	if filters != 1 {
		badRequest(w, "filters", "Exactly one filter is required: signer, sponsor, asset or liquidity_pool")
		return
	}
	q, ok := parseAccountPage(w, r)
	if !ok {
		return
	}
	var match func(a *account) bool
	switch {
	case v.Get("asset") != "":
		code, issuer, found := strings.Cut(v.Get("asset"), ":")
		if !found || code == "" || len(code) > 12 || !strkey.IsValidEd25519PublicKey(issuer) {
			badRequest(w, "asset", "Asset must be CODE:ISSUER with a valid issuer account")
			return
		}
		k := assetKey{Code: code, Issuer: issuer}
		match = func(a *account) bool { _, ok := a.lines[k]; return ok }
	case v.Get("signer") != "":
		signer := v.Get("signer")
		if _, err := parseAddress(signer); err != nil {
			badRequest(w, "signer", "Signer must be a valid account address")
			return
		}
		match = func(a *account) bool {
			if a.id == signer {
				return true
			}
			_, ok := a.signerIndex(signer)
			return ok
		}
	default:
		match = func(*account) bool { return false }
	}
	base := baseURL(r)
	n.mu.RLock()
	selected := n.selectAccountsLocked(q, match)
	records := make([]any, len(selected))
	for i, a := range selected {
		records[i] = n.renderAccountLocked(a, base)
	}
	n.mu.RUnlock()
	next := q.cursor
	if len(selected) > 0 {
		next = selected[len(selected)-1].id
	}
	writeAccountPage(w, r, q, records, next)
}

// accountPage is a paging request whose cursor is an account ID (Horizon's paging token of accounts).
type accountPage struct {
	cursor string // exclusive; "" = from the start (or the end, descending)
	desc   bool
	limit  int
}

func parseAccountPage(w http.ResponseWriter, r *http.Request) (accountPage, bool) {
	v := r.URL.Query()
	// The numeric parser checks order and limit; the cursor of accounts is an account ID, so it is read here.
	probe := r.Clone(r.Context())
	pv := probe.URL.Query()
	pv.Del("cursor")
	probe.URL.RawQuery = pv.Encode()
	pq, ok := parsePage(w, probe)
	if !ok {
		return accountPage{}, false
	}
	q := accountPage{desc: pq.desc, limit: pq.limit, cursor: v.Get("cursor")}
	if q.cursor != "" {
		if _, err := parseAddress(q.cursor); err != nil {
			badRequest(w, "cursor", "cursor: must be an account ID")
			return accountPage{}, false
		}
	}
	return q, true
}

// selectAccountsLocked picks the page: the q.limit matching accounts nearest after the cursor in ID order.
// It scans every account once and keeps the best q.limit in a bounded sorted buffer, so a page costs
// O(accounts × log limit) without an index to keep up to date on every ledger.
func (n *Network) selectAccountsLocked(q accountPage, match func(*account) bool) []*account {
	after := func(id string) bool {
		if q.cursor == "" {
			return true
		}
		if q.desc {
			return id < q.cursor
		}
		return id > q.cursor
	}
	before := func(a, b string) bool { // a comes first in the page's order
		if q.desc {
			return a > b
		}
		return a < b
	}
	best := make([]*account, 0, q.limit+1)
	for id, a := range n.accounts {
		if !after(id) || (len(best) == q.limit && !before(id, best[len(best)-1].id)) || !match(a) {
			continue
		}
		// Insert in order; the buffer is at most limit (≤ 200) long.
		i := len(best)
		for i > 0 && before(id, best[i-1].id) {
			i--
		}
		best = append(best, nil)
		copy(best[i+1:], best[i:])
		best[i] = a
		if len(best) > q.limit {
			best = best[:q.limit]
		}
	}
	return best
}

func writeAccountPage(w http.ResponseWriter, r *http.Request, q accountPage, records []any, next string) {
	base := baseURL(r) + r.URL.Path
	order, reverse := "asc", "desc"
	if q.desc {
		order, reverse = "desc", "asc"
	}
	first := q.cursor
	if len(records) > 0 {
		first = pagingToken(records[0])
	}
	mk := func(cursor, order string) string {
		v := r.URL.Query()
		v.Set("cursor", cursor)
		v.Set("limit", strconv.Itoa(q.limit))
		v.Set("order", order)
		return base + "?" + v.Encode()
	}
	var p page
	p.Embedded.Records = records
	p.Links.Self = link(mk(q.cursor, order))
	p.Links.Next = link(mk(next, order))
	p.Links.Prev = link(mk(first, reverse))
	writeJSON(w, p)
}
