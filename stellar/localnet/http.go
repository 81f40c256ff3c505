package localnet

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
)

const (
	defaultPageLimit = 10
	maxPageLimit     = 200
)

func (n *Network) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", n.getRoot)
	mux.HandleFunc("GET /fee_stats", n.getFeeStats)
	mux.HandleFunc("GET /accounts", n.getAccounts)
	mux.HandleFunc("GET /accounts/{id}", n.getAccount)
	mux.HandleFunc("GET /accounts/{id}/data/{key}", n.getAccountData)
	mux.HandleFunc("GET /accounts/{id}/payments", n.serveAccountList(paymentList))
	mux.HandleFunc("GET /accounts/{id}/transactions", n.serveAccountList(transactionList))
	mux.HandleFunc("GET /payments", n.serveList(paymentList))
	mux.HandleFunc("GET /operations/{id}", n.getOperation)
	mux.HandleFunc("GET /transactions", n.serveList(transactionList))
	mux.HandleFunc("GET /transactions/{hash}", n.getTransaction)
	mux.HandleFunc("POST /transactions", n.postTransaction)
	mux.HandleFunc("GET /ledgers", n.getLedgers)
	mux.HandleFunc("GET /ledgers/{seq}", n.getLedger)
	return n.recoverPanics(problemsForUnrouted(mux))
}

// problemsForUnrouted answers unknown paths and methods with Horizon problem documents instead of the
// ServeMux's plain text.
func problemsForUnrouted(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := r.Clone(r.Context())
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && m != r.Method {
				writeProblem(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method Not Allowed",
					"This resource does not support "+r.Method+".", nil)
				return
			}
		}
		notFound(w)
	})
}

// recoverPanics turns a handler panic into a logged 500 rather than a dropped connection. It is a last line of
// defence: no input is expected to panic.
func (n *Network) recoverPanics(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			n.log.Error("localnet: handler panicked", "panic", v, "method", r.Method, "path", r.URL.Path,
				"stack", string(debug.Stack()))
			writeProblem(w, http.StatusInternalServerError, "server_error", "Internal Server Error",
				"The server hit an internal error.", nil)
		}()
		h.ServeHTTP(w, r)
	})
}

// problem is Horizon's application/problem+json error document.
type problem struct {
	Type   string         `json:"type"`
	Title  string         `json:"title"`
	Status int            `json:"status"`
	Detail string         `json:"detail,omitempty"`
	Extras map[string]any `json:"extras,omitempty"`
}

func writeProblem(w http.ResponseWriter, status int, kind, title, detail string, extras map[string]any) {
	w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{Type: "https://stellar.org/horizon-errors/" + kind, Title: title,
		Status: status, Detail: detail, Extras: extras}) // the client has gone if this fails
}

func notFound(w http.ResponseWriter) {
	writeProblem(w, http.StatusNotFound, "not_found", "Resource Missing",
		"The resource at the url requested was not found.", nil)
}

func badRequest(w http.ResponseWriter, field, reason string) {
	writeProblem(w, http.StatusBadRequest, "bad_request", "Bad Request",
		"The request you sent was invalid in some way.",
		map[string]any{"invalid_field": field, "reason": reason})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/hal+json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v) // the client has gone if this fails
}

// baseURL is the scheme and host the client used, so that links work behind any listen address.
func baseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

func (n *Network) getRoot(w http.ResponseWriter, r *http.Request) {
	n.mu.RLock()
	root := n.renderRootLocked(baseURL(r))
	n.mu.RUnlock()
	writeJSON(w, root)
}

func (n *Network) getFeeStats(w http.ResponseWriter, _ *http.Request) {
	n.mu.RLock()
	seq := n.hist.latest().Seq
	n.mu.RUnlock()
	writeJSON(w, renderFeeStats(seq))
}

func validAccountParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if _, err := parseAddress(id); err != nil {
		badRequest(w, "account_id", "Account ID must start with `G` and contain 56 alphanum characters")
		return "", false
	}
	return id, true
}

func (n *Network) getAccount(w http.ResponseWriter, r *http.Request) {
	id, ok := validAccountParam(w, r)
	if !ok {
		return
	}
	n.mu.RLock()
	a := n.accounts[id]
	var body any
	if a != nil {
		body = n.renderAccountLocked(a, baseURL(r))
	}
	n.mu.RUnlock()
	if a == nil {
		notFound(w)
		return
	}
	writeJSON(w, body)
}

// getAccountData serves one data entry; horizonclient asks for config.memo_required (SEP-29) on every payment
// destination and expects 404 when it is absent.
func (n *Network) getAccountData(w http.ResponseWriter, r *http.Request) {
	id, ok := validAccountParam(w, r)
	if !ok {
		return
	}
	key := r.PathValue("key")
	n.mu.RLock()
	var value []byte
	found := false
	if a := n.accounts[id]; a != nil {
		value, found = a.data[key]
	}
	n.mu.RUnlock()
	if !found {
		notFound(w)
		return
	}
	writeJSON(w, map[string]string{"value": base64.StdEncoding.EncodeToString(value)})
}

func (n *Network) getOperation(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		badRequest(w, "id", "Operation ID must be a positive integer")
		return
	}
	n.mu.RLock()
	o := n.hist.ops[id]
	n.mu.RUnlock()
	if o == nil {
		notFound(w)
		return
	}
	writeJSON(w, renderOp(o, baseURL(r)))
}

func (n *Network) getTransaction(w http.ResponseWriter, r *http.Request) {
	hash := strings.ToLower(r.PathValue("hash"))
	if b, err := hex.DecodeString(hash); err != nil || len(b) != 32 {
		badRequest(w, "tx_id", "Transaction hash must be a hex-encoded, lowercase SHA-256 hash")
		return
	}
	n.mu.RLock()
	t := n.hist.txByHash[hash]
	n.mu.RUnlock()
	if t == nil {
		notFound(w)
		return
	}
	writeJSON(w, renderTx(t, baseURL(r)))
}

func (n *Network) getLedger(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 32)
	if err != nil {
		badRequest(w, "ledger_id", "Ledger sequence must be a positive integer")
		return
	}
	n.mu.RLock()
	var body any
	if l := n.hist.ledger(uint32(seq)); l != nil {
		body = renderLedger(l, baseURL(r))
	}
	n.mu.RUnlock()
	if body == nil {
		notFound(w)
		return
	}
	writeJSON(w, body)
}
